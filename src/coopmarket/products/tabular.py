"""Reading and writing product spreadsheets: CSV and XLSX, as Excel and WPS make and open them.

Pure (no database): bytes in, rows out, and back. Reading:

- XLSX (a ZIP file): the first worksheet, through openpyxl in read-only mode with cached formula
  values (a formula without one reads as empty). defusedxml is installed, so openpyxl refuses XML
  entity tricks; the ZIP's uncompressed size is capped before anything is parsed.
- CSV: UTF-8, with or without a byte-order mark; a file that is not valid UTF-8 is read as
  GB18030 (the superset of GBK/GB2312 that Excel on Chinese Windows writes for "CSV (逗号分隔)").
  A file that is neither is refused rather than guessed at.

Row numbers are the spreadsheet's: the header is row 1, and blank rows count (and are skipped).

Writing: CSV in UTF-8 with a byte-order mark (so Excel shows Chinese correctly) and CRLF line ends;
text that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR first) is
prefixed with ``'``, which reading takes off again. XLSX cells hold text as text (never formulas)
and numbers as numbers.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import openpyxl
from openpyxl.cell import WriteOnlyCell

Cell = str | int | float | None

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"

_ZIP_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0"  # Excel 97-2003 .xls
_UTF8_BOM = b"\xef\xbb\xbf"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# An XLSX may expand this many times its own size when unzipped, and no more.
XLSX_EXPANSION_LIMIT = 20


class UnreadableTable(Exception):
    """The bytes are not a CSV or XLSX table this module can read; the message says why."""


@dataclass(frozen=True, slots=True)
class Table:
    header: list[str]
    # (row number, cells) of each non-blank data row; the header is row 1.
    rows: list[tuple[int, list[Cell]]]


def _blank(cells: Sequence[Cell]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def read_table(data: bytes, *, max_rows: int) -> Table:
    """The header and data rows of a CSV or XLSX file. Raises ``UnreadableTable``; a file with more
    than ``max_rows`` data rows raises ``TooManyRows``."""
    if data.startswith(_ZIP_MAGIC):
        raw_rows: Iterable[Sequence[Any]] = _xlsx_rows(data)
    elif data.startswith(_OLE2_MAGIC):
        raise UnreadableTable("Excel 97-2003 (.xls) files are not read; save the file as .xlsx or CSV.")
    else:
        raw_rows = _csv_rows(data)
    header: list[str] | None = None
    rows: list[tuple[int, list[Cell]]] = []
    for number, raw in enumerate(raw_rows, start=1):
        cells = [_cell(value) for value in raw]
        if number == 1:
            header = [_header_name(c) for c in cells]
            continue
        if _blank(cells):
            continue
        if len(rows) >= max_rows:
            raise TooManyRows(max_rows)
        rows.append((number, cells))
    if header is None or not any(header):
        raise UnreadableTable("The file is empty: row 1 must hold the column names.")
    return Table(header=header, rows=rows)


class TooManyRows(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} data rows")
        self.limit = limit


def _header_name(cell: Cell) -> str:
    return "" if cell is None else str(cell).strip().lstrip("\ufeff").strip().lower()


def _cell(value: Any) -> Cell:
    if value is None or isinstance(value, str | int | float):
        return value if not isinstance(value, bool) else str(value).upper()
    if isinstance(value, datetime | date | time):
        # Excel turned the text into a date ("5-10" becomes 10 May); say so rather than guess.
        return DateCell(value.isoformat())
    return str(value)


class DateCell(str):
    """Text of a cell the spreadsheet stored as a date or time (usually by accident)."""


def _decode_csv(data: bytes) -> str:
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise UnreadableTable("The CSV file is neither UTF-8 nor GB18030 (GBK) text.") from None


def _csv_rows(data: bytes) -> Iterable[list[str]]:
    text = _decode_csv(data)
    if "\x00" in text:
        raise UnreadableTable("The file is not a CSV or XLSX table.")
    try:
        yield from csv.reader(io.StringIO(text, newline=""))
    except csv.Error as exc:
        raise UnreadableTable(f"The CSV file cannot be read: {exc}.") from None


def _xlsx_rows(data: bytes) -> Iterable[tuple[Any, ...]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise UnreadableTable("The file looks like XLSX but is not a valid one.") from None
    if expanded > XLSX_EXPANSION_LIMIT * max(len(data), 1):
        raise UnreadableTable("The XLSX file expands to far more than its size; it is refused.")
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise UnreadableTable("The XLSX file cannot be read.") from exc
    try:
        if not workbook.worksheets:
            raise UnreadableTable("The XLSX file has no worksheet.")
        sheet = workbook.worksheets[0]
        try:
            yield from sheet.iter_rows(min_row=1, values_only=True)
        except UnreadableTable:
            raise
        except Exception as exc:
            raise UnreadableTable("The XLSX file cannot be read.") from exc
    finally:
        workbook.close()


def unescape_text(text: str) -> str:
    """Text as written before ``write_csv`` protected it: one leading ``'`` comes off when a formula
    character or another ``'`` follows it."""
    if len(text) > 1 and text[0] == "'" and (text[1] in _FORMULA_STARTS or text[1] == "'"):
        return text[1:]
    return text


def _escape_text(text: str) -> str:
    """A leading ``'`` for text a spreadsheet would run as a formula, and for text that starts with
    ``'`` itself (``'=`` must not read back as ``=``), so that ``unescape_text`` gives it back."""
    if text.startswith((*_FORMULA_STARTS, "'")):
        return "'" + text
    return text


def write_csv(header: Sequence[str], rows: Iterable[Sequence[str | int]]) -> bytes:
    """UTF-8 CSV with a byte-order mark; text that would run as a formula is prefixed with ``'``."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_escape_text(v) if isinstance(v, str) else v for v in row])
    return _UTF8_BOM + out.getvalue().encode("utf-8")


def write_xlsx(header: Sequence[str], rows: Iterable[Sequence[str | int]], *, sheet_title: str) -> bytes:
    """One worksheet: the header, then the rows; text cells are text even when they start with ``=``."""
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet(title=sheet_title)
    sheet.append(list(header))
    for row in rows:
        cells: list[Any] = []
        for value in row:
            if isinstance(value, str):
                cell = WriteOnlyCell(sheet, value=value)
                cell.data_type = "s"  # openpyxl would take a leading "=" for a formula
                cells.append(cell)
            else:
                cells.append(value)
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


__all__ = [
    "CSV_MEDIA_TYPE",
    "XLSX_MEDIA_TYPE",
    "Cell",
    "DateCell",
    "Table",
    "TooManyRows",
    "UnreadableTable",
    "read_table",
    "unescape_text",
    "write_csv",
    "write_xlsx",
]
