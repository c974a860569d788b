"""The collective-income report as a time series (``interval=month|quarter``), read from the
monthly rollup for whole months and from the postings at the edges."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from litestar.testing import AsyncTestClient
from openpyxl import load_workbook

from coopmarket.db import Database
from tests.factories import make_staff
from tests.ledger.builders import post_income, settle_part
from tests.reports.builders import COOP, STREET_A, STREET_B, V1, V3

URL = "/api/v1/reports/collective-income"


async def _income(db: Database) -> None:
    # 2026-03-31 23:30 Shanghai (15:30 UTC): March; 2026-04-01 00:30 Shanghai (2026-03-31 16:30 UTC): April
    await post_income(db, V1, "subsidy_income", 1_000, occurred_at=datetime(2026, 3, 31, 15, 30, tzinfo=UTC))
    await post_income(db, V1, "subsidy_income", 20_000, occurred_at=datetime(2026, 3, 31, 16, 30, tzinfo=UTC))
    await post_income(db, V3, "contracting_income", 300_000, occurred_at=datetime(2026, 5, 10, 4, tzinfo=UTC))
    # 10% of 1,000,000 with a 3% fee: 100,000 to V1, on 2026-07-15
    await settle_part(
        db,
        cooperative_id=COOP,
        village_code=V1,
        subtotal_fen=1_000_000,
        occurred_at=datetime(2026, 7, 15, 4, tzinfo=UTC),
    )


async def test_a_quarterly_series_by_street_splits_the_range_by_local_quarter(
    client: AsyncTestClient[Any], db: Database
) -> None:
    await _income(db)
    staff = await make_staff(client, db)
    params = {"from": "2026-03-15", "to": "2026-07-20", "group_by": "street", "interval": "quarter"}
    response = await client.get(URL, params=params, headers=staff.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["interval"] == "quarter"
    assert body["total_fen"] == 421_000
    periods = [(p["period"], p["from"], p["to"], p["total_fen"]) for p in body["periods"]]
    assert periods == [
        ("2026-Q1", "2026-03-15", "2026-03-31", 1_000),
        ("2026-Q2", "2026-04-01", "2026-06-30", 320_000),
        ("2026-Q3", "2026-07-01", "2026-07-20", 100_000),
    ]
    q2 = {i["region_code"]: i["total_fen"] for i in body["periods"][1]["items"] if i["total_fen"]}
    assert q2 == {STREET_A: 20_000, STREET_B: 300_000}
    whole = {i["region_code"]: i["total_fen"] for i in body["items"] if i["total_fen"]}
    assert whole == {STREET_A: 121_000, STREET_B: 300_000}


async def test_a_monthly_series_of_a_village_report_for_street_staff(
    client: AsyncTestClient[Any], db: Database
) -> None:
    await _income(db)
    staff = await make_staff(client, db, role="street_staff", region_code=STREET_A)
    params = {"from": "2026-03-01", "to": "2026-05-31", "interval": "month"}
    body = (await client.get(URL, params=params, headers=staff.headers)).json()
    months = {
        p["period"]: {i["region_code"]: i["total_fen"] for i in p["items"] if i["total_fen"]}
        for p in body["periods"]
    }
    # Street B's village is outside the caller's street: not in any period
    assert months == {"2026-03": {V1: 1_000}, "2026-04": {V1: 20_000}, "2026-05": {}}
    # Without interval the answer keeps the documented fields only
    plain = (
        await client.get(URL, params={"from": "2026-03-01", "to": "2026-05-31"}, headers=staff.headers)
    ).json()
    assert "periods" not in plain and "interval" not in plain


async def test_series_exports_carry_a_period_column_with_the_json_figures(
    client: AsyncTestClient[Any], db: Database
) -> None:
    await _income(db)
    staff = await make_staff(client, db)
    params = {"from": "2026-03-01", "to": "2026-07-31", "group_by": "district", "interval": "month"}
    body = (await client.get(URL, params=params, headers=staff.headers)).json()
    expected = [
        [p["period"], p["items"][0]["region_code"], p["items"][0]["total_fen"]] for p in body["periods"]
    ]
    assert [row[2] for row in expected] == [1_000, 20_000, 300_000, 0, 100_000]
    response = await client.get(URL, params={**params, "format": "csv"}, headers=staff.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="collective-income_370704_district_2026-03-01_2026-07-31_by-month.csv"'
    )
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["period", "region_code", "region_name", "total_fen"]
    assert [[r[0], r[1], int(r[3])] for r in rows[1:]] == expected
    zh = {**staff.headers, "Accept-Language": "zh"}
    response = await client.get(URL, params={**params, "format": "xlsx"}, headers=zh)
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).active
    xrows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert xrows[0][0] == "期间"
    assert [[r[0], r[1], r[3]] for r in xrows[1:]] == expected


async def test_an_unknown_interval_is_refused(client: AsyncTestClient[Any], db: Database) -> None:
    staff = await make_staff(client, db)
    response = await client.get(
        URL, params={"from": "2026-03-01", "to": "2026-03-31", "interval": "week"}, headers=staff.headers
    )
    assert response.status_code == 422
