"""Member attribution (Art. 41): a SKU or its current batch names the supplying member, checked to be
a member of the same cooperative; checkout copies it onto the order line; no member is a
non-member transaction."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from tests.factories import Actor
from tests.orders.builders import Market, build_market, place

URL = "/api/v1/cooperatives"


async def add_member(client: AsyncTestClient[Any], manager: Actor, coop_id: str, name: str = "赵大山") -> str:
    response = await client.post(
        f"{URL}/{coop_id}/members",
        json={"name": name, "kind": "household", "capital_fen": 100_000},
        headers=manager.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]  # type: ignore[no-any-return]


async def product_of(client: AsyncTestClient[Any], market: Market) -> str:
    response = await client.get("/api/v1/products", params={"cooperative_id": market.coop_a["id"]})
    return response.json()["items"][0]["id"]  # type: ignore[no-any-return]


async def patch_sku(
    client: AsyncTestClient[Any], manager: Actor, product_id: str, sku_id: str, **change: Any
) -> Any:
    return await client.patch(
        f"/api/v1/products/{product_id}", json={"skus": [{"id": sku_id, **change}]}, headers=manager.headers
    )


async def test_an_order_line_copies_the_skus_supplying_member(client: AsyncTestClient[Any], db: Database) -> None:
    market = await build_market(client, db)
    member = await add_member(client, market.manager_a, market.coop_a["id"])
    product_id = await product_of(client, market)
    response = await patch_sku(client, market.manager_a, product_id, market.sku_a["id"], supplier_member_id=member)
    assert response.status_code == 200, response.text
    assert response.json()["skus"][0]["supplier_member_id"] == member

    response = await place(client, market.buyer, [(market.sku_a["id"], 1), (market.sku_b["id"], 1)])
    assert response.status_code == 201, response.text
    lines = {line["sku_id"]: line for part in response.json()["parts"] for line in part["lines"]}
    assert lines[market.sku_a["id"]]["member_id"] == member
    # Cooperative B's SKU names nobody: a non-member transaction.
    assert lines[market.sku_b["id"]]["member_id"] is None
    # And the order as read back says the same.
    order = await client.get(f"/api/v1/orders/{response.json()['id']}", headers=market.buyer.headers)
    read = {line["sku_id"]: line["member_id"] for part in order.json()["parts"] for line in part["lines"]}
    assert read == {market.sku_a["id"]: member, market.sku_b["id"]: None}


async def test_a_batch_naming_a_member_overrides_the_skus(client: AsyncTestClient[Any], db: Database) -> None:
    market = await build_market(client, db)
    default = await add_member(client, market.manager_a, market.coop_a["id"], "赵大山")
    grower = await add_member(client, market.manager_a, market.coop_a["id"], "钱小河")
    product_id = await product_of(client, market)
    batch = await client.post(
        f"/api/v1/products/{product_id}/batches",
        json={"produced_on": "2026-01-10", "quantity": 500, "unit": "kg", "member_id": grower},
        headers=market.manager_a.headers,
    )
    assert batch.status_code == 201, batch.text
    response = await patch_sku(
        client, market.manager_a, product_id, market.sku_a["id"], supplier_member_id=default, batch_id=batch.json()["id"]
    )
    assert response.status_code == 200, response.text

    response = await place(client, market.buyer, [(market.sku_a["id"], 2)])
    assert response.status_code == 201, response.text
    assert response.json()["parts"][0]["lines"][0]["member_id"] == grower


async def test_a_member_of_another_cooperative_is_refused(client: AsyncTestClient[Any], db: Database) -> None:
    market = await build_market(client, db)
    outsider = await add_member(client, market.manager_b, market.coop_b["id"])
    product_id = await product_of(client, market)
    response = await patch_sku(client, market.manager_a, product_id, market.sku_a["id"], supplier_member_id=outsider)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "member_not_in_cooperative"
    # A new product naming them is refused as well, and nothing is created.
    response = await client.post(
        f"{URL}/{market.coop_a['id']}/products",
        json={
            "name": "坊子青萝卜",
            "category": "vegetables",
            "unit": "box",
            "origin_village_code": market.coop_a["village_code"],
            "skus": [{"code": "Q1", "spec": "一箱", "price_fen": 990, "stock": 5, "supplier_member_id": outsider}],
        },
        headers=market.manager_a.headers,
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "member_not_in_cooperative"


async def test_a_batch_of_another_product_is_refused(client: AsyncTestClient[Any], db: Database) -> None:
    market = await build_market(client, db)
    products = await client.get("/api/v1/products", params={"cooperative_id": market.coop_b["id"]})
    other_product = products.json()["items"][0]["id"]
    batch = await client.post(
        f"/api/v1/products/{other_product}/batches",
        json={"produced_on": "2026-01-10", "quantity": 5, "unit": "kg"},
        headers=market.manager_b.headers,
    )
    assert batch.status_code == 201, batch.text
    product_id = await product_of(client, market)
    response = await patch_sku(client, market.manager_a, product_id, market.sku_a["id"], batch_id=batch.json()["id"])
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "batch_not_of_product"
