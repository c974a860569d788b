"""An offline payment for an order past its ``expires_at`` is refused, whether or not the expiry
sweep has run (the tests run with background jobs off, as an embedded install may). Money that
really arrived anyway is held in suspense and refunded in full, as for Stripe.

The market (``tests/orders/builders.py``); orders time out after 30 minutes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.core import clock
from coopmarket.db import Database
from coopmarket.orders import expiry
from tests.factories import Actor, ledger_balances
from tests.orders.builders import Market, build_market, place, sku_stock
from tests.payments.builders import ledger_kinds

TIMEOUT = timedelta(minutes=30)


@pytest.fixture
async def market(client: AsyncTestClient[Any], db: Database) -> Market:
    return await build_market(client, db)


async def pay_offline(client: AsyncTestClient[Any], actor: Actor, order: dict[str, Any], **extra: Any) -> Any:
    return await client.post(
        f"/api/v1/orders/{order['id']}/offline-payments",
        json={"reference": "BANK-LATE", "amount_fen": order["total_fen"], **extra},
        headers=actor.headers,
    )


async def product_a(client: AsyncTestClient[Any], market: Market) -> str:
    response = await client.get("/api/v1/products", params={"cooperative_id": market.coop_a["id"]})
    return response.json()["items"][0]["id"]  # type: ignore[no-any-return]


async def shown(client: AsyncTestClient[Any], market: Market, order_id: str) -> dict[str, Any]:
    return (await client.get(f"/api/v1/orders/{order_id}", headers=market.buyer.headers)).json()  # type: ignore[no-any-return]


async def test_an_expired_order_takes_no_offline_payment_before_the_sweep_runs(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given an order left unpaid past its expiry, and no sweep to cancel it
    order = (await place(client, market.buyer, [(market.sku_a["id"], 3)])).json()
    product = await product_a(client, market)
    clock.advance(TIMEOUT + timedelta(seconds=1))
    assert (await shown(client, market, order["id"]))["status"] == "pending_payment"

    # When its cooperative and staff record an offline payment for it
    by_manager = await pay_offline(client, market.manager_a, order)
    by_staff = await pay_offline(client, market.staff, order)

    # Then both are refused, and nothing was recorded: not paid, no money in the books
    assert (by_manager.status_code, by_manager.json()["code"]) == (409, "order_expired")
    assert (by_staff.status_code, by_staff.json()["code"]) == (409, "order_expired")
    after = await shown(client, market, order["id"])
    assert (after["status"], after["paid_fen"]) == ("pending_payment", 0)
    assert await ledger_balances(db) == {}
    assert await sku_stock(client, product, market.sku_a["id"]) == 97  # still held for the sweep


async def test_an_order_just_before_its_expiry_takes_its_payment(
    client: AsyncTestClient[Any], market: Market
) -> None:
    order = (await place(client, market.buyer, [(market.sku_a["id"], 1)])).json()
    clock.advance(TIMEOUT - timedelta(seconds=1))

    response = await pay_offline(client, market.manager_a, order)

    assert (response.status_code, response.json()["order_status"]) == (201, "paid")


async def test_money_that_really_arrived_after_expiry_is_held_and_refunded(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given an expired, unpaid order the sweep has not cancelled yet
    order = (await place(client, market.buyer, [(market.sku_a["id"], 3)])).json()
    product = await product_a(client, market)
    clock.advance(TIMEOUT + timedelta(minutes=5))

    # When its cooperative records that the bank transfer arrived anyway, to be refunded
    response = await pay_offline(client, market.manager_a, order, hold_for_refund=True)

    # Then the payment is recorded as refunded, and the order expires now (its stock released)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["status"], body["order_status"], body["amount_fen"]) == ("refunded", "cancelled", 11970)
    after = await shown(client, market, order["id"])
    assert (after["status"], after["paid_fen"], after["cancel_reason"]) == ("cancelled", 0, "expired")
    assert await sku_stock(client, product, market.sku_a["id"]) == 100
    # And the money passed through suspense: received, then owed back to the buyer in full
    assert await ledger_kinds(db, order["id"]) == ["unmatched_payment", "refund"]
    assert await ledger_balances(db) == {}
    outstanding = (
        await client.get("/api/v1/refunds?status=outstanding", headers=market.manager_a.headers)
    ).json()
    [refund] = outstanding["items"]
    assert (refund["id"], refund["order_id"], refund["part_id"], refund["amount_fen"]) == (
        body["refund_id"],
        order["id"],
        None,
        11970,
    )
    # And once the cooperative hands it back, nothing is outstanding
    handed = await client.post(
        f"/api/v1/refunds/{refund['id']}/handed-back",
        json={"reference": "退回转账"},
        headers=market.manager_a.headers,
    )
    assert (handed.status_code, handed.json()["status"]) == (200, "succeeded")
    audit = await client.get(
        "/api/v1/audit", params={"entity": "order", "id": order["id"]}, headers=market.staff.headers
    )
    assert [e["action"] for e in audit.json()["items"]] == ["payment.held_for_refund"]


async def test_money_for_an_order_the_sweep_cancelled_is_held_and_refunded_too(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = (await place(client, market.buyer, [(market.sku_a["id"], 1)])).json()
    clock.advance(TIMEOUT + timedelta(minutes=1))
    assert await expiry.expire_overdue_orders(db) == 1

    refused = await pay_offline(client, market.staff, order)
    held = await pay_offline(client, market.staff, order, hold_for_refund=True)

    assert (refused.status_code, refused.json()["code"]) == (409, "order_not_payable")
    assert (held.status_code, held.json()["status"]) == (201, "refunded")
    outstanding = (
        await client.get("/api/v1/refunds?status=outstanding", headers=market.staff.headers)
    ).json()
    assert [r["amount_fen"] for r in outstanding["items"]] == [3990]


async def test_holding_money_for_an_order_that_can_still_be_paid_is_refused(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = (await place(client, market.buyer, [(market.sku_a["id"], 1)])).json()

    response = await pay_offline(client, market.manager_a, order, hold_for_refund=True)

    assert (response.status_code, response.json()["code"]) == (409, "order_not_expired")
    assert (await shown(client, market, order["id"]))["status"] == "pending_payment"
    assert await ledger_balances(db) == {}


async def test_only_those_who_record_the_payment_may_hold_it(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = (await place(client, market.buyer, [(market.sku_a["id"], 1)])).json()
    clock.advance(TIMEOUT + timedelta(minutes=1))

    buyer = await pay_offline(client, market.buyer, order, hold_for_refund=True)
    other = await pay_offline(client, market.manager_b, order, hold_for_refund=True)

    assert (buyer.status_code, buyer.json()["code"]) == (403, "forbidden_role")
    assert (other.status_code, other.json()["code"]) == (404, "order_not_found")
    assert (await shown(client, market, order["id"]))["status"] == "pending_payment"
    assert await ledger_balances(db) == {}


async def test_money_paid_twice_is_held_and_refunded_and_the_order_stays_paid(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given a paid order, and the buyer's bank transfer arriving a second time
    order = (await place(client, market.buyer, [(market.sku_a["id"], 1)])).json()
    assert (await pay_offline(client, market.staff, order)).status_code == 201

    response = await client.post(
        f"/api/v1/orders/{order['id']}/offline-payments",
        json={"reference": "BANK-AGAIN", "amount_fen": 3990, "hold_for_refund": True},
        headers=market.staff.headers,
    )

    assert response.status_code == 201, response.text
    assert (response.json()["status"], response.json()["order_status"]) == ("refunded", "paid")
    assert (await shown(client, market, order["id"]))["paid_fen"] == 3990
    outstanding = (
        await client.get("/api/v1/refunds?status=outstanding", headers=market.staff.headers)
    ).json()
    assert [(r["amount_fen"], r["part_id"]) for r in outstanding["items"]] == [(3990, None)]
    assert await ledger_kinds(db, order["id"]) == ["payment_received", "unmatched_payment", "refund"]
