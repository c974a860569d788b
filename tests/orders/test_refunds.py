"""Partial refunds of paid parts: the buyer requests, the cooperative or staff decide (both databases).

The market (``tests/orders/builders.py``): cooperative A in ``VILLAGE`` (collective share 10 %),
cooperative B in ``OTHER_VILLAGE`` (20 %), platform fee 3 %. The usual order is 2 × 3990 fen from
A (one part of 7980 fen), paid offline.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlmodel import col

from coopmarket.core import clock
from coopmarket.db import Database
from coopmarket.ledger import service as ledger_service
from coopmarket.payments.models import PaymentRefund
from tests.factories import OTHER_STREET, OTHER_VILLAGE, STREET, VILLAGE, Actor, make_staff, register_buyer
from tests.orders.builders import Market, build_market, new_key, place, sku_stock

SUBTOTAL_A = 2 * 3990


@pytest.fixture
async def market(client: AsyncTestClient[Any], db: Database) -> Market:
    return await build_market(client, db)


@pytest.fixture(autouse=True)
async def books_balance(db: Database) -> AsyncIterator[None]:
    """After every test the ledger's postings still sum to 0."""
    yield
    async with db.read() as conn:
        assert await ledger_service.trial_balance(conn) == 0


# ------------------------------------------------------------------ helpers


async def balances(db: Database, prefix: str = "") -> dict[str, int]:
    async with db.read() as conn:
        return {account: balance for account, balance in await ledger_service.balances(conn, prefix)}


async def payment_refunds(db: Database, order_id: str) -> list[tuple[str, int, str, str | None]]:
    """``(id, amount_fen, status, part_id)`` of each ``PaymentRefund`` of the order."""
    async with db.read() as conn:
        rows = await conn.execute(
            select(
                col(PaymentRefund.id),
                col(PaymentRefund.amount_fen),
                col(PaymentRefund.status),
                col(PaymentRefund.part_id),
            )
            .where(col(PaymentRefund.order_id) == order_id)
            .order_by(col(PaymentRefund.id))
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]


async def paid_order(
    client: AsyncTestClient[Any], market: Market, lines: list[tuple[str, int]] | None = None
) -> dict[str, Any]:
    """An order placed by the market's buyer and paid offline (recorded by district staff)."""
    response = await place(client, market.buyer, lines or [(market.sku_a["id"], 2)])
    assert response.status_code == 201, response.text
    order = response.json()
    paid = await client.post(
        f"/api/v1/orders/{order['id']}/offline-payments",
        json={"reference": f"BANK-{order['id'][-6:]}", "amount_fen": order["total_fen"]},
        headers=market.staff.headers,
    )
    assert paid.status_code == 201, paid.text
    return await get_order(client, market.buyer, order["id"])


