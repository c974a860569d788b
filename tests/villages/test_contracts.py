"""Contracts: registered with their schedule and findings, never edited in place, masked outside the village."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from coopmarket.db import Database
from tests.factories import approved_cooperative, make_staff, unique_uscc
from tests.villages.builders import (
    APPROVAL,
    TODAY,
    VILLAGE,
    contract_payload,
    create_asset,
    create_contract,
    instalments,
    pay,
    resident_id,
    set_today,
    street_staff,
    village_staff,
)


def schedule_of(items: list[dict[str, Any]]) -> list[tuple[str, int, int, str]]:
    return [(i["due_on"], i["amount_fen"], i["paid_fen"], i["status"]) for i in items]


async def test_a_contract_produces_its_instalments_and_lets_the_asset(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given an idle 50-mu plot of the village
    set_today(TODAY)
    keeper = await village_staff(client, db)
    asset = await create_asset(client, keeper, status="idle")
    # When its village staff let it for 2026-2028 at 50,000 yuan a year, paid half-yearly
    response = await client.post(
        f"/api/v1/villages/{VILLAGE}/contracts",
        json=contract_payload(asset["id"], schedule="half_yearly"),
        headers=keeper.headers,
    )
    # Then the contract is registered, clean, with six half-yearly instalments of 25,000 yuan
    assert response.status_code == 201, response.text
    contract = response.json()
    assert contract["flags"] == []
    assert (contract["entry_kind"], contract["state"], contract["total_rent_fen"]) == (
        "original",
        "in_force",
        15_000_000,
    )
    assert schedule_of(await instalments(client, keeper, contract["id"])) == [
        ("2026-01-01", 2_500_000, 0, "in_arrears"),
        ("2026-07-01", 2_500_000, 0, "due"),
        ("2027-01-01", 2_500_000, 0, "due"),
        ("2027-07-01", 2_500_000, 0, "due"),
        ("2028-01-01", 2_500_000, 0, "due"),
        ("2028-07-01", 2_500_000, 0, "due"),
    ]
    assert (contract["paid_fen"], contract["in_arrears_fen"], contract["outstanding_fen"]) == (
        0,
        2_500_000,
        15_000_000,
    )
    # And the asset is now contracted
    assets = (await client.get(f"/api/v1/villages/{VILLAGE}/assets", headers=keeper.headers)).json()["items"]
    assert [(a["id"], a["status"], a["status_since"]) for a in assets] == [
        (asset["id"], "contracted", "2026-06-15")
    ]


async def test_identity_numbers_are_shown_only_to_the_village_staff_and_masked_in_the_audit_log(
    client: AsyncTestClient[Any], db: Database
) -> None:
    keeper = await village_staff(client, db)
    number = resident_id("19750312")
    contract = await create_contract(
        client, keeper, counterparty={"kind": "household", "name": "李德福", "id_number": number.lower()}
    )
    masked = number[:4] + "*" * 10 + number[-4:]
    street = await street_staff(client, db)
    district = await make_staff(client, db)
    # The village's own staff see the number in full (normalised), everyone else masked
    mine = (await client.get(f"/api/v1/contracts/{contract['id']}", headers=keeper.headers)).json()
    assert mine["counterparty"] == {
        "kind": "household",
        "name": "李德福",
        "id_number": number,
        "cooperative_id": None,
    }
    for actor in (street, district):
        seen = (await client.get(f"/api/v1/contracts/{contract['id']}", headers=actor.headers)).json()
        assert seen["counterparty"]["id_number"] == masked
        listed = (await client.get(f"/api/v1/villages/{VILLAGE}/contracts", headers=actor.headers)).json()
        assert [c["counterparty"]["id_number"] for c in listed["items"]] == [masked]
    # The audit log (read by street staff) keeps only the masked number
    async with db.read() as conn:
        after = (
            await conn.execute(
                text("SELECT after FROM audit_entry WHERE entity_id = :id"), {"id": contract["id"]}
            )
        ).scalar_one()
    assert masked in after and number not in after


async def test_a_counterparty_without_identity_number_is_stored_without_one(
    client: AsyncTestClient[Any], db: Database
) -> None:
    keeper = await village_staff(client, db)
    contract = await create_contract(client, keeper, counterparty={"kind": "person", "name": "赵四"})
    assert contract["counterparty"] == {
        "kind": "person",
        "name": "赵四",
        "id_number": None,
        "cooperative_id": None,
    }


@pytest.mark.parametrize(
    ("counterparty", "code", "field"),
    [
        (
            {"kind": "person", "name": "王五", "id_number": "370704198001011233"},
            "invalid_identity_number",
            "counterparty.id_number",
        ),
        (
            {"kind": "company", "name": "潍坊某农业公司", "id_number": "91370704MA3C000000"},
            "invalid_uscc",
            "counterparty.id_number",
        ),
        (
            {"kind": "cooperative", "name": "某合作社", "cooperative_id": "01hnosuchcooperative000000"},
            "unknown_cooperative",
            "counterparty.cooperative_id",
        ),
        ({"kind": "cooperative", "name": "某合作社"}, "invalid_counterparty", "counterparty.cooperative_id"),
        (
            {"kind": "person", "name": "王五", "cooperative_id": "01hnosuchcooperative000000"},
            "invalid_counterparty",
            "counterparty.cooperative_id",
        ),
    ],
)
async def test_invalid_counterparties_are_refused_and_nothing_is_registered(
    client: AsyncTestClient[Any], db: Database, counterparty: dict[str, Any], code: str, field: str
) -> None:
    keeper = await village_staff(client, db)
    asset = await create_asset(client, keeper)
    response = await client.post(
        f"/api/v1/villages/{VILLAGE}/contracts",
        json=contract_payload(asset["id"], counterparty=counterparty),
        headers=keeper.headers,
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    assert [e["field"] for e in response.json()["errors"]] == [field]
    listed = (await client.get(f"/api/v1/villages/{VILLAGE}/contracts", headers=keeper.headers)).json()
    assert listed["items"] == []


async def test_a_company_and_a_cooperative_of_the_platform_may_take_assets(
    client: AsyncTestClient[Any], db: Database
) -> None:
    keeper = await village_staff(client, db)
    code = unique_uscc("91370704")
    company = await create_contract(
        client, keeper, counterparty={"kind": "company", "name": "潍坊绿源农业有限公司", "id_number": code}
    )
    assert company["counterparty"]["id_number"] == code
    district = await make_staff(client, db)
    _, cooperative = await approved_cooperative(client, district)
    taken = await create_contract(
        client,
        keeper,
        counterparty={
            "kind": "cooperative",
            "name": cooperative["name"],
            "cooperative_id": cooperative["id"],
        },
    )
    assert taken["counterparty"] == {
        "kind": "cooperative",
        "name": cooperative["name"],
        "id_number": None,
        "cooperative_id": cooperative["id"],
    }


async def test_an_asset_of_another_village_cannot_be_let(client: AsyncTestClient[Any], db: Database) -> None:
    keeper = await village_staff(client, db)
    other = await village_staff(client, db, "370704003201")
    foreign = await create_asset(client, other, "370704003201")
    response = await client.post(
        f"/api/v1/villages/{VILLAGE}/contracts", json=contract_payload(foreign["id"]), headers=keeper.headers
    )
    assert (response.status_code, response.json()["code"]) == (422, "unknown_asset")


async def test_a_term_ending_before_it_starts_is_refused(client: AsyncTestClient[Any], db: Database) -> None:
    keeper = await village_staff(client, db)
    asset = await create_asset(client, keeper)
    response = await client.post(
        f"/api/v1/villages/{VILLAGE}/contracts",
        json=contract_payload(asset["id"], starts_on="2027-01-01", ends_on="2026-12-31"),
        headers=keeper.headers,
    )
    assert (response.status_code, response.json()["code"]) == (422, "invalid_term")


async def test_a_contracts_terms_cannot_be_edited_in_the_database(
    client: AsyncTestClient[Any], db: Database
) -> None:
    keeper = await village_staff(client, db)
    contract = await create_contract(client, keeper)
    for statement in (
        "UPDATE village_contract SET annual_rent_fen = 1 WHERE id = :id",
        "DELETE FROM village_contract WHERE id = :id",
    ):
        with pytest.raises((IntegrityError, DBAPIError)):
            async with db.session() as session:
                await session.execute(text(statement), {"id": contract["id"]})
                await session.commit()
    async with db.read() as conn:
        rent = (await conn.execute(text("SELECT annual_rent_fen FROM village_contract"))).scalar_one()
    assert rent == 5_000_000


# --- amendments, renewals, terminations ------------------------------------------------------------


async def test_an_amendment_is_a_new_entry_from_its_date_and_the_old_one_ends_the_day_before(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given a 2026-2028 contract paid yearly, its 2026 rent received
    set_today(TODAY)
    keeper = await village_staff(client, db)
    original = await create_contract(client, keeper)
    first = (await instalments(client, keeper, original["id"]))[0]
    assert (await pay(client, keeper, first["id"], 5_000_000, "2026-01-05")).status_code == 201
    # When the rent is raised from 2027 by an amendment approved by the village meeting
    response = await client.post(
        f"/api/v1/contracts/{original['id']}/amendments",
        json={
            "effective_on": "2027-01-01",
            "ends_on": "2028-12-31",
            "annual_rent_fen": 6_000_000,
            "schedule": "yearly",
            "document_ref": "坊凤赵合补〔2026〕1号",
            "approval_ref": APPROVAL,
            "reason": "按评估价调整租金",
        },
        headers=keeper.headers,
    )
    # Then the amendment is a new entry referencing the original, with its own schedule
    assert response.status_code == 201, response.text
    amendment = response.json()
    assert (amendment["entry_kind"], amendment["references_id"], amendment["lineage_id"]) == (
        "amendment",
        original["id"],
        original["id"],
    )
    assert schedule_of(await instalments(client, keeper, amendment["id"])) == [
        ("2027-01-01", 6_000_000, 0, "due"),
        ("2028-01-01", 6_000_000, 0, "due"),
    ]
    # And the original keeps its terms, ends on 2026-12-31 and only its paid year remains
    old = (await client.get(f"/api/v1/contracts/{original['id']}", headers=keeper.headers)).json()
    assert (old["ends_on"], old["effective_until"], old["annual_rent_fen"], old["state"]) == (
        "2028-12-31",
        "2026-12-31",
        5_000_000,
        "superseded",
    )
    assert old["superseded_by_id"] == amendment["id"]
    assert schedule_of(await instalments(client, keeper, original["id"])) == [
        ("2026-01-01", 5_000_000, 5_000_000, "paid")
    ]
    # And amending the original again is refused: act on the amendment
    again = await client.post(
        f"/api/v1/contracts/{original['id']}/amendments",
        json={
            "effective_on": "2027-01-01",
            "ends_on": "2028-12-31",
            "annual_rent_fen": 1,
            "schedule": "single",
            "document_ref": "x",
            "reason": "y",
        },
        headers=keeper.headers,
    )
    assert (again.status_code, again.json()["code"]) == (409, "contract_not_current")


async def test_an_amendment_cannot_reach_back_into_a_period_already_paid(
    client: AsyncTestClient[Any], db: Database
) -> None:
    set_today(TODAY)
    keeper = await village_staff(client, db)
    contract = await create_contract(client, keeper)
    first = (await instalments(client, keeper, contract["id"]))[0]
    await pay(client, keeper, first["id"], 1_000_000, "2026-02-01")
    response = await client.post(
        f"/api/v1/contracts/{contract['id']}/amendments",
        json={
            "effective_on": "2026-07-01",
            "ends_on": "2028-12-31",
            "annual_rent_fen": 6_000_000,
            "schedule": "yearly",
            "document_ref": "补1",
            "reason": "调租",
        },
        headers=keeper.headers,
    )
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "amendment_overlaps_settled_period"
    assert response.json()["earliest_effective_on"] == "2027-01-01"
    unchanged = (await client.get(f"/api/v1/contracts/{contract['id']}", headers=keeper.headers)).json()
    assert (unchanged["state"], unchanged["superseded_by_id"], unchanged["effective_until"]) == (
        "in_force",
        None,
        "2028-12-31",
    )


async def test_early_termination_cuts_the_rent_after_the_last_day_pro_rata_and_frees_the_asset(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given a 2026-2028 contract at 36,500 yuan a year with nothing paid, on 15 June 2026
    set_today(TODAY)
    keeper = await village_staff(client, db)
    asset = await create_asset(client, keeper)
    contract = await create_contract(client, keeper, asset["id"], annual_rent_fen=3_650_000)
    # When it is terminated with its last day on 31 January 2026 (the lessee left)
    response = await client.post(
        f"/api/v1/contracts/{contract['id']}/termination",
        json={
            "terminated_on": "2026-01-31",
            "reason": "承包方弃耕，双方协商解除",
            "document_ref": "解除协议〔2026〕3号",
        },
        headers=keeper.headers,
    )
    # Then 31 days of 2026 remain owed and later years are cancelled
    assert response.status_code == 201, response.text
    ended = response.json()
    assert (ended["state"], ended["effective_until"], ended["termination"]["terminated_on"]) == (
        "terminated",
        "2026-01-31",
        "2026-01-31",
    )
    assert schedule_of(await instalments(client, keeper, contract["id"])) == [
        ("2026-01-01", 310_000, 0, "in_arrears")
    ]
    assert (ended["in_arrears_fen"], ended["outstanding_fen"]) == (310_000, 310_000)
    # And the asset is idle again, and the cuts are in the collection history
    assets = (await client.get(f"/api/v1/villages/{VILLAGE}/assets", headers=keeper.headers)).json()["items"]
    assert [(a["status"], a["status_since"]) for a in assets] == [("idle", "2026-06-15")]
    history = (
        await client.get(f"/api/v1/contracts/{contract['id']}/collection", headers=keeper.headers)
    ).json()
    assert [(e["kind"], e["amount_fen"], e["due_on"]) for e in history["events"]] == [
        ("adjustment", 3_340_000, "2026-01-01"),
        ("adjustment", 3_650_000, "2027-01-01"),
        ("adjustment", 3_650_000, "2028-01-01"),
    ]


async def test_termination_never_cuts_below_what_was_received(
    client: AsyncTestClient[Any], db: Database
) -> None:
    set_today(TODAY)
    keeper = await village_staff(client, db)
    contract = await create_contract(client, keeper, annual_rent_fen=3_650_000)
    first = (await instalments(client, keeper, contract["id"]))[0]
    await pay(client, keeper, first["id"], 3_650_000, "2026-01-02")
    response = await client.post(
        f"/api/v1/contracts/{contract['id']}/termination",
        json={"terminated_on": "2026-06-30", "reason": "村集体收回自营"},
        headers=keeper.headers,
    )
    assert response.status_code == 201, response.text
    assert schedule_of(await instalments(client, keeper, contract["id"])) == [
        ("2026-01-01", 3_650_000, 3_650_000, "paid")
    ]


async def test_a_renewal_starts_the_day_after_the_renewed_term_and_is_its_own_contract(
    client: AsyncTestClient[Any], db: Database
) -> None:
    set_today(TODAY)
    keeper = await village_staff(client, db)
    contract = await create_contract(client, keeper, starts_on="2024-01-01", ends_on="2026-12-31")
    late = await client.post(
        f"/api/v1/contracts/{contract['id']}/renewals",
        json={
            "starts_on": "2027-02-01",
            "ends_on": "2029-12-31",
            "annual_rent_fen": 5_500_000,
            "schedule": "yearly",
            "document_ref": "续签1",
            "approval_ref": APPROVAL,
        },
        headers=keeper.headers,
    )
    assert (late.status_code, late.json()["code"]) == (422, "invalid_term")
    response = await client.post(
        f"/api/v1/contracts/{contract['id']}/renewals",
        json={
            "ends_on": "2029-12-31",
            "annual_rent_fen": 5_500_000,
            "schedule": "quarterly",
            "document_ref": "续签1",
            "approval_ref": APPROVAL,
        },
        headers=keeper.headers,
    )
    assert response.status_code == 201, response.text
    renewal = response.json()
    assert (renewal["entry_kind"], renewal["references_id"], renewal["lineage_id"], renewal["starts_on"]) == (
        "renewal",
        contract["id"],
        renewal["id"],
        "2027-01-01",
    )
    assert renewal["counterparty"] == contract["counterparty"]
    assert renewal["flags"] == []
    assert len(await instalments(client, keeper, renewal["id"])) == 12
    renewed = (await client.get(f"/api/v1/contracts/{contract['id']}", headers=keeper.headers)).json()
    assert (renewed["renewed_by_id"], renewed["state"]) == (renewal["id"], "in_force")


async def test_contracts_list_by_state_and_by_open_findings(
    client: AsyncTestClient[Any], db: Database
) -> None:
    set_today(TODAY)
    keeper = await village_staff(client, db)
    clean = await create_contract(client, keeper)
    flagged = await create_contract(client, keeper, approval_ref=None)
    ended = await create_contract(client, keeper, starts_on="2020-01-01", ends_on="2022-12-31")
    url = f"/api/v1/villages/{VILLAGE}/contracts"

    async def ids(**params: Any) -> list[str]:
        response = await client.get(url, params=params, headers=keeper.headers)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    assert await ids(flagged="true") == [flagged["id"]]
    assert await ids(flagged="false") == [clean["id"], ended["id"]]
    assert await ids(state="ended") == [ended["id"]]
    assert await ids(state="in_force") == [clean["id"], flagged["id"]]
    page = (await client.get(url, params={"limit": 2}, headers=keeper.headers)).json()
    assert [c["id"] for c in page["items"]] == [clean["id"], flagged["id"]]
    rest = (await client.get(url, params={"cursor": page["next_cursor"]}, headers=keeper.headers)).json()
    assert ([c["id"] for c in rest["items"]], rest["next_cursor"]) == ([ended["id"]], None)


async def test_the_clock_moves_an_instalment_from_due_to_in_arrears(
    client: AsyncTestClient[Any], db: Database
) -> None:
    set_today(date(2026, 6, 30))
    keeper = await village_staff(client, db)
    contract = await create_contract(client, keeper, schedule="half_yearly")
    second = (await instalments(client, keeper, contract["id"]))[1]
    assert (second["due_on"], second["status"]) == ("2026-07-01", "due")
    set_today(date(2026, 7, 1))
    assert (await instalments(client, keeper, contract["id"]))[1]["status"] == "due"
    set_today(date(2026, 7, 2))
    assert (await instalments(client, keeper, contract["id"]))[1]["status"] == "in_arrears"
