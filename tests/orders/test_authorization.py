"""Every order and payment endpoint refuses those it does not act for, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from tests.factories import OTHER_STREET, Actor, make_staff, register_buyer
from tests.orders.builders import Market, build_market, new_key, place


@pytest.fixture
async def market(client: AsyncTestClient[Any], db: Database) -> Market:
    return await build_market(client, db)


async def snapshot(client: AsyncTestClient[Any], market: Market, order_id: str) -> dict[str, Any]:
    """The order as its buyer sees it, plus stock: what must not change after a refusal."""
    order = (await client.get(f"/api/v1/orders/{order_id}", headers=market.buyer.headers)).json()
    products = (await client.get("/api/v1/products", params={"cooperative_id": market.coop_a["id"]})).json()
    detail = (await client.get(f"/api/v1/products/{products['items'][0]['id']}")).json()
    return {"order": order, "stock": [s["stock"] for s in detail["skus"]]}


@pytest.fixture
async def order(client: AsyncTestClient[Any], market: Market) -> dict[str, Any]:
    response = await place(client, market.buyer, [(market.sku_a["id"], 2)])
    assert response.status_code == 201
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture
async def stranger(client: AsyncTestClient[Any]) -> Actor:
    return await register_buyer(client, display_name="路人")


async def test_another_buyer_cannot_see_the_order(
    client: AsyncTestClient[Any], market: Market, order: dict[str, Any], stranger: Actor
) -> None:
    response = await client.get(f"/api/v1/orders/{order['id']}", headers=stranger.headers)
    assert response.status_code == 404 and response.json()["code"] == "order_not_found"
    listed = await client.get("/api/v1/orders", headers=stranger.headers)
    assert listed.json()["items"] == []


async def test_anonymous_callers_are_asked_to_sign_in(
    client: AsyncTestClient[Any], order: dict[str, Any]
) -> None:
    for method, path in [
        ("GET", "/api/v1/orders"),
        ("GET", f"/api/v1/orders/{order['id']}"),
        ("POST", f"/api/v1/orders/{order['id']}/cancel"),
        ("POST", f"/api/v1/orders/{order['id']}/payments"),
    ]:
        response = await client.request(method, path, headers={"Idempotency-Key": new_key()})
        assert response.status_code == 401, (method, path, response.text)


async def test_another_buyer_cannot_cancel(
    client: AsyncTestClient[Any], market: Market, order: dict[str, Any], stranger: Actor
) -> None:
    before = await snapshot(client, market, order["id"])
    response = await client.post(f"/api/v1/orders/{order['id']}/cancel", headers=stranger.headers)
    assert response.status_code == 404
    assert await snapshot(client, market, order["id"]) == before


async def test_a_manager_cannot_cancel_another_cooperatives_part(
    client: AsyncTestClient[Any], market: Market, order: dict[str, Any]
) -> None:
    before = await snapshot(client, market, order["id"])
    response = await client.post(f"/api/v1/orders/{order['id']}/cancel", headers=market.manager_b.headers)
    assert response.status_code == 404
    assert await snapshot(client, market, order["id"]) == before


async def test_staff_outside_the_scope_cannot_see_or_cancel(
    client: AsyncTestClient[Any], db: Database, market: Market, order: dict[str, Any]
) -> None:
    other_street_staff = await make_staff(client, db, role="street_staff", region_code=OTHER_STREET)
    before = await snapshot(client, market, order["id"])
    seen = await client.get(f"/api/v1/orders/{order['id']}", headers=other_street_staff.headers)
    cancelled = await client.post(f"/api/v1/orders/{order['id']}/cancel", headers=other_street_staff.headers)
    assert (seen.status_code, cancelled.status_code) == (404, 404)
    assert await snapshot(client, market, order["id"]) == before


async def test_only_the_parts_cooperative_ships_it(
    client: AsyncTestClient[Any], market: Market, order: dict[str, Any], stranger: Actor
) -> None:
    await client.post(
        f"/api/v1/orders/{order['id']}/offline-payments",
        json={"reference": "R-1", "amount_fen": order["total_fen"]},
        headers=market.manager_a.headers,
    )
    before = await snapshot(client, market, order["id"])
    path = f"/api/v1/orders/{order['id']}/parts/{order['parts'][0]['id']}/ship"
    body = {"carrier": "EMS", "tracking_number": "E9"}
    for actor in (market.manager_b, market.buyer, stranger, market.staff):
        response = await client.post(path, json=body, headers=actor.headers)
        assert response.status_code == 404, (actor.role, response.text)
    assert await snapshot(client, market, order["id"]) == before


async def test_only_the_buyer_confirms_receipt(
    client: AsyncTestClient[Any], market: Market, order: dict[str, Any], stranger: Actor
) -> None:
    await client.post(
        f"/api/v1/orders/{order['id']}/offline-payments",
        json={"reference": "R-2", "amount_fen": order["total_fen"]},
        headers=market.manager_a.headers,
    )
    await client.post(
        f"/api/v1/orders/{order['id']}/parts/{order['parts'][0]['id']}/ship",
        json={"carrier": "EMS", "tracking_number": "E10"},
        headers=market.manager_a.headers,
    )
    before = await snapshot(client, market, order["id"])
    path = f"/api/v1/orders/{order['id']}/parts/{order['parts'][0]['id']}/receive"
    for actor in (stranger, market.manager_a, market.staff):
        response = await client.post(path, headers=actor.headers)
        assert response.status_code == 404, (actor.role, response.text)
    assert await snapshot(client, market, order["id"]) == before


async def test_offline_payment_is_not_for_buyers_or_strangers(
    client: AsyncTestClient[Any], market: Market, order: dict[str, Any], stranger: Actor
) -> None:
    before = await snapshot(client, market, order["id"])
    path = f"/api/v1/orders/{order['id']}/offline-payments"
    body = {"reference": "FAKE", "amount_fen": order["total_fen"]}
    own = await client.post(path, json=body, headers=market.buyer.headers)
    other = await client.post(path, json=body, headers=stranger.headers)
    unrelated_manager = await client.post(path, json=body, headers=market.manager_b.headers)
    assert own.status_code == 403 and own.json()["code"] == "forbidden_role"
    assert other.status_code == 404
    assert unrelated_manager.status_code == 404
    assert await snapshot(client, market, order["id"]) == before


async def test_another_buyer_cannot_start_a_payment(
    client: AsyncTestClient[Any], market: Market, order: dict[str, Any], stranger: Actor
) -> None:
    response = await client.post(
        f"/api/v1/orders/{order['id']}/payments",
        json={},
        headers={**stranger.headers, "Idempotency-Key": new_key()},
    )
    assert response.status_code == 404


async def test_staff_and_managers_of_a_store_cannot_be_confused_for_buyers(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    response = await place(client, market.staff, [(market.sku_a["id"], 1)])
    assert response.status_code == 403 and response.json()["code"] == "forbidden_role"
    listed = await client.get("/api/v1/orders", headers=market.staff.headers)
    assert listed.json()["items"] == []


async def test_a_manager_may_buy_from_another_cooperative(
    client: AsyncTestClient[Any], market: Market
) -> None:
    response = await place(client, market.manager_b, [(market.sku_a["id"], 1)])
    assert response.status_code == 201
    # The seller sees the part; the buying manager sees their own order in full.
    seen_by_seller = await client.get(
        f"/api/v1/orders/{response.json()['id']}", headers=market.manager_a.headers
    )
    assert seen_by_seller.status_code == 200
    assert seen_by_seller.json()["shipping_address"]["phone"] == "139****5678"


async def test_a_suspended_cooperatives_products_cannot_be_ordered(
    client: AsyncTestClient[Any], market: Market
) -> None:
    suspended = await client.post(
        f"/api/v1/cooperatives/{market.coop_a['id']}/suspend",
        json={"reason": "质量抽检不合格"},
        headers=market.staff.headers,
    )
    assert suspended.status_code == 200, suspended.text
    response = await place(client, market.buyer, [(market.sku_a["id"], 1)])
    # The registry's lifecycle (issue 7) says why: the cooperative is suspended, not the SKU unknown.
    assert response.status_code == 409 and response.json()["code"] == "cooperative_suspended", response.text
