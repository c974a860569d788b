"""``GET /skus/{id}/stock-history``: every change of a SKU's stock, with its reason, actor and order,
in exact order; orders, cancellations, expiries and refunds included."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from coopmarket.core import clock
from coopmarket.db import Database
from coopmarket.orders import expiry
from coopmarket.products import service
from coopmarket.products.models import StockAdjustment
from tests.factories import Actor, create_product, make_staff, register_buyer
from tests.orders.builders import Market, build_market, place
from tests.orders.test_refunds import paid_order, refund
from tests.products.builders import Seller, sku_stock


def history_url(sku_id: str) -> str:
    return f"/api/v1/skus/{sku_id}/stock-history"


async def history(
    client: AsyncTestClient[Any], manager: Actor, sku_id: str, **params: Any
) -> list[dict[str, Any]]:
    response = await client.get(history_url(sku_id), params=params, headers=manager.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def brief(items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(seq, kind, delta, stock_after, reason, actor_id, order_id), oldest first."""
    return [
        (i["seq"], i["kind"], i["delta"], i["stock_after"], i["reason"], i["actor_id"], i["order_id"])
        for i in reversed(items)
    ]


@pytest.fixture
async def market(client: AsyncTestClient[Any], db: Database) -> Market:
    return await build_market(client, db, stock_a=10)


async def test_an_order_and_its_cancellation_are_in_the_history(
    client: AsyncTestClient[Any], market: Market
) -> None:
    sku = market.sku_a["id"]
    # Given an order for 3 units, then its cancellation by the buyer
    order = (await place(client, market.buyer, [(sku, 3)])).json()
    cancelled = await client.post(
        f"/api/v1/orders/{order['id']}/cancel", json={"reason": "买错了"}, headers=market.buyer.headers
    )
    assert cancelled.status_code == 200, cancelled.text
    # When its manager reads the SKU's history
    items = await history(client, market.manager_a, sku)
    # Then the opening stock, the units taken and the units given back are there, newest first
    assert brief(items) == [
        (1, "created", 10, 10, "SKU created", market.manager_a.id, None),
        (2, "order", -3, 7, "order placed", market.buyer.id, order["id"]),
        (3, "order_release", 3, 10, "order cancelled: 买错了", market.buyer.id, order["id"]),
    ]
    assert [i["seq"] for i in items] == [3, 2, 1]
    assert all(i["at"].endswith("Z") for i in items)


async def test_an_expired_order_gives_its_stock_back_as_the_system(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    sku = market.sku_a["id"]
    order = (await place(client, market.buyer, [(sku, 4)])).json()
    clock.advance(timedelta(minutes=31))
    assert await expiry.expire_overdue_orders(db) == 1
    assert brief(await history(client, market.manager_a, sku))[1:] == [
        (2, "order", -4, 6, "order placed", market.buyer.id, order["id"]),
        (3, "order_release", 4, 10, "order expired unpaid", None, order["id"]),
    ]


async def test_a_full_refund_before_shipping_gives_the_stock_back_by_whoever_approved_it(
    client: AsyncTestClient[Any], market: Market
) -> None:
    sku = market.sku_a["id"]
    order = await paid_order(client, market, [(sku, 2)])
    part = order["parts"][0]
    response = await refund(
        client, market.manager_a, order["id"], part["id"], part["subtotal_fen"], reason="缺货"
    )
    assert response.status_code == 201, response.text
    assert brief(await history(client, market.manager_a, sku))[-1] == (
        3,
        "order_release",
        2,
        10,
        "refunded: 缺货",
        market.manager_a.id,
        order["id"],
    )


async def test_manual_adjustments_sit_between_orders_in_order(
    client: AsyncTestClient[Any], market: Market
) -> None:
    sku = market.sku_a["id"]
    first = (await place(client, market.buyer, [(sku, 2)])).json()
    adjusted = await client.post(
        f"/api/v1/skus/{sku}/stock-adjustments",
        json={"delta": 15, "reason": "新一批到货"},
        headers=market.manager_a.headers,
    )
    assert adjusted.status_code == 200
    second = (await place(client, market.buyer, [(sku, 5)])).json()
    assert brief(await history(client, market.manager_a, sku))[1:] == [
        (2, "order", -2, 8, "order placed", market.buyer.id, first["id"]),
        (3, "adjustment", 15, 23, "新一批到货", market.manager_a.id, None),
        (4, "order", -5, 18, "order placed", market.buyer.id, second["id"]),
    ]


async def test_a_refused_order_leaves_no_trace(client: AsyncTestClient[Any], market: Market) -> None:
    sku = market.sku_a["id"]
    response = await place(client, market.buyer, [(sku, 11)])
    assert response.status_code == 409
    assert [i["kind"] for i in await history(client, market.manager_a, sku)] == ["created"]


async def test_the_history_adds_up_to_the_stock(client: AsyncTestClient[Any], market: Market) -> None:
    sku = market.sku_a["id"]
    for quantity in (1, 2, 3):
        order = (await place(client, market.buyer, [(sku, quantity)])).json()
        if quantity == 2:
            await client.post(f"/api/v1/orders/{order['id']}/cancel", headers=market.buyer.headers)
    items = await history(client, market.manager_a, sku)
    assert sum(i["delta"] for i in items) == items[0]["stock_after"] == 6
    running = 0
    for item in reversed(items):
        running += item["delta"]
        assert item["stock_after"] == running


async def test_history_pages_newest_first_with_a_cursor(client: AsyncTestClient[Any], seller: Seller) -> None:
    sku = (await create_product(client, seller.manager, seller.coop["id"]))["skus"][0]["id"]
    for delta in range(1, 6):
        await client.post(
            f"/api/v1/skus/{sku}/stock-adjustments",
            json={"delta": delta, "reason": f"到货{delta}"},
            headers=seller.manager.headers,
        )
    seqs: list[int] = []
    sizes: list[int] = []
    cursor = None
    while True:
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(history_url(sku), params=params, headers=seller.manager.headers)).json()
        seqs += [i["seq"] for i in page["items"]]
        sizes.append(len(page["items"]))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seqs == [6, 5, 4, 3, 2, 1]
    assert sizes == [4, 2]


