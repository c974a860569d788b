"""Receipts post contracting income once, never above what is due; write-offs and reminders are audited."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import text

from coopmarket.db import Database
from tests.factories import ledger_balances, make_staff
from tests.villages.builders import (
    STREET,
    TODAY,
    VILLAGE,
    create_contract,
    instalments,
    pay,
    set_today,
    snapshot,
    street_staff,
    village_staff,
)

INCOME = f"collective_income:{VILLAGE}:contracting_income"
FUNDS = f"collective_funds:{VILLAGE}"


async def _first_instalment(
    client: AsyncTestClient[Any], db: Database, **contract: Any
) -> tuple[Any, dict[str, Any]]:
    set_today(TODAY)
    keeper = await village_staff(client, db)
    created = await create_contract(client, keeper, **contract)
    return keeper, (await instalments(client, keeper, created["id"]))[0]


async def test_a_receipt_posts_contracting_income_to_the_village_once(
    client: AsyncTestClient[Any], db: Database
) -> None:
    keeper, first = await _first_instalment(client, db)
    # When 20,000 yuan received on 3 March is recorded, and the same request is sent again
    response = await pay(
        client, keeper, first["id"], 2_000_000, "2026-03-03", reference="赵家村收据0001", key="k1"
    )
    replay = await pay(
        client, keeper, first["id"], 2_000_000, "2026-03-03", reference="赵家村收据0001", key="k1"
    )
    # Then one receipt exists, the replay gives the first answer, and the ledger moved once
    assert response.status_code == 201, response.text
    assert (replay.status_code, replay.json(), replay.headers.get("idempotent-replayed")) == (
        201,
        response.json(),
        "true",
    )
    receipt = response.json()
    assert (receipt["amount_fen"], receipt["received_on"], receipt["reference"]) == (
        2_000_000,
        "2026-03-03",
        "赵家村收据0001",
    )
    assert (receipt["instalment"]["paid_fen"], receipt["instalment"]["status"]) == (2_000_000, "in_arrears")
    assert await ledger_balances(db, "collective_") == {FUNDS: 2_000_000, INCOME: -2_000_000}
    async with db.read() as conn:
        kinds = (await conn.execute(text("SELECT kind, dedupe_key FROM ledger_transaction"))).all()
        audited = (
            await conn.execute(
                text("SELECT count(*) FROM audit_entry WHERE action = 'instalment.receipt_recorded'")
            )
        ).scalar_one()
    assert [tuple(k) for k in kinds] == [("contract_receipt", f"contract_receipt:{receipt['id']}")]
    assert audited == 1


async def test_the_collective_income_report_shows_a_receipt_on_the_day_the_money_was_received(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given a receipt recorded on 15 June for money received on 31 March
    keeper, first = await _first_instalment(client, db)
    assert (await pay(client, keeper, first["id"], 2_000_000, "2026-03-31")).status_code == 201
    district = await make_staff(client, db)
    url = "/api/v1/reports/collective-income"

    async def contracting(date_from: str, date_to: str) -> int:
        response = await client.get(
            url, params={"from": date_from, "to": date_to, "region_code": VILLAGE}, headers=district.headers
        )
        assert response.status_code == 200, response.text
        [item] = response.json()["items"]
        return int(item["by_category"]["contracting_income"])

    # Then the report for March shows it as contracting income, and June's does not
    assert await contracting("2026-03-31", "2026-03-31") == 2_000_000
    assert await contracting("2026-03-01", "2026-03-30") == 0
    assert await contracting("2026-06-01", "2026-06-30") == 0
    # And the street's report counts it too
    street = await street_staff(client, db)
    by_street = await client.get(
        url, params={"from": "2026-01-01", "to": "2026-12-31", "group_by": "village"}, headers=street.headers
    )
    row = next(i for i in by_street.json()["items"] if i["region_code"] == VILLAGE)
    assert (row["total_fen"], row["by_category"]["contracting_income"]) == (2_000_000, 2_000_000)
    assert STREET == by_street.json()["region_code"]


async def test_a_receipt_received_today_is_posted_now(client: AsyncTestClient[Any], db: Database) -> None:
    keeper, first = await _first_instalment(client, db)
    assert (await pay(client, keeper, first["id"], 100, TODAY)).status_code == 201
    async with db.read() as conn:
        occurred = (await conn.execute(text("SELECT occurred_at FROM ledger_transaction"))).scalar_one()
    assert str(occurred).startswith("2026-06-15 04:00:00")


async def test_a_receipt_above_what_is_due_is_refused_and_nothing_moves(
    client: AsyncTestClient[Any], db: Database
) -> None:
    keeper, first = await _first_instalment(client, db)
    assert (await pay(client, keeper, first["id"], 4_000_000, "2026-02-01")).status_code == 201
    before = await snapshot(db)
    response = await pay(client, keeper, first["id"], 1_000_001, "2026-02-02")
    assert response.status_code == 409, response.text
    assert (response.json()["code"], response.json()["outstanding_fen"]) == ("receipt_exceeds_due", 1_000_000)
    assert await snapshot(db) == before
    # The exact rest is accepted and settles the instalment
    settled = await pay(client, keeper, first["id"], 1_000_000, "2026-02-02")
    assert (settled.status_code, settled.json()["instalment"]["status"]) == (201, "paid")


async def test_a_receipt_dated_after_today_or_typed_twice_is_refused(
    client: AsyncTestClient[Any], db: Database
) -> None:
    keeper, first = await _first_instalment(client, db)
    future = await pay(client, keeper, first["id"], 100, "2026-06-16")
    assert (future.status_code, future.json()["code"]) == (422, "date_in_future")
    assert (await pay(client, keeper, first["id"], 100, "2026-06-01", reference="R-1")).status_code == 201
    twice = await pay(client, keeper, first["id"], 100, "2026-06-01", reference="R-1")
    assert (twice.status_code, twice.json()["code"]) == (409, "duplicate_receipt_reference")
    assert await ledger_balances(db, "collective_income:") == {INCOME: -100}


async def test_receipts_sent_at_once_never_exceed_what_is_due(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given an instalment of 50,000 yuan
    keeper, first = await _first_instalment(client, db)
    # When eight receipts of 20,000 yuan each arrive at once, with different keys
    responses = await asyncio.gather(
        *(pay(client, keeper, first["id"], 2_000_000, "2026-06-01", key=f"race-{n}") for n in range(8))
    )
    # Then exactly two are accepted, the rest refused, and the ledger holds exactly 40,000 yuan
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 201, 409, 409, 409, 409, 409, 409], [
        r.text for r in responses if r.status_code >= 500
    ]
    assert await ledger_balances(db, "collective_income:") == {INCOME: -4_000_000}
    [current] = [i for i in await instalments(client, keeper, first["contract_id"]) if i["id"] == first["id"]]
    assert (current["paid_fen"], current["outstanding_fen"]) == (4_000_000, 1_000_000)


async def test_street_staff_write_off_an_instalment_in_arrears_with_a_reason_and_nothing_is_posted(
    client: AsyncTestClient[Any], db: Database
) -> None:
    keeper, first = await _first_instalment(client, db)
    await pay(client, keeper, first["id"], 1_000_000, "2026-02-01")
    street = await street_staff(client, db)
    refused = await client.post(
        f"/api/v1/instalments/{first['id']}/write-off",
        json={"reason": "承包方去世，无力偿还"},
        headers=keeper.headers,
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden_role")
    response = await client.post(
        f"/api/v1/instalments/{first['id']}/write-off",
        json={"reason": "承包方去世，无力偿还"},
        headers=street.headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["amount_fen"], body["written_off_on"], body["approved_by"]) == (
        4_000_000,
        "2026-06-15",
        street.id,
    )
    assert (body["instalment"]["written_off_fen"], body["instalment"]["status"]) == (4_000_000, "written_off")
    assert await ledger_balances(db, "collective_income:") == {INCOME: -1_000_000}
    async with db.read() as conn:
        entry = (
            await conn.execute(
                text(
                    "SELECT actor_id, reason, region_code FROM audit_entry WHERE action = 'instalment.written_off'"
                )
            )
        ).one()
    assert tuple(entry) == (street.id, "承包方去世，无力偿还", VILLAGE)
    # Nothing is left to receive or to write off
    assert (await pay(client, keeper, first["id"], 1, "2026-06-15")).json()["code"] == "receipt_exceeds_due"
    again = await client.post(
        f"/api/v1/instalments/{first['id']}/write-off", json={"reason": "重复"}, headers=street.headers
    )
    assert (again.status_code, again.json()["code"]) == (409, "instalment_settled")


async def test_an_instalment_not_yet_in_arrears_cannot_be_written_off(
    client: AsyncTestClient[Any], db: Database
) -> None:
    set_today(date(2026, 1, 1))
    keeper = await village_staff(client, db)
    contract = await create_contract(client, keeper)
    first = (await instalments(client, keeper, contract["id"]))[0]
    street = await street_staff(client, db)
    before = await snapshot(db)
    response = await client.post(
        f"/api/v1/instalments/{first['id']}/write-off", json={"reason": "提前核销"}, headers=street.headers
    )
    assert (response.status_code, response.json()["code"]) == (409, "instalment_not_in_arrears")
    assert await snapshot(db) == before


async def test_reminders_and_recoveries_make_the_collection_history(
    client: AsyncTestClient[Any], db: Database
) -> None:
    keeper, first = await _first_instalment(client, db)
    street = await street_staff(client, db)
    contract_id = first["contract_id"]
    reminder = await client.post(
        f"/api/v1/contracts/{contract_id}/reminders",
        json={"sent_on": "2026-06-10", "channel": "visit", "note": "街道工作组上门催收"},
        headers=street.headers,
    )
    assert reminder.status_code == 201, reminder.text
    assert (reminder.json()["in_arrears_fen"], reminder.json()["recorded_by"]) == (5_000_000, street.id)
    receipt = (await pay(client, keeper, first["id"], 3_000_000, "2026-06-12", reference="R-88")).json()
    history = await client.get(f"/api/v1/contracts/{contract_id}/collection", headers=street.headers)
    assert history.status_code == 200
    body = history.json()
    assert (body["in_arrears_fen"], body["outstanding_fen"]) == (2_000_000, 12_000_000)
    assert [
        (e["kind"], e["on_date"], e["amount_fen"], e["channel"], e["reference"]) for e in body["events"]
    ] == [
        ("reminder", "2026-06-10", 5_000_000, "visit", None),
        ("receipt", "2026-06-12", 3_000_000, None, "R-88"),
    ]
    assert body["events"][1]["id"] == receipt["id"]
    async with db.read() as conn:
        audited = (
            await conn.execute(
                text("SELECT count(*) FROM audit_entry WHERE action = 'village_contract.reminder_sent'")
            )
        ).scalar_one()
    assert audited == 1


async def test_a_receipt_shows_once_in_the_report_and_in_the_next_disclosure(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given a quarterly contract from October (300,000 fen a quarter), 100,000 received on 10 October
    set_today(date(2026, 10, 20))
    keeper = await village_staff(client, db)
    contract = await create_contract(
        client,
        keeper,
        starts_on="2026-10-01",
        ends_on="2027-09-30",
        annual_rent_fen=1_200_000,
        schedule="quarterly",
    )
    first = (await instalments(client, keeper, contract["id"]))[0]
    assert (first["due_on"], first["amount_fen"]) == ("2026-10-01", 300_000)
    assert (await pay(client, keeper, first["id"], 100_000, "2026-10-10")).status_code == 201
    # and October published on 5 November
    set_today(date(2026, 11, 5))
    october = await client.post(
        "/api/v1/disclosures", json={"village_code": VILLAGE, "period": "2026-10"}, headers=keeper.headers
    )
    assert october.status_code == 201, october.text
    october_bytes = (
        await client.get(f"/api/v1/public/disclosures/{october.json()['id']}", params={"format": "canonical"})
    ).content
    assert october.json()["figures"]["income_fen"]["contracting_income"] == 100_000

    # When 150,000 received on 3 November is recorded (and the request sent twice),
    # and 20,000 received on 25 October is recorded late, after October was published
    twice = [
        await pay(client, keeper, first["id"], 150_000, "2026-11-03", reference="R-NOV", key="nov")
        for _ in range(2)
    ]
    assert [r.status_code for r in twice] == [201, 201] and twice[0].json() == twice[1].json()
    assert (await pay(client, keeper, first["id"], 20_000, "2026-10-25")).status_code == 201

    # Then the ledger holds each receipt once, and the report shows each on the day it was received
    assert await ledger_balances(db, "collective_income:") == {INCOME: -270_000}
    street = await street_staff(client, db)

    async def reported(date_from: str, date_to: str) -> int:
        response = await client.get(
            "/api/v1/reports/collective-income",
            params={"from": date_from, "to": date_to, "region_code": VILLAGE},
            headers=street.headers,
        )
        assert response.status_code == 200, response.text
        [item] = response.json()["items"]
        return int(item["by_category"]["contracting_income"])

    assert await reported("2026-10-01", "2026-10-31") == 120_000
    assert await reported("2026-11-01", "2026-11-30") == 150_000
    # And the next disclosure (November, published on 2 December) shows November's receipt as
    # income, and every receipt in the contracts summary, the person's name masked
    set_today(date(2026, 12, 2))
    november = await client.post(
        "/api/v1/disclosures", json={"village_code": VILLAGE, "period": "2026-11"}, headers=keeper.headers
    )
    assert november.status_code == 201, november.text
    figures = (await client.get(f"/api/v1/public/disclosures/{november.json()['id']}")).json()["figures"]
    assert figures["income_fen"]["contracting_income"] == 150_000
    [line] = figures["contracts"]["lines"]
    assert (line["counterparty_name"], line["paid_to_date_fen"], line["arrears_fen"]) == (
        "王**",
        270_000,
        30_000,
    )
    assert "id_number" not in str(figures)
    # And the staff dashboard counts the same receipts, with no typing twice
    dashboard = await client.get("/api/v1/dashboard", headers=keeper.headers)
    assert dashboard.status_code == 200, dashboard.text
    assert dashboard.json()["by_category"]["contracting_income"] == 270_000
    # And October's disclosure is unchanged; the late receipt shows in a correction of October
    again = await client.get(
        f"/api/v1/public/disclosures/{october.json()['id']}", params={"format": "canonical"}
    )
    assert again.content == october_bytes
    correction = await client.post(
        "/api/v1/disclosures",
        json={"village_code": VILLAGE, "period": "2026-10", "corrects": october.json()["id"]},
        headers=keeper.headers,
    )
    assert correction.status_code == 201, correction.text
    assert correction.json()["figures"]["income_fen"]["contracting_income"] == 120_000
