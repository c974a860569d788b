"""Reading and writing spreadsheets (pure): encodings, row numbers, formulas, dates."""

from __future__ import annotations

import io
import zipfile
from datetime import date

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coopmarket.products import tabular


def test_rows_are_numbered_like_the_spreadsheet_blank_rows_counted_and_skipped() -> None:
    data = "Name, SKU_code \n梨,A\n\n,\n桃,B\n".encode()
    table = tabular.read_table(data, max_rows=10)
    assert table.header == ["name", "sku_code"]
    assert table.rows == [(2, ["梨", "A"]), (5, ["桃", "B"])]


def test_quoted_newlines_stay_in_one_row() -> None:
    table = tabular.read_table('name,description\n梨,"第一行\n第二行"\n桃,x\n'.encode(), max_rows=10)
    assert table.rows == [(2, ["梨", "第一行\n第二行"]), (3, ["桃", "x"])]


def test_utf8_is_preferred_and_gb18030_is_the_fallback() -> None:
    text = "name\n潍县萝卜\n"
    for encoded in (text.encode(), b"\xef\xbb\xbf" + text.encode(), text.encode("gb18030")):
        assert tabular.read_table(encoded, max_rows=10).rows == [(2, ["潍县萝卜"])]


def test_more_rows_than_allowed() -> None:
    with pytest.raises(tabular.TooManyRows):
        tabular.read_table(b"name\na\nb\nc\n", max_rows=2)
    assert len(tabular.read_table(b"name\na\n\n\nb\n", max_rows=2).rows) == 2


def test_an_empty_file_or_header_is_unreadable() -> None:
    for data in (b"", b"\n\n", b",,\n"):
        with pytest.raises(tabular.UnreadableTable):
            tabular.read_table(data, max_rows=10)


def test_xlsx_cells_keep_their_types_and_dates_are_marked() -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["name", "price_fen", "spec"])
    sheet.append(["梨", 3990, date(2024, 5, 10)])
    sheet.append([None, None, None])
    sheet.append(["桃", 12.5, True])
    buffer = io.BytesIO()
    workbook.save(buffer)
    table = tabular.read_table(buffer.getvalue(), max_rows=10)
    assert table.rows[0] == (2, ["梨", 3990, "2024-05-10T00:00:00"])
    assert isinstance(table.rows[0][1][2], tabular.DateCell)
    assert table.rows[1] == (4, ["桃", 12.5, "TRUE"])


def test_an_xlsx_that_expands_too_much_is_refused_before_parsing() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b" " * 5_000_000)
    with pytest.raises(tabular.UnreadableTable, match="expands"):
        tabular.read_table(buffer.getvalue(), max_rows=10)


def test_written_xlsx_reads_back() -> None:
    data = tabular.write_xlsx(["name", "price_fen"], [["=1+1", 3990], ["梨", 1]], sheet_title="products")
    table = tabular.read_table(data, max_rows=10)
    assert table.rows == [(2, ["=1+1", 3990]), (3, ["梨", 1])]


CELL_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20)


@given(st.lists(st.tuples(CELL_TEXT, st.integers(0, 10**9)), min_size=1, max_size=5))
def test_csv_written_then_read_gives_the_same_text_back(rows: list[tuple[str, int]]) -> None:
    # Given rows of any text (formula-looking included) and numbers (so no row is blank)
    data = tabular.write_csv(["name", "stock"], rows)
    # Then reading the file back and taking off the formula escape gives the same values
    assert data.startswith(b"\xef\xbb\xbf")
    table = tabular.read_table(data, max_rows=10)
    assert [(tabular.unescape_text(str(c[0])), int(str(c[1]))) for _, c in table.rows] == rows


def test_formula_looking_text_is_escaped_in_csv() -> None:
    data = tabular.write_csv(["name"], [["=HYPERLINK(1)"], ["-5斤"], ["@x"], ["普通"]])
    assert data.decode("utf-8-sig").splitlines() == ["name", "'=HYPERLINK(1)", "'-5斤", "'@x", "普通"]
    assert tabular.unescape_text("'=x") == "=x"
    assert tabular.unescape_text("'普通") == "'普通"
