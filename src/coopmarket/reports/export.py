"""CSV and XLSX renderings of a collective-income report, with the JSON items' columns. Pure."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from openpyxl import Workbook

from coopmarket.core import i18n
from coopmarket.core.money import format_yuan
from coopmarket.ledger.posting import INCOME_CATEGORIES
from coopmarket.reports.schemas import CollectiveIncomeItem, CollectiveIncomeReport, CollectiveIncomeSeries

COLUMNS: tuple[str, ...] = (
    "region_code",
    "region_name",
    "total_fen",
    "total_yuan",
    *INCOME_CATEGORIES,
    "band",
    "rank",
    "related_party_fen",
)
CSV_MEDIA_TYPE = "text/csv"  # Litestar adds "; charset=utf-8" to text types
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UTF8_BOM = "\ufeff"


def _columns(report: CollectiveIncomeReport) -> tuple[str, ...]:
    return ("period", *COLUMNS) if isinstance(report, CollectiveIncomeSeries) else COLUMNS


def headers(language: str = i18n.ENGLISH, report: CollectiveIncomeReport | None = None) -> list[str]:
    """The header row: the JSON keys in English, their Chinese labels in ``zh`` (core/i18n.py);
    a time series (``interval``) starts with a ``period`` column."""
    columns = _columns(report) if report is not None else COLUMNS
    return [i18n.label(language, "column", column) for column in columns]


def table_rows(report: CollectiveIncomeReport, language: str = i18n.ENGLISH) -> list[list[Any]]:
    """One row per item in ``COLUMNS`` order (amounts in fen as integers, ``total_yuan`` exact);
    the band by its label in ``language``. A time series: one row per period and item, the period
    (``2026-04``, ``2026-Q2``) first."""
    if isinstance(report, CollectiveIncomeSeries):
        return [
            [period.period, *row]
            for period in report.periods
            for row in _item_rows(period.items, language)
        ]
    return _item_rows(report.items, language)


def _item_rows(items: list[CollectiveIncomeItem], language: str) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for item in items:
        by_category = [getattr(item.by_category, category) for category in INCOME_CATEGORIES]
        rows.append(
            [
                item.region_code,
                item.region_name,
                item.total_fen,
                format_yuan(item.total_fen),
                *by_category,
                i18n.label(language, "band", item.band),
                item.rank,
                item.related_party_fen,
            ]
        )
    return rows


def filename(report: CollectiveIncomeReport, extension: str) -> str:
    """``collective-income_{region}_{group_by}_{from}_{to}.{extension}`` (ASCII only); a time
    series ends ``…_{to}_by-{interval}.{extension}``."""
    series = f"_by-{report.interval}" if isinstance(report, CollectiveIncomeSeries) else ""
    return (
        f"collective-income_{report.region_code}_{report.group_by}_"
        f"{report.from_.isoformat()}_{report.to.isoformat()}{series}.{extension}"
    )


def iter_csv(report: CollectiveIncomeReport, language: str = i18n.ENGLISH, chunk_rows: int = 500) -> Iterator[bytes]:
    """UTF-8 CSV with a byte-order mark (so that Excel shows the Chinese names), in chunks of
    ``chunk_rows`` rows, for a streamed answer."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write(UTF8_BOM)
    writer.writerow(headers(language, report))
    for index, row in enumerate(table_rows(report, language), start=1):
        writer.writerow(row)
        if index % chunk_rows == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def to_csv(report: CollectiveIncomeReport, language: str = i18n.ENGLISH) -> bytes:
    """The whole of ``iter_csv`` at once."""
    return b"".join(iter_csv(report, language))


def to_xlsx(report: CollectiveIncomeReport, language: str = i18n.ENGLISH) -> bytes:
    """One worksheet with a header row and one row per item."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("collective_income")
    sheet.append(headers(language, report))
    for row in table_rows(report, language):
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
