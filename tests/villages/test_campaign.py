"""The clean-up campaign per street and village, reconciled to the fen; the disclosure's contracts summary."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from openpyxl import load_workbook

from coopmarket.db import Database
from coopmarket.villages import arrears as arrears_service
from coopmarket.villages import campaign as campaign_service
from tests.factories import make_staff, unique_uscc
from tests.villages.builders import (
    SAME_STREET_VILLAGE,
    STREET,
    VILLAGE,
    Actor,
    create_asset,
    create_contract,
    instalments,
    pay,
    set_today,
    street_staff,
    village_staff,
)

URL = "/api/v1/contract-campaign"
PERIOD = {"from": "2026-04-01", "to": "2026-06-30"}


@dataclass
class Campaign:
    keeper: Actor
    street: Actor
    c1: dict[str, Any]
    c2: dict[str, Any]
    c3: dict[str, Any]


async def _contract_on_asset(
    client: AsyncTestClient[Any], actor: Actor, village: str = VILLAGE, **terms: Any
) -> dict[str, Any]:
    asset = await create_asset(client, actor, village, status="in_use")
    return await create_contract(client, actor, asset["id"], village=village, **terms)


async def run_campaign(client: AsyncTestClient[Any], db: Database) -> Campaign:
    """A quarter of clean-up in two villages of one street (amounts in fen):

    VILLAGE, at the end of 31 March: C1 owes 5,000,000 (2026 rent), C2 owes 1,000,000 (Q1);
    C2 has no approval record (found 1 March); assets A1 (idle since 2025) and A2 (idle since March).
    In April-June: 2,000,000 of C1 received (10 April); 300,000 of C2's Q2 received on 20 March,
    recorded on 1 May, so Q2 arises with 700,000; C2's Q1 written off (10 May); C3 registered
    without approval (20 May, found) and resolved by street staff (5 June), its 1,200,000 due on
    1 June arises; A2 let from July (10 June: put back to use); C1 terminated on 20 June with its
    last day on 30 June: its 2026 rent is cut by 2,520,548 (184 of 365 days not used).
    SAME_STREET_VILLAGE: C5's first quarter of 250,000, due 1 April, arises.
    """
    set_today(date(2026, 3, 1))
    keeper = await village_staff(client, db)
    neighbour = await village_staff(client, db, SAME_STREET_VILLAGE)
    street = await street_staff(client, db)
    await create_asset(client, keeper, status="idle", status_since="2025-01-01", name="A1")
    a2 = await create_asset(
        client, keeper, status="idle", kind="building", size=300, size_unit="square_metre", name="A2"
    )
    c1 = await _contract_on_asset(client, keeper)
    c2 = await _contract_on_asset(
        client,
        keeper,
        counterparty={
            "kind": "company",
            "name": "潍坊丰收农业有限公司",
            "id_number": unique_uscc("91370704"),
        },
        schedule="quarterly",
        starts_on="2026-01-01",
        ends_on="2026-12-31",
        annual_rent_fen=4_000_000,
        approval_ref=None,
    )
    set_today(date(2026, 3, 25))
    await _contract_on_asset(
        client,
        neighbour,
        SAME_STREET_VILLAGE,
        schedule="quarterly",
        starts_on="2026-04-01",
        ends_on="2027-03-31",
        annual_rent_fen=1_000_000,
    )
    set_today(date(2026, 4, 10))
    c1_rent = (await instalments(client, keeper, c1["id"]))[0]
    assert (await pay(client, keeper, c1_rent["id"], 2_000_000, "2026-04-10")).status_code == 201
    set_today(date(2026, 5, 1))
    c2_q1, c2_q2 = (await instalments(client, keeper, c2["id"]))[:2]
    assert (await pay(client, keeper, c2_q2["id"], 300_000, "2026-03-20")).status_code == 201
    set_today(date(2026, 5, 10))
    written = await client.post(
        f"/api/v1/instalments/{c2_q1['id']}/write-off", json={"reason": "公司注销"}, headers=street.headers
    )
    assert written.status_code == 201, written.text
    set_today(date(2026, 5, 20))
    c3 = await _contract_on_asset(
        client,
        keeper,
        starts_on="2026-06-01",
        ends_on="2027-05-31",
        annual_rent_fen=1_200_000,
        approval_ref=None,
    )
    set_today(date(2026, 6, 5))
    resolved = await client.post(
        f"/api/v1/contracts/{c3['id']}/flags/no_approval_record/resolve",
        json={"resolution": "已补开村民代表会议"},
        headers=street.headers,
    )
    assert resolved.status_code == 200, resolved.text
    set_today(date(2026, 6, 10))
    await create_contract(
        client, keeper, a2["id"], starts_on="2026-07-01", ends_on="2027-06-30", annual_rent_fen=600_000
    )
    set_today(date(2026, 6, 20))
    ended = await client.post(
        f"/api/v1/contracts/{c1['id']}/termination",
        json={"terminated_on": "2026-06-30", "reason": "村集体收回统一流转"},
        headers=keeper.headers,
    )
    assert ended.status_code == 201, ended.text
    set_today(date(2026, 7, 15))
    return Campaign(keeper, street, c1, c2, c3)


FIGURES = (
    "arrears_opening_fen",
    "arrears_arisen_fen",
    "arrears_recovered_fen",
    "arrears_written_off_fen",
    "arrears_cancelled_fen",
    "arrears_closing_fen",
    "irregular_found",
    "irregular_resolved",
    "irregular_open",
    "idle_assets_opening",
    "idle_assets_put_back",
    "idle_assets_closing",
)
VILLAGE_FIGURES = (6_000_000, 1_900_000, 2_000_000, 1_000_000, 2_520_548, 2_379_452, 1, 1, 1, 2, 1, 1)
NEIGHBOUR_FIGURES = (0, 250_000, 0, 0, 0, 250_000, 0, 0, 0, 0, 0, 0)
STREET_FIGURES = tuple(a + b for a, b in zip(VILLAGE_FIGURES, NEIGHBOUR_FIGURES, strict=True))


def figures(row: dict[str, Any]) -> tuple[int, ...]:
    return tuple(row[name] for name in FIGURES)


async def test_the_campaign_shows_each_village_and_street_and_reconciles(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given a quarter of clean-up
    campaign = await run_campaign(client, db)
    # When street staff look at the quarter
    response = await client.get(URL, params=PERIOD, headers=campaign.street.headers)
    # Then their street and its two villages show each movement
    assert response.status_code == 200, response.text
    body = response.json()
    [street] = body["streets"]
    assert (street["street"]["region_code"], street["street"]["region_name"]) == (STREET, "凤凰街道")
    assert [(v["region_code"], figures(v)) for v in street["villages"]] == [
        (VILLAGE, VILLAGE_FIGURES),
        (SAME_STREET_VILLAGE, NEIGHBOUR_FIGURES),
    ]
    assert figures(street["street"]) == STREET_FIGURES
    assert figures(body["total"]) == STREET_FIGURES
    # And arrears reconcile: opening + arisen - recovered - written off - cancelled = closing
    for row in (*street["villages"], street["street"]):
        assert row["arrears_closing_fen"] == (
            row["arrears_opening_fen"]
            + row["arrears_arisen_fen"]
            - row["arrears_recovered_fen"]
            - row["arrears_written_off_fen"]
            - row["arrears_cancelled_fen"]
        )
    # And the closing arrears are what the arrears report says for that day
    arrears = (
        await client.get("/api/v1/arrears", params={"as_of": "2026-06-30"}, headers=campaign.street.headers)
    ).json()
    assert arrears["total_fen"] == STREET_FIGURES[5]


async def test_district_staff_see_every_street_and_a_village_its_own(
    client: AsyncTestClient[Any], db: Database
) -> None:
    campaign = await run_campaign(client, db)
    district = await make_staff(client, db)
    body = (await client.get(URL, params=PERIOD, headers=district.headers)).json()
    assert len(body["streets"]) == 7
    assert [s["street"]["region_code"] for s in body["streets"] if s["villages"]] == [STREET]
    assert figures(body["total"]) == STREET_FIGURES
    mine = (await client.get(URL, params=PERIOD, headers=campaign.keeper.headers)).json()
    assert [v["region_code"] for s in mine["streets"] for v in s["villages"]] == [VILLAGE]
    assert figures(mine["total"]) == VILLAGE_FIGURES


async def test_the_campaign_downloads_as_csv_and_xlsx(client: AsyncTestClient[Any], db: Database) -> None:
    campaign = await run_campaign(client, db)
    response = await client.get(URL, params={**PERIOD, "format": "csv"}, headers=campaign.street.headers)
    assert response.status_code == 200
    assert response.headers["content-disposition"] == (
        'attachment; filename="contract-campaign_370704003_2026-04-01_2026-06-30.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:5] == [
        "层级 level",
        "街道代码 street_code",
        "代码 region_code",
        "名称 region_name",
        "期初欠款（分） arrears_opening_fen",
    ]
    assert [row[:3] + row[4:] for row in rows[1:]] == [
        ["street", STREET, STREET, *map(str, STREET_FIGURES)],
        ["village", STREET, VILLAGE, *map(str, VILLAGE_FIGURES)],
        ["village", STREET, SAME_STREET_VILLAGE, *map(str, NEIGHBOUR_FIGURES)],
    ]
    response = await client.get(URL, params={**PERIOD, "format": "xlsx"}, headers=campaign.street.headers)
    sheet = load_workbook(io.BytesIO(response.content), read_only=True)["campaign"]
    values = list(sheet.iter_rows(values_only=True))
    assert [row[2] for row in values[1:]] == [STREET, VILLAGE, SAME_STREET_VILLAGE]
    assert tuple(values[2][4:]) == VILLAGE_FIGURES


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"from": "2026-07-01", "to": "2026-06-30"}, "invalid_date_range"),
        ({"from": "2020-01-01", "to": "2026-06-30"}, "invalid_date_range"),
        ({"from": "2099-01-01", "to": "2099-02-01"}, "invalid_date_range"),
    ],
)
async def test_a_period_backwards_or_over_three_years_is_refused(
    client: AsyncTestClient[Any], db: Database, params: dict[str, str], code: str
) -> None:
    district = await make_staff(client, db)
    response = await client.get(URL, params=params, headers=district.headers)
    assert (response.status_code, response.json()["code"]) == (422, code)


async def test_campaign_figures_for_the_dashboard_are_the_endpoints(
    client: AsyncTestClient[Any], db: Database
) -> None:
    await run_campaign(client, db)
    async with db.read() as conn:
        report = await campaign_service.campaign_figures(
            conn, STREET, date(2026, 4, 1), date(2026, 9, 30), today=date(2026, 6, 30)
        )
    assert report.to == date(2026, 6, 30)
    assert report.total.arrears_closing_fen == STREET_FIGURES[5]
    assert [v.region_code for v in report.streets[0].villages] == [VILLAGE, SAME_STREET_VILLAGE]


async def test_the_contracts_summary_for_a_disclosure_masks_persons_and_gives_paid_and_arrears(
    client: AsyncTestClient[Any], db: Database
) -> None:
    campaign = await run_campaign(client, db)
    async with db.read() as conn:
        summary = await arrears_service.contracts_summary(conn, VILLAGE, date(2026, 4, 1), date(2026, 6, 30))
    lines = [
        (
            line.contract_id,
            line.counterparty_kind,
            line.counterparty_name,
            str(line.starts_on),
            str(line.ends_on),
            line.annual_rent_fen,
            line.paid_to_date_fen,
            line.arrears_fen,
        )
        for line in summary.lines
    ]
    assert lines == [
        (campaign.c1["id"], "person", "王**", "2026-01-01", "2026-06-30", 5_000_000, 2_000_000, 479_452),
        (
            campaign.c2["id"],
            "company",
            "潍坊丰收农业有限公司",
            "2026-01-01",
            "2026-12-31",
            4_000_000,
            300_000,
            700_000,
        ),
        (campaign.c3["id"], "person", "王**", "2026-06-01", "2027-05-31", 1_200_000, 0, 1_200_000),
    ]
    assert (summary.paid_to_date_fen, summary.arrears_fen) == (2_300_000, 2_379_452)
    assert "id_number" not in {field for line in summary.lines for field in line.__struct_fields__}
    # The end of March, before the quarter: C3 did not exist yet and nothing of C2's Q2 was due
    async with db.read() as conn:
        march = await arrears_service.contracts_summary(conn, VILLAGE, date(2026, 3, 1), date(2026, 3, 31))
    assert [(line.contract_id, line.paid_to_date_fen, line.arrears_fen) for line in march.lines] == [
        (campaign.c1["id"], 0, 5_000_000),
        (campaign.c2["id"], 300_000, 1_000_000),
    ]
