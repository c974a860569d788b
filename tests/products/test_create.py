"""``POST /api/v1/cooperatives/{id}/products``: a manager lists a product with its SKUs."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from tests.factories import STREET, VILLAGE, Actor, product_payload
from tests.products.builders import Seller, pending_seller, product_count, suspend

SKU = {"code": "YS-5KG", "spec": "5斤装", "price_fen": 3990, "stock": 100}


async def test_create_answers_the_full_product(client: AsyncTestClient[Any], seller: Seller) -> None:
    # Given a manager of an approved cooperative
    payload = product_payload(name="坊子烟薯", skus=[SKU])
    # When they list a product with one SKU
    response = await client.post(seller.products_url, json=payload, headers=seller.manager.headers)
    # Then it is created, active, with the SKU, its cooperative and its village
    assert response.status_code == 201, response.text
    body = response.json()
    sku_id = body["skus"][0]["id"]
    assert body == {
        "id": body["id"],
        "name": "坊子烟薯",
        "category": "vegetables",
        "description": "坊子区沙土地种植的烟薯，香甜软糯。",
        "unit": "box",
        "cooperative_id": seller.coop["id"],
        "origin_village_code": VILLAGE,
        "is_branded": False,
        "status": "active",
        "min_price_fen": 3990,
        "skus": [
            {
                "id": sku_id,
                "code": "YS-5KG",
                "spec": "5斤装",
                "price_fen": 3990,
                "stock": 100,
                "low_stock_threshold": 0,
                "supplier_member_id": None,
                "batch_id": None,
            }
        ],
        "images": [],
        "certifications": [],
        "created_at": body["created_at"],
        "cooperative": {"id": seller.coop["id"], "name": seller.coop["name"], "village_code": VILLAGE},
        "village": {"code": VILLAGE, "name": "赵家村委会"},
    }
    assert len(body["id"]) == 26 and len(sku_id) == 26


async def test_min_price_is_the_lowest_sku_price(client: AsyncTestClient[Any], seller: Seller) -> None:
    # Given three SKUs at different prices
    skus = [
        {"code": "A", "spec": "5斤", "price_fen": 3990, "stock": 1},
        {"code": "B", "spec": "2斤", "price_fen": 1590, "stock": 0},
        {"code": "C", "spec": "10斤", "price_fen": 6990, "stock": 3},
    ]
    # When the product is created
    response = await client.post(
        seller.products_url, json=product_payload(skus=skus), headers=seller.manager.headers
    )
    # Then min_price_fen is the cheapest SKU's price and the SKUs keep their order
    assert response.status_code == 201
    assert response.json()["min_price_fen"] == 1590
    assert [s["code"] for s in response.json()["skus"]] == ["A", "B", "C"]


async def test_fifty_skus_are_accepted(client: AsyncTestClient[Any], seller: Seller) -> None:
    skus = [{"code": f"S{i}", "spec": f"{i}斤", "price_fen": 100 + i, "stock": i} for i in range(50)]
    response = await client.post(
        seller.products_url, json=product_payload(skus=skus), headers=seller.manager.headers
    )
    assert response.status_code == 201
    assert len(response.json()["skus"]) == 50


INVALID_BODIES: dict[str, tuple[dict[str, Any], str]] = {
    "unknown category": ({"category": "electronics"}, "category"),
    "no skus": ({"skus": []}, "skus"),
    "51 skus": (
        {"skus": [{"code": f"S{i}", "spec": "1斤", "price_fen": 100, "stock": 1} for i in range(51)]},
        "skus",
    ),
    "price zero": ({"skus": [{**SKU, "price_fen": 0}]}, "skus[0].price_fen"),
    "negative stock": ({"skus": [{**SKU, "stock": -1}]}, "skus[0].stock"),
    "street code as origin": ({"origin_village_code": STREET}, "origin_village_code"),
    "blank name": ({"name": ""}, "name"),
}


@pytest.mark.parametrize("case", list(INVALID_BODIES), ids=list(INVALID_BODIES))
async def test_invalid_body_is_422_and_creates_nothing(
    client: AsyncTestClient[Any], db: Database, seller: Seller, case: str
) -> None:
    overrides, field = INVALID_BODIES[case]
    # When the body breaks a rule
    response = await client.post(
        seller.products_url, json=product_payload(**overrides), headers=seller.manager.headers
    )
    # Then it is refused naming the field, and no product exists
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "validation_error"
    assert field in [e["field"] for e in response.json()["errors"]]
    assert await product_count(db) == 0


async def test_duplicate_sku_codes_are_refused(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    skus = [SKU, {**SKU, "spec": "另一规格"}]
    response = await client.post(
        seller.products_url, json=product_payload(skus=skus), headers=seller.manager.headers
    )
    assert response.status_code == 422
    assert response.json()["code"] == "duplicate_sku_code"
    assert response.json()["errors"] == [
        {"field": "skus[1].code", "message": "duplicate SKU code within the product"}
    ]
    assert await product_count(db) == 0


async def test_unknown_village_code_is_refused(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    response = await client.post(
        seller.products_url,
        json=product_payload(origin_village_code="370704999999"),
        headers=seller.manager.headers,
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_origin_village"
    assert await product_count(db) == 0


async def test_blank_sku_spec_is_refused(client: AsyncTestClient[Any], db: Database, seller: Seller) -> None:
    response = await client.post(
        seller.products_url,
        json=product_payload(skus=[{**SKU, "spec": "   "}]),
        headers=seller.manager.headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "skus[0].spec", "message": "must not be blank"}]
    assert await product_count(db) == 0


async def test_pending_cooperative_may_not_list_products(client: AsyncTestClient[Any], db: Database) -> None:
    # Given a cooperative still waiting for approval
    pending = await pending_seller(client)
    # When its manager lists a product
    response = await client.post(
        pending.products_url, json=product_payload(), headers=pending.manager.headers
    )
    # Then 409 cooperative_not_approved and nothing is created
    assert response.status_code == 409
    assert response.json()["code"] == "cooperative_not_approved"
    assert await product_count(db) == 0


async def test_suspended_cooperative_may_not_list_products(
    client: AsyncTestClient[Any], db: Database, staff: Actor, seller: Seller
) -> None:
    await suspend(client, staff, seller.coop["id"])
    response = await client.post(seller.products_url, json=product_payload(), headers=seller.manager.headers)
    assert response.status_code == 409
    assert response.json()["code"] == "cooperative_not_approved"
    assert await product_count(db) == 0
