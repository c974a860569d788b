"""``PATCH /api/v1/products/{id}`` and ``POST /api/v1/products/{id}/archive`` by the manager."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from tests.factories import OTHER_VILLAGE, STREET, create_product
from tests.products.builders import PRODUCTS, Seller, product_state

TWO_SKUS = [
    {"code": "SMALL", "spec": "5斤", "price_fen": 3990, "stock": 10},
    {"code": "BIG", "spec": "10斤", "price_fen": 6990, "stock": 4},
]


async def test_patch_changes_the_product_fields(client: AsyncTestClient[Any], seller: Seller) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    changes = {
        "name": "坊子蜜薯",
        "category": "processed",
        "description": "烤制蜜薯干",
        "unit": "bag",
        "origin_village_code": OTHER_VILLAGE,
    }
    response = await client.patch(f"{PRODUCTS}/{product['id']}", json=changes, headers=seller.manager.headers)
    assert response.status_code == 200, response.text
    expected = product | changes | {"village": {"code": OTHER_VILLAGE, "name": "河北郎郡庄村委会"}}
    assert response.json() == expected
    assert (await client.get(f"{PRODUCTS}/{product['id']}")).json() == expected


async def test_lowering_a_sku_price_lowers_min_price(client: AsyncTestClient[Any], seller: Seller) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"], skus=TWO_SKUS)
    big = product["skus"][1]
    response = await client.patch(
        f"{PRODUCTS}/{product['id']}",
        json={"skus": [{"id": big["id"], "price_fen": 2990}]},
        headers=seller.manager.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["min_price_fen"] == 2990
    assert [s["price_fen"] for s in response.json()["skus"]] == [3990, 2990]
    listed = (await client.get(PRODUCTS)).json()["items"]
    assert listed[0]["price_fen"] == 2990


async def test_raising_the_cheapest_price_raises_min_price(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"], skus=TWO_SKUS)
    small = product["skus"][0]
    response = await client.patch(
        f"{PRODUCTS}/{product['id']}",
        json={"skus": [{"id": small["id"], "price_fen": 7990, "spec": "5斤精选"}]},
        headers=seller.manager.headers,
    )
    assert response.status_code == 200
    assert response.json()["min_price_fen"] == 6990
    assert response.json()["skus"][0] == small | {"price_fen": 7990, "spec": "5斤精选"}


async def test_adding_a_sku(client: AsyncTestClient[Any], seller: Seller) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"], skus=TWO_SKUS)
    new_sku = {"code": "TRIAL", "spec": "1斤试吃", "price_fen": 990, "stock": 30}
    response = await client.patch(
        f"{PRODUCTS}/{product['id']}", json={"skus": [new_sku]}, headers=seller.manager.headers
    )
    assert response.status_code == 200
    body = response.json()
    assert body["min_price_fen"] == 990
    assert body["skus"][:2] == product["skus"]
    assert body["skus"][2] == new_sku | {
        "id": body["skus"][2]["id"],
        "low_stock_threshold": 0,
        "supplier_member_id": None,
        "batch_id": None,
    }


async def test_new_sku_with_a_taken_code_is_refused(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"], skus=TWO_SKUS)
    before = await product_state(db, product["id"])
    response = await client.patch(
        f"{PRODUCTS}/{product['id']}",
        json={"name": "改名", "skus": [{"code": "BIG", "spec": "大箱", "price_fen": 100, "stock": 1}]},
        headers=seller.manager.headers,
    )
    assert response.status_code == 422
    assert response.json()["code"] == "duplicate_sku_code"
    assert await product_state(db, product["id"]) == before


async def test_sku_of_another_product_is_refused(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    other = await create_product(client, seller.manager, seller.coop["id"])
    before = await product_state(db, other["id"])
    response = await client.patch(
        f"{PRODUCTS}/{product['id']}",
        json={"skus": [{"id": other["skus"][0]["id"], "price_fen": 1}]},
        headers=seller.manager.headers,
    )
    assert response.status_code == 422
    assert response.json()["code"] == "unknown_sku"
    assert await product_state(db, other["id"]) == before


async def test_stock_is_not_set_through_patch(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    before = await product_state(db, product["id"])
    response = await client.patch(
        f"{PRODUCTS}/{product['id']}",
        json={"skus": [{"id": product["skus"][0]["id"], "stock": 999}]},
        headers=seller.manager.headers,
    )
    assert response.status_code == 422
    assert await product_state(db, product["id"]) == before


async def test_new_sku_needs_every_field(client: AsyncTestClient[Any], db: Database, seller: Seller) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    before = await product_state(db, product["id"])
    response = await client.patch(
        f"{PRODUCTS}/{product['id']}",
        json={"skus": [{"code": "NEW", "price_fen": 100}]},
        headers=seller.manager.headers,
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["skus[0].spec", "skus[0].stock"]
    assert await product_state(db, product["id"]) == before


async def test_patch_to_a_street_code_is_refused(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    before = await product_state(db, product["id"])
    response = await client.patch(
        f"{PRODUCTS}/{product['id']}", json={"origin_village_code": STREET}, headers=seller.manager.headers
    )
    assert response.status_code == 422
    assert await product_state(db, product["id"]) == before


async def test_archive_answers_the_archived_product(client: AsyncTestClient[Any], seller: Seller) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    response = await client.post(f"{PRODUCTS}/{product['id']}/archive", headers=seller.manager.headers)
    assert response.status_code == 200
    assert response.json() == product | {"status": "archived"}
    assert (await client.get(PRODUCTS)).json()["items"] == []


async def test_archive_twice_is_harmless(client: AsyncTestClient[Any], seller: Seller) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    await client.post(f"{PRODUCTS}/{product['id']}/archive", headers=seller.manager.headers)
    response = await client.post(f"{PRODUCTS}/{product['id']}/archive", headers=seller.manager.headers)
    assert response.status_code == 200
    assert response.json()["status"] == "archived"
