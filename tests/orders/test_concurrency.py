"""Stock never oversells, whatever the concurrency (both databases)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from tests.factories import register_buyer
from tests.orders.builders import build_market, place, sku_stock

pytestmark = pytest.mark.slow


async def test_fifty_buyers_at_once_for_seven_units_make_exactly_seven_orders(
    client: AsyncTestClient[Any], db: Database
) -> None:
    market = await build_market(client, db, stock_a=7)
    buyers = await asyncio.gather(*(register_buyer(client) for _ in range(50)))

    responses = await asyncio.gather(*(place(client, buyer, [(market.sku_a["id"], 1)]) for buyer in buyers))

    statuses = [r.status_code for r in responses]
    assert all(status < 500 for status in statuses), [r.text for r in responses if r.status_code >= 500][:3]
    assert statuses.count(201) == 7
    assert statuses.count(409) == 43
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"out_of_stock"}
    products = (await client.get("/api/v1/products", params={"cooperative_id": market.coop_a["id"]})).json()
    assert await sku_stock(client, products["items"][0]["id"], market.sku_a["id"]) == 0
    placed = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(placed) == 7


async def test_the_same_key_sent_twice_at_once_places_one_order(
    client: AsyncTestClient[Any], db: Database
) -> None:
    market = await build_market(client, db, stock_a=10)

    responses = await asyncio.gather(
        *(place(client, market.buyer, [(market.sku_a["id"], 1)], key="double-click") for _ in range(5))
    )

    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, statuses
    created = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(created) == 1
    assert {r.json()["code"] for r in responses if r.status_code == 409} <= {
        "idempotency_request_in_progress"
    }
    products = (await client.get("/api/v1/products", params={"cooperative_id": market.coop_a["id"]})).json()
    assert await sku_stock(client, products["items"][0]["id"], market.sku_a["id"]) == 9
