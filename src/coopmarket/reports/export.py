"""CSV and XLSX renderings of a collective-income report, with the JSON items' columns. Pure."""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import Workbook

from coopmarket.core import i18n
from coopmarket.core.money import format_yuan
from coopmarket.ledger.posting import INCOME_CATEGORIES
from coopmarket.reports.schemas import CollectiveIncomeReport

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


def headers(language: str = i18n.ENGLISH) -> list[str]:
    """The header row: the JSON keys in English, their Chinese labels in ``zh`` (core/i18n.py)."""
    return [i18n.label(language, "column", column) for column in COLUMNS]


def table_rows(report: CollectiveIncomeReport, language: str = i18n.ENGLISH) -> list[list[Any]]:
    """One row per item in ``COLUMNS`` order (amounts in fen as integers, ``total_yuan`` exact);
    the band by its label in ``language``."""
    rows: list[list[Any]] = []
    for item in report.items:
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
    """``collective-income_{region}_{group_by}_{from}_{to}.{extension}`` (ASCII only)."""
    return (
        f"collective-income_{report.region_code}_{report.group_by}_"
        f"{report.from_.isoformat()}_{report.to.isoformat()}.{extension}"
    )


def to_csv(report: CollectiveIncomeReport, language: str = i18n.ENGLISH) -> bytes:
    """UTF-8 CSV with a byte-order mark, so that Excel shows the Chinese names."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers(language))
    writer.writerows(table_rows(report, language))
    return (UTF8_BOM + buffer.getvalue()).encode("utf-8")


def to_xlsx(report: CollectiveIncomeReport, language: str = i18n.ENGLISH) -> bytes:
    """One worksheet with a header row and one row per item."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("collective_income")
    sheet.append(headers(language))
    for row in table_rows(report, language):
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
