"""Who may act on the catalogue. Another cooperative's manager gets 404 (ids cannot be probed),
a role that never manages products gets 403 ``forbidden_role``, a stranger 401; and each
refusal leaves the data as it was."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from tests.factories import Actor, create_product, product_payload, register_buyer
from tests.products.builders import PRODUCTS, Seller, new_seller, product_count, product_state, sku_stock

# caller kind → expected status and problem code
REFUSALS = {
    "other_manager": (404, None),
    "buyer": (403, "forbidden_role"),
    "staff": (403, "forbidden_role"),
    "stranger": (401, None),
    "bad_token": (401, None),
}


async def headers_for(kind: str, client: AsyncTestClient[Any], staff: Actor) -> dict[str, str]:
    if kind == "other_manager":
        return (await new_seller(client, staff)).manager.headers
    if kind == "buyer":
        return (await register_buyer(client)).headers
    if kind == "staff":
        return staff.headers
    if kind == "bad_token":
        return {"Authorization": "Bearer not-a-token"}
    return {}


def assert_refused(response: Any, kind: str) -> None:
    status, code = REFUSALS[kind]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    if code is not None:
        assert response.json()["code"] == code


@pytest.mark.parametrize("kind", list(REFUSALS))
async def test_only_its_manager_creates_products(
    client: AsyncTestClient[Any], db: Database, staff: Actor, seller: Seller, kind: str
) -> None:
    headers = await headers_for(kind, client, staff)
    response = await client.post(seller.products_url, json=product_payload(), headers=headers)
    assert_refused(response, kind)
    assert await product_count(db) == 0


async def test_create_for_an_unknown_cooperative_is_404(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    response = await client.post(
        "/api/v1/cooperatives/01aaaaaaaaaaaaaaaaaaaaaaaa/products",
        json=product_payload(),
        headers=seller.manager.headers,
    )
    assert response.status_code == 404
    assert response.json()["code"] == "cooperative_not_found"
    assert await product_count(db) == 0


@pytest.mark.parametrize("kind", list(REFUSALS))
async def test_only_its_manager_edits_a_product(
    client: AsyncTestClient[Any], db: Database, staff: Actor, seller: Seller, kind: str
) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    before = await product_state(db, product["id"])
    headers = await headers_for(kind, client, staff)
    response = await client.patch(
        f"{PRODUCTS}/{product['id']}",
        json={"name": "被篡改", "skus": [{"id": product["skus"][0]["id"], "price_fen": 1}]},
        headers=headers,
    )
    assert_refused(response, kind)
    assert await product_state(db, product["id"]) == before


@pytest.mark.parametrize("kind", list(REFUSALS))
async def test_only_its_manager_archives_a_product(
    client: AsyncTestClient[Any], db: Database, staff: Actor, seller: Seller, kind: str
) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    headers = await headers_for(kind, client, staff)
    response = await client.post(f"{PRODUCTS}/{product['id']}/archive", headers=headers)
    assert_refused(response, kind)
    assert (await product_state(db, product["id"]))["status"] == "active"


@pytest.mark.parametrize("kind", list(REFUSALS))
async def test_only_its_manager_adjusts_stock(
    client: AsyncTestClient[Any], db: Database, staff: Actor, seller: Seller, kind: str
) -> None:
    sku = (await create_product(client, seller.manager, seller.coop["id"]))["skus"][0]
    headers = await headers_for(kind, client, staff)
    response = await client.post(
        f"/api/v1/skus/{sku['id']}/stock-adjustments", json={"delta": -50, "reason": "x"}, headers=headers
    )
    assert_refused(response, kind)
    assert await sku_stock(db, sku["id"]) == 100
