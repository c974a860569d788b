"""Arrears per village, aged as the clock moves, at the end of any past day, as JSON, CSV and XLSX."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from openpyxl import load_workbook

from coopmarket.db import Database
from coopmarket.villages import ageing
from tests.factories import make_staff
from tests.villages.builders import (
    OTHER_VILLAGE,
    SAME_STREET_VILLAGE,
    VILLAGE,
    create_contract,
    instalments,
    pay,
    set_today,
    street_staff,
    village_staff,
)

URL = "/api/v1/arrears"
BANDS = ("within_90_days_fen", "within_1_year_fen", "within_3_years_fen", "older_fen")


def bands(village: dict[str, Any]) -> tuple[int, ...]:
    return tuple(village[band] for band in BANDS)


@pytest.mark.parametrize(
    ("due_on", "as_of", "band"),
    [
        (date(2026, 1, 1), date(2026, 1, 2), "within_90_days"),
        (date(2026, 1, 1), date(2026, 4, 1), "within_90_days"),  # 90 days
        (date(2026, 1, 1), date(2026, 4, 2), "within_1_year"),  # 91 days
        (date(2026, 1, 1), date(2027, 1, 1), "within_1_year"),  # one year to the day
        (date(2026, 1, 1), date(2027, 1, 2), "within_3_years"),
        (date(2026, 1, 1), date(2029, 1, 1), "within_3_years"),
        (date(2026, 1, 1), date(2029, 1, 2), "older"),
        (date(2028, 2, 29), date(2029, 2, 28), "within_1_year"),  # a year after a leap day
        (date(2028, 2, 29), date(2029, 3, 1), "within_3_years"),
    ],
)
def test_age_bands(due_on: date, as_of: date, band: str) -> None:
    assert ageing.band(due_on, as_of) == band


def test_nothing_is_in_arrears_on_its_due_date() -> None:
    with pytest.raises(ValueError, match="not in arrears"):
        ageing.band(date(2026, 1, 1), date(2026, 1, 1))


async def test_arrears_age_as_the_clock_moves(client: AsyncTestClient[Any], db: Database) -> None:
    # Given a yearly contract from 2026 at 10,000 yuan a year, registered before its first due date
    set_today(date(2025, 12, 20))
    keeper = await village_staff(client, db)
    await create_contract(
        client, keeper, starts_on="2026-01-01", ends_on="2030-12-31", annual_rent_fen=1_000_000
    )
    district = await make_staff(client, db)

    async def aged() -> tuple[int, ...]:
        response = await client.get(URL, headers=district.headers)
        assert response.status_code == 200, response.text
        villages = response.json()["villages"]
        return bands(villages[0]) if villages else (0, 0, 0, 0)

    # Then nothing is owed until the day after the first due date, and the arrears age with the clock
    expected = [
        (date(2026, 1, 1), (0, 0, 0, 0)),
        (date(2026, 1, 2), (1_000_000, 0, 0, 0)),
        (date(2026, 4, 2), (0, 1_000_000, 0, 0)),
        (date(2027, 1, 2), (1_000_000, 0, 1_000_000, 0)),
        (date(2029, 1, 2), (1_000_000, 0, 2_000_000, 1_000_000)),
    ]
    for day, figures in expected:
        set_today(day)
        assert await aged() == figures, day


async def test_arrears_at_the_end_of_a_past_day_count_only_what_was_received_by_then(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given 50,000 yuan due on 1 January 2026, of which 20,000 received on 1 May, recorded on 15 June
    set_today(date(2026, 6, 15))
    keeper = await village_staff(client, db)
    contract = await create_contract(client, keeper)
    first = (await instalments(client, keeper, contract["id"]))[0]
    await pay(client, keeper, first["id"], 2_000_000, "2026-05-01")
    street = await street_staff(client, db)

    async def outstanding(as_of: str) -> list[tuple[str, int, int, int]]:
        response = await client.get(URL, params={"as_of": as_of}, headers=street.headers)
        assert response.status_code == 200, response.text
        return [
            (line["due_on"], line["paid_fen"], line["outstanding_fen"], line["days_overdue"])
            for village in response.json()["villages"]
            for line in village["instalments"]
        ]

    # Then on 30 April all of it was owed, from 1 May only the rest
    assert await outstanding("2026-04-30") == [("2026-01-01", 0, 5_000_000, 119)]
    assert await outstanding("2026-05-01") == [("2026-01-01", 2_000_000, 3_000_000, 120)]
    assert await outstanding("2026-01-01") == []
    future = await client.get(URL, params={"as_of": "2026-06-16"}, headers=street.headers)
    assert (future.status_code, future.json()["code"]) == (422, "date_in_future")


async def test_each_level_of_staff_sees_the_arrears_of_its_scope(
    client: AsyncTestClient[Any], db: Database
) -> None:
    set_today(date(2026, 6, 15))
    here = await village_staff(client, db)
    neighbour = await village_staff(client, db, SAME_STREET_VILLAGE)
    far = await village_staff(client, db, OTHER_VILLAGE)
    await create_contract(client, here)
    await create_contract(client, neighbour, village=SAME_STREET_VILLAGE, annual_rent_fen=1_000_000)
    await create_contract(client, far, village=OTHER_VILLAGE, annual_rent_fen=2_000_000)
    street = await street_staff(client, db)
    district = await make_staff(client, db)

    async def villages(actor: Any, **params: str) -> list[tuple[str, int]]:
        response = await client.get(URL, params=params, headers=actor.headers)
        assert response.status_code == 200, response.text
        return [(v["village_code"], v["total_fen"]) for v in response.json()["villages"]]

    assert await villages(here) == [(VILLAGE, 5_000_000)]
    assert await villages(street) == [(VILLAGE, 5_000_000), (SAME_STREET_VILLAGE, 1_000_000)]
    assert await villages(district) == [
        (VILLAGE, 5_000_000),
        (SAME_STREET_VILLAGE, 1_000_000),
        (OTHER_VILLAGE, 2_000_000),
    ]
    assert await villages(district, region_code=SAME_STREET_VILLAGE) == [(SAME_STREET_VILLAGE, 1_000_000)]
    outside = await client.get(URL, params={"region_code": OTHER_VILLAGE}, headers=street.headers)
    assert (outside.status_code, outside.json()["code"]) == (404, "region_not_found")
    body = (await client.get(URL, headers=district.headers)).json()
    assert (body["total_fen"], body["within_1_year_fen"], body["region_code"]) == (
        8_000_000,
        8_000_000,
        "370704",
    )
    assert body["villages"][0]["street_name"] == "凤凰街道"
    assert body["villages"][0]["village_name"] == "赵家村委会"


async def test_arrears_download_as_csv_and_xlsx_with_the_json_figures(
    client: AsyncTestClient[Any], db: Database
) -> None:
    set_today(date(2026, 6, 15))
    keeper = await village_staff(client, db)
    contract = await create_contract(client, keeper, counterparty={"kind": "person", "name": "孙立"})
    await create_contract(
        client, keeper, starts_on="2026-05-01", ends_on="2027-04-30", annual_rent_fen=1_200_000
    )
    street = await street_staff(client, db)
    as_json = (await client.get(URL, headers=street.headers)).json()
    # CSV: UTF-8 with a BOM, bilingual headers, one row per village
    response = await client.get(URL, params={"format": "csv"}, headers=street.headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert (
        response.headers["content-disposition"] == 'attachment; filename="arrears_370704003_2026-06-15.csv"'
    )
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:5] == [
        "街道代码 street_code",
        "街道 street_name",
        "村代码 village_code",
        "村 village_name",
        "欠款合计（分） total_fen",
    ]
    assert rows[1:] == [
        ["370704003", "凤凰街道", VILLAGE, "赵家村委会", "6200000", "1200000", "5000000", "0", "0"]
    ]
    assert as_json["total_fen"] == 6_200_000
    # XLSX: the villages and every instalment behind them
    response = await client.get(URL, params={"format": "xlsx"}, headers=street.headers)
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.content), read_only=True)
    assert workbook.sheetnames == ["villages", "instalments"]
    lines = list(workbook["instalments"].iter_rows(values_only=True))
    assert [(row[2], row[5], row[7], row[11], row[12], row[13]) for row in lines[1:]] == [
        (contract["id"], "孙立", "2026-01-01", 5_000_000, 165, "90天至1年"),
        (lines[2][2], "王建国", "2026-05-01", 1_200_000, 45, "90天以内"),
    ]