async def get_order(client: AsyncTestClient[Any], actor: Actor, order_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/orders/{order_id}", headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()


def part_of(order: dict[str, Any], cooperative: dict[str, Any]) -> dict[str, Any]:
    return next(p for p in order["parts"] if p["cooperative_id"] == cooperative["id"])


async def refund(
    client: AsyncTestClient[Any],
    actor: Actor,
    order_id: str,
    part_id: str,
    amount_fen: int,
    *,
    reason: str = "少了两斤",
    key: str | None = None,
) -> Any:
    return await client.post(
        f"/api/v1/orders/{order_id}/refunds",
        json={"part_id": part_id, "amount_fen": amount_fen, "reason": reason},
        headers={**actor.headers, "Idempotency-Key": key or new_key()},
    )


async def approve(client: AsyncTestClient[Any], actor: Actor, refund_id: str) -> Any:
    return await client.post(f"/api/v1/refunds/{refund_id}/approve", headers=actor.headers)


async def reject(
    client: AsyncTestClient[Any], actor: Actor, refund_id: str, reason: str = "已核实足量"
) -> Any:
    return await client.post(
        f"/api/v1/refunds/{refund_id}/reject", json={"reason": reason}, headers=actor.headers
    )


async def requested(
    client: AsyncTestClient[Any], market: Market, order: dict[str, Any], amount_fen: int
) -> str:
    """The buyer's refund request for ``amount_fen`` of part A; returns its id."""
    response = await refund(
        client, market.buyer, order["id"], part_of(order, market.coop_a)["id"], amount_fen
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def ship_and_receive(client: AsyncTestClient[Any], market: Market, order: dict[str, Any]) -> None:
    part_id = part_of(order, market.coop_a)["id"]
    shipped = await client.post(
        f"/api/v1/orders/{order['id']}/parts/{part_id}/ship",
        json={"carrier": "顺丰", "tracking_number": "SF1234567890"},
        headers=market.manager_a.headers,
    )
    assert shipped.status_code == 200, shipped.text
    received = await client.post(
        f"/api/v1/orders/{order['id']}/parts/{part_id}/receive", headers=market.buyer.headers
    )
    assert received.status_code == 200, received.text


async def product_a(client: AsyncTestClient[Any], market: Market) -> str:
    response = await client.get("/api/v1/products", params={"cooperative_id": market.coop_a["id"]})
    return response.json()["items"][0]["id"]


def escrow(market: Market) -> str:
    return f"escrow:coop:{market.coop_a['id']}"


# ------------------------------------------------------------------ requesting and deciding


async def test_a_buyers_request_waits_for_a_decision_and_moves_no_money(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given a paid order
    order = await paid_order(client, market)
    part_id = part_of(order, market.coop_a)["id"]

    # When its buyer asks for 1000 fen back
    response = await refund(client, market.buyer, order["id"], part_id, 1000)

    # Then the refund is requested and nothing has moved
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["status"], body["amount_fen"], body["part_id"], body["reason"]) == (
        "requested",
        1000,
        part_id,
        "少了两斤",
    )
    assert (body["requested_by"], body["decided_by"], body["decided_at"]) == (market.buyer.id, None, None)
    after = await get_order(client, market.buyer, order["id"])
    assert (after["refunded_fen"], part_of(after, market.coop_a)["refunded_fen"]) == (0, 0)
    assert (await balances(db, "escrow:"))[escrow(market)] == -SUBTOTAL_A
    assert await payment_refunds(db, order["id"]) == []


async def test_the_manager_approving_a_request_pays_it_back_out_of_escrow(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given a paid order and the buyer's request for 1000 fen
    order = await paid_order(client, market)
    refund_id = await requested(client, market, order, 1000)

    # When the cooperative's manager approves it
    response = await approve(client, market.manager_a, refund_id)

    # Then it is approved and 1000 fen go from escrow back to the offline cash account
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["status"], body["decided_by"]) == (refund_id, "approved", market.manager_a.id)
    assert body["decided_at"] is not None
    after = await get_order(client, market.buyer, order["id"])
    assert after["refunded_fen"] == 1000
    assert (part_of(after, market.coop_a)["refunded_fen"], part_of(after, market.coop_a)["status"]) == (
        1000,
        "paid",
    )
    assert after["status"] == "paid"
    assert await balances(db) == {"cash:offline": SUBTOTAL_A - 1000, escrow(market): -(SUBTOTAL_A - 1000)}
    assert await payment_refunds(db, order["id"]) == [(refund_id, 1000, "pending", body["part_id"])]


async def test_the_manager_refunds_directly_and_it_is_approved_at_once(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given a paid order
    order = await paid_order(client, market)

    # When the cooperative's manager refunds 2500 fen of its part
    response = await refund(client, market.manager_a, order["id"], part_of(order, market.coop_a)["id"], 2500)

    # Then the refund is approved by them and paid back
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["status"], body["requested_by"], body["decided_by"]) == (
        "approved",
        market.manager_a.id,
        market.manager_a.id,
    )
    after = await get_order(client, market.buyer, order["id"])
    assert (after["refunded_fen"], part_of(after, market.coop_a)["refunded_fen"]) == (2500, 2500)
    assert await balances(db) == {"cash:offline": SUBTOTAL_A - 2500, escrow(market): -(SUBTOTAL_A - 2500)}


async def test_staff_in_scope_approve_a_request(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given a paid order and the buyer's request; street staff whose street holds the village
    order = await paid_order(client, market)
    refund_id = await requested(client, market, order, 700)
    street_staff = await make_staff(client, db, role="street_staff", region_code=STREET)

    # When the staff member approves it
    response = await approve(client, street_staff, refund_id)

    # Then it is paid back
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["decided_by"]) == ("approved", street_staff.id)
    assert (await get_order(client, market.buyer, order["id"]))["refunded_fen"] == 700
    assert (await balances(db, "escrow:"))[escrow(market)] == -(SUBTOTAL_A - 700)


async def test_a_rejected_request_moves_nothing_and_keeps_the_reason(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given a paid order and the buyer's request
    order = await paid_order(client, market)
    refund_id = await requested(client, market, order, 1000)
    ledger_before = await balances(db)

    # When the manager rejects it
    response = await reject(client, market.manager_a, refund_id, "已核实足量")

    # Then it is rejected with the reason, and no money moved
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["decision_reason"], body["decided_by"]) == (
        "rejected",
        "已核实足量",
        market.manager_a.id,
    )
    assert (await get_order(client, market.buyer, order["id"]))["refunded_fen"] == 0
    assert await balances(db) == ledger_before
    assert await payment_refunds(db, order["id"]) == []


async def test_rejecting_needs_a_reason(client: AsyncTestClient[Any], market: Market) -> None:
    order = await paid_order(client, market)
    refund_id = await requested(client, market, order, 1000)

    response = await client.post(
        f"/api/v1/refunds/{refund_id}/reject", json={"reason": ""}, headers=market.manager_a.headers
    )

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    listed = await client.get(f"/api/v1/orders/{order['id']}/refunds", headers=market.buyer.headers)
    assert [r["status"] for r in listed.json()["items"]] == ["requested"]


async def test_a_decided_request_cannot_be_decided_again(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given a request already approved
    order = await paid_order(client, market)
    refund_id = await requested(client, market, order, 1000)
    assert (await approve(client, market.manager_a, refund_id)).status_code == 200

    # When it is approved again, or rejected
    again = await approve(client, market.staff, refund_id)
    rejected = await reject(client, market.manager_a, refund_id)

    # Then both are conflicts and it was paid back once
    assert (again.status_code, again.json()["code"]) == (409, "invalid_transition")
    assert (rejected.status_code, rejected.json()["code"]) == (409, "invalid_transition")
    assert (await get_order(client, market.buyer, order["id"]))["refunded_fen"] == 1000
    assert [r[1] for r in await payment_refunds(db, order["id"])] == [1000]


# ------------------------------------------------------------------ state and ledger


async def test_a_refund_after_receipt_reverses_the_settlement_split_in_proportion(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given a part received and settled: 7980 fen split as fee 239, collective 798, cooperative 6943
    order = await paid_order(client, market)
    await ship_and_receive(client, market, order)
    collective = f"collective_income:{VILLAGE}:operating_income"
    payable = f"payable:coop:{market.coop_a['id']}"
    settled = await balances(db)
    assert (settled["revenue:platform_fee"], settled[collective], settled[payable]) == (-239, -798, -6943)

    # When the manager refunds 1000 fen of it
    response = await refund(client, market.manager_a, order["id"], part_of(order, market.coop_a)["id"], 1000)

    # Then the split of 1000 fen (fee 30, collective 100, cooperative 870) is reversed, the part stays received
    assert response.status_code == 201, response.text
    assert await balances(db) == {
        "cash:offline": SUBTOTAL_A - 1000,
        escrow(market): 0,
        "revenue:platform_fee": -239 + 30,
        collective: -798 + 100,
        payable: -6943 + 870,
    }
    after = await get_order(client, market.buyer, order["id"])
    assert (part_of(after, market.coop_a)["status"], after["status"], after["refunded_fen"]) == (
        "received",
        "completed",
        1000,
    )


async def test_the_collective_income_report_shows_the_income_less_the_refund(
    client: AsyncTestClient[Any], market: Market
) -> None:
    # Given a part received (798 fen to the village collective) and then refunded 1000 fen in part
    order = await paid_order(client, market)
    await ship_and_receive(client, market, order)
    response = await refund(client, market.manager_a, order["id"], part_of(order, market.coop_a)["id"], 1000)
    assert response.status_code == 201, response.text

    # When district staff read the collective income around today
    today = clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date()
    report = await client.get(
        "/api/v1/reports/collective-income",
        params={
            "from": (today - timedelta(days=1)).isoformat(),
            "to": (today + timedelta(days=1)).isoformat(),
            "group_by": "village",
        },
        headers=market.staff.headers,
    )

    # Then the village's income is 798 - 100 fen
    assert report.status_code == 200, report.text
    item = next(i for i in report.json()["items"] if i["region_code"] == VILLAGE)
    assert item["total_fen"] == 698
    assert item["by_category"]["operating_income"] == 698


async def test_a_part_refunded_in_full_before_shipping_is_refunded_and_its_stock_released(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given a paid one-part order that took 2 units
    order = await paid_order(client, market)
    product_id = await product_a(client, market)
    assert await sku_stock(client, product_id, market.sku_a["id"]) == 98

    # When the manager refunds all of it in two steps
    part_id = part_of(order, market.coop_a)["id"]
    assert (await refund(client, market.manager_a, order["id"], part_id, 3000)).status_code == 201
    assert (
        await refund(client, market.manager_a, order["id"], part_id, SUBTOTAL_A - 3000)
    ).status_code == 201

    # Then the part is refunded, the stock is back, and the order (nothing left open) is cancelled
    after = await get_order(client, market.buyer, order["id"])
    assert (part_of(after, market.coop_a)["status"], part_of(after, market.coop_a)["refunded_fen"]) == (
        "refunded",
        SUBTOTAL_A,
    )
    assert (after["status"], after["refunded_fen"], after["payment"]["status"]) == (
        "cancelled",
        SUBTOTAL_A,
        "refunded",
    )
    assert await sku_stock(client, product_id, market.sku_a["id"]) == 100
    assert await balances(db) == {"cash:offline": 0, escrow(market): 0}


async def test_a_shipped_part_refunded_in_full_keeps_its_status_and_stock(
    client: AsyncTestClient[Any], market: Market
) -> None:
    # Given a shipped part
    order = await paid_order(client, market)
    part_id = part_of(order, market.coop_a)["id"]
    shipped = await client.post(
        f"/api/v1/orders/{order['id']}/parts/{part_id}/ship",
        json={"carrier": "顺丰", "tracking_number": "SF1"},
        headers=market.manager_a.headers,
    )
    assert shipped.status_code == 200

    # When it is refunded in full
    response = await refund(client, market.manager_a, order["id"], part_id, SUBTOTAL_A)

    # Then the goods went out: the part stays shipped and no stock comes back
    assert response.status_code == 201, response.text
    after = await get_order(client, market.buyer, order["id"])
    assert (part_of(after, market.coop_a)["status"], after["status"], after["refunded_fen"]) == (
        "shipped",
        "paid",
        SUBTOTAL_A,
    )
    assert await sku_stock(client, await product_a(client, market), market.sku_a["id"]) == 98


async def test_receiving_a_part_refunded_in_part_settles_only_what_is_left(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given a shipped part of which 1980 fen were refunded
    order = await paid_order(client, market)
    part_id = part_of(order, market.coop_a)["id"]
    await client.post(
        f"/api/v1/orders/{order['id']}/parts/{part_id}/ship",
        json={"carrier": "顺丰", "tracking_number": "SF2"},
        headers=market.manager_a.headers,
    )
    assert (await refund(client, market.manager_a, order["id"], part_id, 1980)).status_code == 201

    # When the buyer confirms receipt
    received = await client.post(
        f"/api/v1/orders/{order['id']}/parts/{part_id}/receive", headers=market.buyer.headers
    )

    # Then the remaining 6000 fen are split: fee 180, collective 600, cooperative 5220; escrow is empty
    assert received.status_code == 200, received.text
    assert await balances(db) == {
        "cash:offline": 6000,
        escrow(market): 0,
        "revenue:platform_fee": -180,
        f"collective_income:{VILLAGE}:operating_income": -600,
        f"payable:coop:{market.coop_a['id']}": -5220,
    }


async def test_cancelling_a_part_refunded_in_part_refunds_only_the_rest_and_closes_open_requests(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given a paid part with 1000 fen refunded and a buyer's request for 500 more still open
    order = await paid_order(client, market)
    part_id = part_of(order, market.coop_a)["id"]
    assert (await refund(client, market.manager_a, order["id"], part_id, 1000)).status_code == 201
    open_id = await requested(client, market, order, 500)

    # When the buyer cancels the order
    cancelled = await client.post(f"/api/v1/orders/{order['id']}/cancel", headers=market.buyer.headers)

    # Then only the remaining 6980 fen are refunded, and the open request is rejected
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["refunded_fen"], cancelled.json()["status"]) == (SUBTOTAL_A, "cancelled")
    assert sorted(r[1] for r in await payment_refunds(db, order["id"])) == [1000, SUBTOTAL_A - 1000]
    assert await balances(db) == {"cash:offline": 0, escrow(market): 0}
    listed = await client.get(f"/api/v1/orders/{order['id']}/refunds", headers=market.buyer.headers)
    assert {r["id"]: r["status"] for r in listed.json()["items"]}[open_id] == "rejected"


# ------------------------------------------------------------------ limits


async def test_a_refund_over_what_is_left_of_the_part_is_refused(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given a paid part of 7980 fen with 3000 refunded
    order = await paid_order(client, market)
    part_id = part_of(order, market.coop_a)["id"]
    assert (await refund(client, market.manager_a, order["id"], part_id, 3000)).status_code == 201

    # When 4981 fen more are asked for
    response = await refund(client, market.buyer, order["id"], part_id, 4981)

    # Then it is refused with what is left, and nothing changed
    assert response.status_code == 422
    assert (response.json()["code"], response.json()["refundable_fen"]) == ("refund_exceeds_paid", 4980)
    assert (await get_order(client, market.buyer, order["id"]))["refunded_fen"] == 3000
    assert len(await payment_refunds(db, order["id"])) == 1


async def test_open_requests_count_against_what_is_left(client: AsyncTestClient[Any], market: Market) -> None:
    # Given a paid part of 7980 fen and an open request for 5000
    order = await paid_order(client, market)
    await requested(client, market, order, 5000)

    # When the manager refunds 3000 directly
    part_id = part_of(order, market.coop_a)["id"]
    response = await refund(client, market.manager_a, order["id"], part_id, 3000)

    # Then it is refused: only 2980 fen are not yet spoken for
    assert response.status_code == 422
    assert (response.json()["code"], response.json()["refundable_fen"]) == ("refund_exceeds_paid", 2980)


async def test_a_zero_amount_is_a_validation_error(client: AsyncTestClient[Any], market: Market) -> None:
    order = await paid_order(client, market)

    response = await refund(client, market.buyer, order["id"], part_of(order, market.coop_a)["id"], 0)

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_an_unpaid_part_cannot_be_refunded(client: AsyncTestClient[Any], market: Market) -> None:
    placed = await place(client, market.buyer, [(market.sku_a["id"], 1)])
    order = placed.json()

    response = await refund(client, market.buyer, order["id"], order["parts"][0]["id"], 100)

    assert (response.status_code, response.json()["code"]) == (409, "invalid_transition")
    listed = await client.get(f"/api/v1/orders/{order['id']}/refunds", headers=market.buyer.headers)
    assert listed.json()["items"] == []


async def test_two_refunds_at_once_that_together_exceed_the_part_pay_back_one(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given a paid part of 7980 fen
    order = await paid_order(client, market)
    part_id = part_of(order, market.coop_a)["id"]

    # When its manager and staff each refund 5000 fen at the same time
    responses = await asyncio.gather(
        refund(client, market.manager_a, order["id"], part_id, 5000),
        refund(client, market.staff, order["id"], part_id, 5000),
    )

    # Then exactly one is paid back; the other is refused as exceeding what was paid
    statuses = sorted(r.status_code for r in responses)
    assert statuses[0] == 201 and statuses[1] in (409, 422), [r.text for r in responses]
    refused = next(r for r in responses if r.status_code != 201)
    assert refused.json()["code"] == "refund_exceeds_paid"
    assert (await get_order(client, market.buyer, order["id"]))["refunded_fen"] == 5000
    assert [r[1] for r in await payment_refunds(db, order["id"])] == [5000]
    assert (await balances(db, "escrow:"))[escrow(market)] == -(SUBTOTAL_A - 5000)


async def test_two_approvals_of_one_request_at_once_pay_it_back_once(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given the buyer's request
    order = await paid_order(client, market)
    refund_id = await requested(client, market, order, 4000)

    # When the manager and staff approve it at the same time
    responses = await asyncio.gather(
        approve(client, market.manager_a, refund_id), approve(client, market.staff, refund_id)
    )

    # Then one approval wins and the other is told it was decided already
    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    assert next(r for r in responses if r.status_code == 409).json()["code"] == "invalid_transition"
    assert (await get_order(client, market.buyer, order["id"]))["refunded_fen"] == 4000
    assert [r[1] for r in await payment_refunds(db, order["id"])] == [4000]


# ------------------------------------------------------------------ idempotency


async def test_the_same_key_and_body_answer_the_first_refund_again(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = await paid_order(client, market)
    part_id = part_of(order, market.coop_a)["id"]

    first = await refund(client, market.manager_a, order["id"], part_id, 1200, key="refund-once")
    second = await refund(client, market.manager_a, order["id"], part_id, 1200, key="refund-once")

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert (await get_order(client, market.buyer, order["id"]))["refunded_fen"] == 1200
    assert [r[1] for r in await payment_refunds(db, order["id"])] == [1200]


async def test_the_same_key_with_another_body_is_refused(
    client: AsyncTestClient[Any], market: Market
) -> None:
    order = await paid_order(client, market)
    part_id = part_of(order, market.coop_a)["id"]
    assert (await refund(client, market.buyer, order["id"], part_id, 100, key="k1")).status_code == 201

    response = await refund(client, market.buyer, order["id"], part_id, 200, key="k1")

    assert (response.status_code, response.json()["code"]) == (422, "idempotency_key_reused")
    listed = await client.get(f"/api/v1/orders/{order['id']}/refunds", headers=market.buyer.headers)
    assert [r["amount_fen"] for r in listed.json()["items"]] == [100]


async def test_a_refund_needs_an_idempotency_key(client: AsyncTestClient[Any], market: Market) -> None:
    order = await paid_order(client, market)

    response = await client.post(
        f"/api/v1/orders/{order['id']}/refunds",
        json={"part_id": part_of(order, market.coop_a)["id"], "amount_fen": 100, "reason": "x"},
        headers=market.buyer.headers,
    )

    assert (response.status_code, response.json()["code"]) == (400, "idempotency_key_required")
    assert (await get_order(client, market.buyer, order["id"]))["refunded_fen"] == 0


# ------------------------------------------------------------------ authorisation


async def snapshot(
    client: AsyncTestClient[Any], db: Database, market: Market, order_id: str
) -> dict[str, Any]:
    """What a refused refund must leave alone: the order, its refunds, the ledger."""
    listed = await client.get(f"/api/v1/orders/{order_id}/refunds", headers=market.buyer.headers)
    return {
        "order": await get_order(client, market.buyer, order_id),
        "refunds": listed.json()["items"],
        "ledger": await balances(db),
        "payment_refunds": await payment_refunds(db, order_id),
    }


@pytest.fixture
async def two_part_order(client: AsyncTestClient[Any], market: Market) -> dict[str, Any]:
    """A paid order with a part from each cooperative."""
    return await paid_order(client, market, [(market.sku_a["id"], 2), (market.sku_b["id"], 1)])


async def test_those_who_cannot_see_the_order_are_told_it_does_not_exist(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given a paid order from cooperative A only
    order = await paid_order(client, market)
    part_id = part_of(order, market.coop_a)["id"]
    stranger = await register_buyer(client, display_name="路人")
    other_staff = await make_staff(client, db, role="street_staff", region_code=OTHER_STREET)
    before = await snapshot(client, db, market, order["id"])

    # When another buyer, cooperative B's manager and staff of another street try to refund it
    for actor in (stranger, market.manager_b, other_staff):
        response = await refund(client, actor, order["id"], part_id, 100)
        # Then each is told there is no such order
        assert (response.status_code, response.json()["code"]) == (404, "order_not_found"), actor.role

    assert await snapshot(client, db, market, order["id"]) == before


async def test_a_signed_out_caller_is_asked_to_sign_in(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = await paid_order(client, market)
    before = await snapshot(client, db, market, order["id"])

    response = await client.post(
        f"/api/v1/orders/{order['id']}/refunds",
        json={"part_id": part_of(order, market.coop_a)["id"], "amount_fen": 100, "reason": "x"},
        headers={"Idempotency-Key": new_key()},
    )

    assert response.status_code == 401
    assert await snapshot(client, db, market, order["id"]) == before


async def test_a_manager_or_staff_who_sees_the_order_but_not_the_part_cannot_refund_it(
    client: AsyncTestClient[Any], db: Database, market: Market, two_part_order: dict[str, Any]
) -> None:
    # Given an order over both cooperatives; staff of B's street see part B only
    order = two_part_order
    part_a = part_of(order, market.coop_a)["id"]
    staff_b = await make_staff(client, db, role="street_staff", region_code=OTHER_STREET)
    before = await snapshot(client, db, market, order["id"])

    # When B's manager and B's staff try to refund part A
    for actor in (market.manager_b, staff_b):
        response = await refund(client, actor, order["id"], part_a, 100)
        # Then part A does not exist for them
        assert (response.status_code, response.json()["code"]) == (404, "order_part_not_found"), actor.role

    assert await snapshot(client, db, market, order["id"]) == before


async def test_the_buyer_cannot_approve_or_reject_their_own_request(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = await paid_order(client, market)
    refund_id = await requested(client, market, order, 1000)
    before = await snapshot(client, db, market, order["id"])

    approved = await approve(client, market.buyer, refund_id)
    rejected = await reject(client, market.buyer, refund_id)

    assert (approved.status_code, approved.json()["code"]) == (403, "forbidden_role")
    assert (rejected.status_code, rejected.json()["code"]) == (403, "forbidden_role")
    assert await snapshot(client, db, market, order["id"]) == before


async def test_deciders_of_other_parts_cannot_see_the_request(
    client: AsyncTestClient[Any], db: Database, market: Market, two_part_order: dict[str, Any]
) -> None:
    # Given the buyer's request on part A of an order over both cooperatives
    order = two_part_order
    refund_id = await requested(client, market, order, 1000)
    staff_b = await make_staff(client, db, role="village_staff", region_code=OTHER_VILLAGE)
    stranger = await register_buyer(client, display_name="路人")
    before = await snapshot(client, db, market, order["id"])

    # When B's manager, B's village staff and another buyer try to approve or reject it
    for actor in (market.manager_b, staff_b, stranger):
        for response in (await approve(client, actor, refund_id), await reject(client, actor, refund_id)):
            # Then the refund does not exist for them
            assert (response.status_code, response.json()["code"]) == (404, "refund_not_found"), actor.role

    assert await snapshot(client, db, market, order["id"]) == before


async def test_an_unknown_refund_is_not_found(client: AsyncTestClient[Any], market: Market) -> None:
    response = await approve(client, market.manager_a, "0" * 26)

    assert (response.status_code, response.json()["code"]) == (404, "refund_not_found")


async def test_deciders_list_only_the_refunds_of_their_parts(
    client: AsyncTestClient[Any], market: Market, two_part_order: dict[str, Any]
) -> None:
    # Given a request on each part of an order over both cooperatives
    order = two_part_order
    id_a = await requested(client, market, order, 1000)
    response = await refund(client, market.buyer, order["id"], part_of(order, market.coop_b)["id"], 250)
    id_b = response.json()["id"]

    # When each manager and the buyer list the order's refunds
    seen = {
        name: [
            r["id"]
            for r in (
                await client.get(f"/api/v1/orders/{order['id']}/refunds", headers=actor.headers)
            ).json()["items"]
        ]
        for name, actor in (("a", market.manager_a), ("b", market.manager_b), ("buyer", market.buyer))
    }

    # Then each manager sees their part's, the buyer both
    assert seen == {"a": [id_a], "b": [id_b], "buyer": [id_a, id_b]}