async def test_concurrent_orders_each_record_the_exact_stock_they_left(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given 10 units and 12 buyers ordering one each at once
    sku = market.sku_a["id"]
    buyers = await asyncio.gather(*(register_buyer(client) for _ in range(12)))
    responses = await asyncio.gather(*(place(client, b, [(sku, 1)]) for b in buyers))
    assert sorted(r.status_code for r in responses) == [201] * 10 + [409] * 2
    # Then the history holds each taken unit once, numbered without gaps, each with the stock it left
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(StockAdjustment.seq, StockAdjustment.delta, StockAdjustment.stock_after)  # type: ignore[call-overload]
                .where(StockAdjustment.sku_id == sku)
                .order_by(StockAdjustment.seq)
            )
        ).all()
    assert [tuple(r) for r in rows] == [(1, 10, 10)] + [(n + 2, -1, 9 - n) for n in range(10)]
    assert {r.json()["id"] for r in responses if r.status_code == 201} == {
        i["order_id"] for i in await history(client, market.manager_a, sku, limit=100) if i["kind"] == "order"
    }


async def test_release_stock_records_its_reason_actor_and_order(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    skus = [
        {"code": "A", "spec": "5斤", "price_fen": 3990, "stock": 0},
        {"code": "B", "spec": "10斤", "price_fen": 6990, "stock": 7},
    ]
    a, b = (await create_product(client, seller.manager, seller.coop["id"], skus=skus))["skus"]
    async with db.session() as session:
        await service.release_stock(
            session, {b["id"]: 3, a["id"]: 2}, order_id="01order", actor_id=seller.manager.id, reason="退回"
        )
        await session.commit()
    assert await sku_stock(db, a["id"]) == 2
    assert brief(await history(client, seller.manager, a["id"])) == [
        (1, "order_release", 2, 2, "退回", seller.manager.id, "01order")
    ]
    assert brief(await history(client, seller.manager, b["id"]))[-1] == (
        2,
        "order_release",
        3,
        10,
        "退回",
        seller.manager.id,
        "01order",
    )


# --- authorisation ----------------------------------------------------------------------------


async def test_only_its_managers_read_the_history(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    sku = market.sku_a["id"]
    staff = await make_staff(client, db)
    cases = [
        (market.buyer, 403, "forbidden_role"),
        (staff, 403, "forbidden_role"),
        (market.manager_b, 404, "sku_not_found"),
    ]
    for actor, status, code in cases:
        response = await client.get(history_url(sku), headers=actor.headers)
        assert (response.status_code, response.json()["code"]) == (status, code)
    assert (await client.get(history_url(sku))).status_code == 401
    unknown = await client.get(history_url("01aaaaaaaaaaaaaaaaaaaaaaaa"), headers=market.manager_a.headers)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "sku_not_found")
    # And reading changed nothing
    assert [i["kind"] for i in await history(client, market.manager_a, sku)] == ["created"]


async def test_a_cursor_that_is_not_a_sequence_number_is_422(
    client: AsyncTestClient[Any], market: Market
) -> None:
    from coopmarket.core.pagination import encode_cursor

    response = await client.get(
        history_url(market.sku_a["id"]),
        params={"cursor": encode_cursor(["x"])},
        headers=market.manager_a.headers,
    )
    assert (response.status_code, response.json()["code"]) == (422, "invalid_cursor")
