"""CSV and XLSX renderings of a collective-income report, with the JSON items' columns. Pure."""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import Workbook

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


def table_rows(report: CollectiveIncomeReport) -> list[list[Any]]:
    """One row per item in ``COLUMNS`` order (amounts in fen as integers, ``total_yuan`` exact)."""
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
                item.band,
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


def to_csv(report: CollectiveIncomeReport) -> bytes:
    """UTF-8 CSV with a byte-order mark, so that Excel shows the Chinese names."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    writer.writerows(table_rows(report))
    return (UTF8_BOM + buffer.getvalue()).encode("utf-8")


def to_xlsx(report: CollectiveIncomeReport) -> bytes:
    """One worksheet with a header row and one row per item."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("collective_income")
    sheet.append(list(COLUMNS))
    for row in table_rows(report):
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
