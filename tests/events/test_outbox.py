"""Domain events are written to the outbox in the same transaction as the change they report."""

from __future__ import annotations

import json
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from coopmarket.events.outbox import EventKind, record_event
from tests.events.builders import events
from tests.orders.builders import ADDRESS, Market, build_market, new_key, place


@pytest.fixture
async def market(client: AsyncTestClient[Any], db: Database) -> Market:
    return await build_market(client, db)


async def _paid_order(client: AsyncTestClient[Any], market: Market) -> dict[str, Any]:
    order = (await place(client, market.buyer, [(market.sku_b["id"], 2)])).json()
    paid = await client.post(
        f"/api/v1/orders/{order['id']}/offline-payments",
        json={"reference": "CASH-9", "amount_fen": order["total_fen"]},
        headers=market.manager_b.headers,
    )
    assert paid.status_code == 201, paid.text
    return order  # type: ignore[no-any-return]


async def test_an_order_life_writes_its_events_in_order(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = await _paid_order(client, market)
    part = order["parts"][0]
    shipped = await client.post(
        f"/api/v1/orders/{order['id']}/parts/{part['id']}/ship",
        json={"carrier": "顺丰", "tracking_number": "SF1"},
        headers=market.manager_b.headers,
    )
    assert shipped.status_code == 200, shipped.text
    received = await client.post(
        f"/api/v1/orders/{order['id']}/parts/{part['id']}/receive", headers=market.buyer.headers
    )
    assert received.status_code == 200, received.text

    written = [e for e in await events(db) if e["entity_id"] == order["id"]]
    assert [e["kind"] for e in written] == [
        EventKind.ORDER_PLACED,
        EventKind.ORDER_PAID,
        EventKind.PART_SHIPPED,
        EventKind.PART_RECEIVED,
    ]
    assert {e["entity"] for e in written} == {"order"}
    placed, paid, _shipped, got = (e["payload"] for e in written)
    assert placed["total_fen"] == 2500 and placed["parts"][0]["part_id"] == part["id"]
    assert paid["paid_fen"] == 2500
    assert got["settled_fen"] == 2500 and got["part_id"] == part["id"]
    # No personal data: the buyer's phone and address never leave in an event.
    everything = json.dumps([e["payload"] for e in written], ensure_ascii=False)
    assert ADDRESS["phone"] not in everything and ADDRESS["detail"] not in everything


async def test_an_approved_refund_writes_an_event(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = await _paid_order(client, market)
    response = await client.post(
        f"/api/v1/orders/{order['id']}/refunds",
        json={"part_id": order["parts"][0]["id"], "amount_fen": 500, "reason": "破损"},
        headers={**market.manager_b.headers, "Idempotency-Key": new_key()},
    )
    assert response.status_code == 201, response.text
    [refunded] = await events(db, EventKind.REFUND_APPROVED)
    assert refunded["entity_id"] == order["id"]
    assert refunded["payload"]["amount_fen"] == 500 and refunded["payload"]["refund_id"]


async def test_a_failing_change_leaves_no_event(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = (await place(client, market.buyer, [(market.sku_a["id"], 1)])).json()
    # A payment of the wrong amount is refused: nothing is paid, so no order.paid event.
    refused = await client.post(
        f"/api/v1/orders/{order['id']}/offline-payments",
        json={"reference": "X1", "amount_fen": 100},
        headers=market.manager_a.headers,
    )
    assert refused.status_code == 422
    # An order for more than the stock is refused: no order.placed event for it.
    too_many = await place(client, market.buyer, [(market.sku_b["id"], 10_000)])
    assert too_many.status_code in (409, 422), too_many.text
    assert [e["kind"] for e in await events(db)] == [EventKind.ORDER_PLACED]


async def test_an_event_recorded_in_a_rolled_back_transaction_is_gone(db: Database) -> None:
    async with db.session() as session:
        await record_event(session, EventKind.ORDER_PAID, "order", "o-1", {"order_id": "o-1"})
        await session.rollback()
    async with db.session() as session:
        await record_event(session, EventKind.ORDER_PAID, "order", "o-2", {"order_id": "o-2"})
        await session.commit()
    assert [e["entity_id"] for e in await events(db)] == ["o-2"]


@pytest.mark.parametrize("key", ["phone", "buyer_phone", "access_token", "secret", "shipping_address"])
async def test_a_payload_with_personal_data_or_credentials_is_refused(db: Database, key: str) -> None:
    async with db.session() as session:
        with pytest.raises(ValueError, match="must not carry"):
            await record_event(session, EventKind.ORDER_PLACED, "order", "o-1", {"nested": {key: "x"}})
        await session.rollback()
