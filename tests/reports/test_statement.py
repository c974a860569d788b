"""GET /api/v1/cooperatives/{id}/statement and POST …/payouts: what a cooperative is owed, and paying it."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from litestar.testing import AsyncTestClient
from openpyxl import load_workbook

from coopmarket.core import clock
from coopmarket.core.pagination import encode_cursor
from coopmarket.core.principal import DISTRICT_STAFF, Principal
from coopmarket.db import Database
from coopmarket.ledger import service as ledger_service
from coopmarket.reports import payouts
from coopmarket.reports import statement as statement_module
from coopmarket.reports.errors import OwnCooperative, PayoutExceedsPayable
from coopmarket.reports.schemas import PayoutIn
from tests.factories import DISTRICT, OTHER_STREET, STREET, Actor, make_staff, register_buyer
from tests.orders.builders import Market, build_market, new_key
from tests.orders.test_refunds import paid_order, part_of, refund, ship_and_receive

SUBTOTAL_A = 2 * 3990  # settled as fee 239, collective 798, cooperative 6943
AUDIT_URL = "/api/v1/audit"


def around_today() -> dict[str, str]:
    today = clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date()
    return {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=1)).isoformat()}


def url(market: Market) -> str:
    return f"/api/v1/cooperatives/{market.coop_a['id']}/statement"


def payouts_url(market: Market) -> str:
    return f"/api/v1/cooperatives/{market.coop_a['id']}/payouts"


async def payable(db: Database, market: Market) -> int:
    account = f"payable:coop:{market.coop_a['id']}"
    async with db.read() as conn:
        return -dict(await ledger_service.balances(conn, account)).get(account, 0)


async def pay_out(
    client: AsyncTestClient[Any], actor: Actor, market: Market, amount: int, key: str | None = None
) -> Any:
    return await client.post(
        payouts_url(market),
        json={"amount_fen": amount, "reference": "转账-20261203-001"},
        headers={**actor.headers, "Idempotency-Key": key or new_key()},
    )


@pytest.fixture
async def market(client: AsyncTestClient[Any], db: Database) -> Market:
    return await build_market(client, db)


async def settled_refunded_and_paid_out(client: AsyncTestClient[Any], market: Market) -> str:
    """One part paid, received (settled), refunded 1000 fen (870 of it the cooperative's) and paid out 3000."""
    order = await paid_order(client, market)
    await ship_and_receive(client, market, order)
    response = await refund(client, market.manager_a, order["id"], part_of(order, market.coop_a)["id"], 1000)
    assert response.status_code == 201, response.text
    response = await pay_out(client, market.staff, market, 3000)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


EXPECTED = {
    "opening_balance_fen": 0,
    "sales_fen": SUBTOTAL_A,
    "fees_fen": 239,
    "collective_share_fen": 798,
    "refunds_fen": 870,
    "payouts_fen": 3000,
    "other_fen": 0,
    "closing_balance_fen": 6943 - 870 - 3000,
    "escrow_opening_fen": 0,
    "escrow_closing_fen": 0,
}


async def test_the_statement_shows_sales_fees_shares_refunds_and_payouts_from_the_ledger(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given a part settled, refunded in part and a payout
    await settled_refunded_and_paid_out(client, market)
    # When its manager reads the statement
    response = await client.get(url(market), params=around_today(), headers=market.manager_a.headers)
    # Then every figure comes from the ledger and the closing balance is the ledger's payable
    assert response.status_code == 200, response.text
    body = response.json()
    assert {k: body[k] for k in EXPECTED} == EXPECTED
    assert body["closing_balance_fen"] == await payable(db, market)
    assert [line["kind"] for line in body["lines"]] == ["part_settled", "refund", "coop_payout"]
    assert sum(line["payable_change_fen"] for line in body["lines"]) == body["closing_balance_fen"]


async def test_a_later_statement_opens_with_the_earlier_closing_balance(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    await settled_refunded_and_paid_out(client, market)
    tomorrow = clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1)
    response = await client.get(
        url(market),
        params={"from": tomorrow.isoformat(), "to": tomorrow.isoformat()},
        headers=market.staff.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["opening_balance_fen"] == body["closing_balance_fen"] == await payable(db, market) == 3073
    assert body["lines"] == [] and body["sales_fen"] == 0


async def test_lines_are_paginated_by_keyset(client: AsyncTestClient[Any], market: Market) -> None:
    await settled_refunded_and_paid_out(client, market)
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params = {**around_today(), "limit": "1", **({"cursor": cursor} if cursor else {})}
        body = (await client.get(url(market), params=params, headers=market.staff.headers)).json()
        seen += [line["kind"] for line in body["lines"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ["part_settled", "refund", "coop_payout"]


async def test_csv_and_xlsx_carry_the_same_figures_as_the_json(
    client: AsyncTestClient[Any], market: Market
) -> None:
    await settled_refunded_and_paid_out(client, market)
    body = (await client.get(url(market), params=around_today(), headers=market.staff.headers)).json()
    csv_response = await client.get(
        url(market), params={**around_today(), "format": "csv"}, headers=market.staff.headers
    )
    assert csv_response.status_code == 200
    assert csv_response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(csv_response.content.decode("utf-8-sig"))))
    figures = {row[0]: int(row[1]) for row in rows[1:11]}
    assert figures == {k: body[k] for k in figures} and len(figures) == 10
    assert [row[2] for row in rows[13:]] == [line["kind"] for line in body["lines"]]
    xlsx = await client.get(
        url(market), params={**around_today(), "format": "xlsx"}, headers=market.staff.headers
    )
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content), read_only=True).active
    assert sheet is not None
    xrows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert {r[0]: r[1] for r in xrows[1:11]} == figures


async def test_an_export_longer_than_one_file_is_refused_not_cut_short(
    client: AsyncTestClient[Any], market: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a statement of several lines, and exports capped (for the test) at one line
    await settled_refunded_and_paid_out(client, market)
    lines = (await client.get(url(market), params=around_today(), headers=market.staff.headers)).json()["lines"]
    assert len(lines) > 1
    monkeypatch.setattr(statement_module, "MAX_EXPORT_LINES", 1)
    for export in ("csv", "xlsx"):
        # When it is exported
        response = await client.get(
            url(market), params={**around_today(), "format": export}, headers=market.staff.headers
        )
        # Then the export is refused with a reason, never a file missing lines
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "statement_too_long"
    # And the JSON pages are unaffected
    assert (await client.get(url(market), params=around_today(), headers=market.staff.headers)).status_code == 200


# --- payouts ---------------------------------------------------------------------------------


async def test_a_payout_above_what_is_payable_is_refused(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = await paid_order(client, market)
    await ship_and_receive(client, market, order)
    response = await pay_out(client, market.staff, market, 6944)
    assert response.status_code == 409
    assert response.json()["code"] == "payout_exceeds_payable"
    assert response.json()["payable_fen"] == 6943
    assert await payable(db, market) == 6943
    assert (await pay_out(client, market.staff, market, 6943)).status_code == 201
    assert await payable(db, market) == 0


async def test_the_same_key_posts_a_payout_once(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = await paid_order(client, market)
    await ship_and_receive(client, market, order)
    key = new_key()
    first = await pay_out(client, market.staff, market, 1000, key)
    again = await pay_out(client, market.staff, market, 1000, key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert await payable(db, market) == 6943 - 1000
    async with db.read() as conn:
        assert dict(await ledger_service.balances(conn, "cash:bank")) == {"cash:bank": -1000}
        assert await ledger_service.trial_balance(conn) == 0


async def test_a_payout_is_reversed_once_with_a_reason_and_audited(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    payout_id = await settled_refunded_and_paid_out(client, market)
    reverse = f"{payouts_url(market)}/{payout_id}/reverse"
    headers = {**market.staff.headers, "Idempotency-Key": new_key()}
    response = await client.post(reverse, json={"reason": "退票：账号有误"}, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["reversal_of"] == payout_id
    assert response.json()["amount_fen"] == 3000
    assert await payable(db, market) == 6943 - 870
    again = await client.post(
        reverse, json={"reason": "再来一次"}, headers={**market.staff.headers, "Idempotency-Key": new_key()}
    )
    assert (again.status_code, again.json()["code"]) == (409, "payout_already_reversed")
    body = (await client.get(url(market), params=around_today(), headers=market.staff.headers)).json()
    assert body["payouts_fen"] == 0 and body["closing_balance_fen"] == await payable(db, market)
    audit = await client.get(
        AUDIT_URL, params={"entity": "ledger_transaction", "id": payout_id}, headers=market.staff.headers
    )
    assert audit.status_code == 200, audit.text
    actions = {item["action"] for item in audit.json()["items"]}
    assert {"cooperative.payout_recorded", "cooperative.payout_reversed"} <= actions


async def test_an_unknown_payout_answers_404(client: AsyncTestClient[Any], market: Market) -> None:
    response = await client.post(
        f"{payouts_url(market)}/01hnotapayout0000000000000/reverse",
        json={"reason": "x"},
        headers={**market.staff.headers, "Idempotency-Key": new_key()},
    )
    assert (response.status_code, response.json()["code"]) == (404, "payout_not_found")


# --- who may ---------------------------------------------------------------------------------


async def test_statement_scope(client: AsyncTestClient[Any], db: Database, market: Market) -> None:
    other_street = await make_staff(client, db, role="street_staff", region_code=OTHER_STREET)
    own_street = await make_staff(client, db, role="street_staff", region_code=STREET)
    buyer = await register_buyer(client)
    params = around_today()
    assert (await client.get(url(market), params=params, headers=own_street.headers)).status_code == 200
    response = await client.get(url(market), params=params, headers=other_street.headers)
    assert (response.status_code, response.json()["code"]) == (404, "cooperative_not_found")
    response = await client.get(url(market), params=params, headers=market.manager_b.headers)
    assert (response.status_code, response.json()["code"]) == (404, "cooperative_not_found")
    response = await client.get(url(market), params=params, headers=buyer.headers)
    assert (response.status_code, response.json()["code"]) == (403, "forbidden_role")
    assert (await client.get(url(market), params=params)).status_code == 401


async def test_payout_scope_and_separation_of_duties(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    other_street = await make_staff(client, db, role="street_staff", region_code=OTHER_STREET)
    buyer = await register_buyer(client)
    response = await pay_out(client, other_street, market, 1)
    assert (response.status_code, response.json()["code"]) == (404, "cooperative_not_found")
    response = await pay_out(client, buyer, market, 1)
    assert (response.status_code, response.json()["code"]) == (403, "forbidden_role")
    # The cooperative's own manager may not pay it out
    response = await pay_out(client, market.manager_a, market, 1)
    assert (response.status_code, response.json()["code"]) == (403, "forbidden_role")
    response = await client.post(
        payouts_url(market), json={"amount_fen": 1, "reference": "x"}, headers={"Idempotency-Key": new_key()}
    )
    assert response.status_code == 401


async def test_a_part_paid_but_not_received_is_in_escrow_not_payable(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    await paid_order(client, market)
    body = (await client.get(url(market), params=around_today(), headers=market.manager_a.headers)).json()
    assert (body["sales_fen"], body["closing_balance_fen"], body["escrow_closing_fen"]) == (0, 0, SUBTOTAL_A)
    assert body["lines"] == []
    response = await pay_out(client, market.staff, market, 1)
    assert (response.status_code, response.json()["code"]) == (409, "payout_exceeds_payable")


async def test_staff_who_manage_the_cooperative_may_not_pay_it_out(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Staff cannot manage a cooperative today; the rule holds should that ever change.
    staff = Principal(
        market.staff.id,
        DISTRICT_STAFF,
        "区级",
        region_code=DISTRICT,
        cooperative_ids=frozenset({market.coop_a["id"]}),
    )
    async with db.session() as session:
        with pytest.raises(OwnCooperative):
            await payouts.record_payout(session, staff, market.coop_a["id"], PayoutIn(1, "转账"))


async def test_a_cursor_of_another_shape_is_refused(client: AsyncTestClient[Any], market: Market) -> None:
    await settled_refunded_and_paid_out(client, market)
    params = {**around_today(), "limit": "1"}
    first = (await client.get(url(market), params=params, headers=market.staff.headers)).json()
    assert first["next_cursor"]
    forged = encode_cursor(["2026-06-10", "01hx"])  # an income list's keyset: a date, not an instant
    response = await client.get(
        url(market), params={**params, "cursor": forged}, headers=market.staff.headers
    )
    assert (response.status_code, response.json()["code"]) == (422, "invalid_cursor")


async def test_two_payouts_at_once_cannot_overdraw(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given 6943 fen payable
    order = await paid_order(client, market)
    await ship_and_receive(client, market, order)
    staff = Principal(market.staff.id, DISTRICT_STAFF, "区级", region_code=DISTRICT)

    async def pay(amount: int) -> str:
        try:
            async with db.unit_of_work() as session:
                await payouts.record_payout(session, staff, market.coop_a["id"], PayoutIn(amount, "转账"))
        except PayoutExceedsPayable:
            return "refused"
        return "paid"

    # When two payouts of 5000 fen run at once
    results = await asyncio.gather(pay(5000), pay(5000))
    # Then one is paid and the other refused: the payable never goes below zero
    assert sorted(results) == ["paid", "refused"]
    assert await payable(db, market) == 1943


async def test_payout_reversal_scope(client: AsyncTestClient[Any], db: Database, market: Market) -> None:
    """Reversing a payout: staff in scope only (others 404, non-staff 403, anonymous 401); nothing moves."""
    payout_id = await settled_refunded_and_paid_out(client, market)
    reverse = f"{payouts_url(market)}/{payout_id}/reverse"
    other_street = await make_staff(client, db, role="street_staff", region_code=OTHER_STREET)
    buyer = await register_buyer(client)
    before = await payable(db, market)

    async def attempt(headers: dict[str, str]) -> Any:
        return await client.post(
            reverse, json={"reason": "退票"}, headers={**headers, "Idempotency-Key": new_key()}
        )

    response = await attempt(other_street.headers)
    assert (response.status_code, response.json()["code"]) == (404, "cooperative_not_found")
    for actor in (buyer, market.manager_a):
        response = await attempt(actor.headers)
        assert (response.status_code, response.json()["code"]) == (403, "forbidden_role")
    assert (await attempt({})).status_code == 401
    # Another cooperative's payout id under this cooperative is not found
    response = await client.post(
        f"/api/v1/cooperatives/{market.coop_b['id']}/payouts/{payout_id}/reverse",
        json={"reason": "退票"},
        headers={**market.staff.headers, "Idempotency-Key": new_key()},
    )
    assert response.status_code == 404, response.text
    assert await payable(db, market) == before
    own_street = await make_staff(client, db, role="street_staff", region_code=STREET)
    assert (await attempt(own_street.headers)).status_code == 201
