"""CSV and XLSX renderings of the arrears and the campaign (the JSON answers' figures). Pure.

CSV is UTF-8 with a byte-order mark (Excel then shows the Chinese names); XLSX is written in
openpyxl's write-only mode. Headers carry the Chinese label and the JSON key (``期初欠款（分）
arrears_opening_fen``), so a clerk can read the sheet and a program can match the columns.
Amounts stay integer fen, as in JSON.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from openpyxl import Workbook

from coopmarket.villages.ageing import BAND_NAMES
from coopmarket.villages.schemas import ArrearsReport, CampaignReport

CSV_MEDIA_TYPE = "text/csv"  # Litestar adds "; charset=utf-8" to text types
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UTF8_BOM = "\ufeff"

ARREARS_VILLAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("street_code", "街道代码"),
    ("street_name", "街道"),
    ("village_code", "村代码"),
    ("village_name", "村"),
    ("total_fen", "欠款合计（分）"),
    ("within_90_days_fen", "90天以内（分）"),
    ("within_1_year_fen", "90天至1年（分）"),
    ("within_3_years_fen", "1至3年（分）"),
    ("older_fen", "3年以上（分）"),
)
ARREARS_LINE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("village_code", "村代码"),
    ("village_name", "村"),
    ("contract_id", "合同"),
    ("asset_name", "资产"),
    ("counterparty_kind", "承包方类型"),
    ("counterparty_name", "承包方"),
    ("instalment_id", "应收款项"),
    ("due_on", "应收日期"),
    ("amount_fen", "应收（分）"),
    ("paid_fen", "已收（分）"),
    ("written_off_fen", "核销（分）"),
    ("outstanding_fen", "欠款（分）"),
    ("days_overdue", "逾期天数"),
    ("band", "账龄"),
)
CAMPAIGN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("level", "层级"),
    ("street_code", "街道代码"),
    ("region_code", "代码"),
    ("region_name", "名称"),
    ("arrears_opening_fen", "期初欠款（分）"),
    ("arrears_arisen_fen", "新增欠款（分）"),
    ("arrears_recovered_fen", "清收（分）"),
    ("arrears_written_off_fen", "核销（分）"),
    ("arrears_cancelled_fen", "合同变更终止减免（分）"),
    ("arrears_closing_fen", "期末欠款（分）"),
    ("irregular_found", "发现不规范合同"),
    ("irregular_resolved", "整改完成"),
    ("irregular_open", "尚未整改"),
    ("idle_assets_opening", "期初闲置资产"),
    ("idle_assets_put_back", "盘活闲置资产"),
    ("idle_assets_closing", "期末闲置资产"),
)


def _header(columns: Sequence[tuple[str, str]]) -> list[str]:
    return [f"{label} {key}" for key, label in columns]


def arrears_village_rows(report: ArrearsReport) -> list[list[Any]]:
    return [[getattr(village, key) for key, _ in ARREARS_VILLAGE_COLUMNS] for village in report.villages]


def arrears_line_rows(report: ArrearsReport) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for village in report.villages:
        for line in village.instalments:
            values = {"village_code": village.village_code, "village_name": village.village_name}
            row = [values[key] if key in values else getattr(line, key) for key, _ in ARREARS_LINE_COLUMNS]
            row[ARREARS_LINE_COLUMNS.index(("band", "账龄"))] = BAND_NAMES[line.band]
            row[ARREARS_LINE_COLUMNS.index(("due_on", "应收日期"))] = line.due_on.isoformat()
            rows.append(row)
    return rows


def campaign_rows(report: CampaignReport) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for street in report.streets:
        for figures in (street.street, *street.villages):
            values = {"street_code": street.street.region_code}
            rows.append(
                [values[key] if key in values else getattr(figures, key) for key, _ in CAMPAIGN_COLUMNS]
            )
    return rows


def _csv(columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(_header(columns))
    writer.writerows(rows)
    return (UTF8_BOM + buffer.getvalue()).encode("utf-8")


def _xlsx(sheets: Sequence[tuple[str, Sequence[tuple[str, str]], Iterable[Sequence[Any]]]]) -> bytes:
    workbook = Workbook(write_only=True)
    for title, columns, rows in sheets:
        sheet = workbook.create_sheet(title)
        sheet.append(_header(columns))
        for row in rows:
            sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def arrears_csv(report: ArrearsReport) -> bytes:
    """One row per village with arrears, by age band."""
    return _csv(ARREARS_VILLAGE_COLUMNS, arrears_village_rows(report))


def arrears_xlsx(report: ArrearsReport) -> bytes:
    """Sheet ``villages`` (as the CSV) and sheet ``instalments`` (every instalment behind them)."""
    return _xlsx(
        [
            ("villages", ARREARS_VILLAGE_COLUMNS, arrears_village_rows(report)),
            ("instalments", ARREARS_LINE_COLUMNS, arrears_line_rows(report)),
        ]
    )


def campaign_csv(report: CampaignReport) -> bytes:
    """Each street, then its villages, one row each."""
    return _csv(CAMPAIGN_COLUMNS, campaign_rows(report))


def campaign_xlsx(report: CampaignReport) -> bytes:
    return _xlsx([("campaign", CAMPAIGN_COLUMNS, campaign_rows(report))])


def arrears_filename(report: ArrearsReport, extension: str) -> str:
    return f"arrears_{report.region_code}_{report.as_of.isoformat()}.{extension}"


def campaign_filename(report: CampaignReport, extension: str) -> str:
    return f"contract-campaign_{report.region_code}_{report.from_.isoformat()}_{report.to.isoformat()}.{extension}"
