"""A small marketplace for order tests: staff, two approved cooperatives with one SKU each, a buyer."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from tests.factories import (
    OTHER_VILLAGE,
    VILLAGE,
    Actor,
    approved_cooperative,
    create_product,
    make_staff,
    register_buyer,
)

_keys = itertools.count(1)

ADDRESS = {
    "name": "王芳",
    "phone": "13912345678",
    "detail": "坊子区凤凰街道北海路100号",
    "region_code": VILLAGE,
}


def new_key() -> str:
    return f"test-key-{next(_keys)}"


@dataclass
class Market:
    staff: Actor
    manager_a: Actor
    manager_b: Actor
    coop_a: dict[str, Any]
    coop_b: dict[str, Any]
    sku_a: dict[str, Any]  # 3990 fen, stock 100
    sku_b: dict[str, Any]  # 1250 fen, stock 50
    buyer: Actor


async def build_market(
    client: AsyncTestClient[Any], db: Database, *, stock_a: int = 100, stock_b: int = 50
) -> Market:
    staff = await make_staff(client, db)
    manager_a, coop_a = await approved_cooperative(
        client,
        staff,
        charter={"reserve_rate_bps": 1000, "patronage_return_bps": 7000, "collective_sales_share_bps": 1000},
    )
    manager_b, coop_b = await approved_cooperative(
        client,
        staff,
        village_code=OTHER_VILLAGE,
        charter={"reserve_rate_bps": 500, "patronage_return_bps": 6000, "collective_sales_share_bps": 2000},
    )
    product_a = await create_product(
        client,
        manager_a,
        coop_a["id"],
        skus=[{"code": "A-5KG", "spec": "5斤装", "price_fen": 3990, "stock": stock_a}],
    )
    product_b = await create_product(
        client,
        manager_b,
        coop_b["id"],
        category="fruit",
        origin_village_code=OTHER_VILLAGE,
        skus=[{"code": "B-BOX", "spec": "一箱", "price_fen": 1250, "stock": stock_b}],
    )
    buyer = await register_buyer(client)
    return Market(
        staff, manager_a, manager_b, coop_a, coop_b, product_a["skus"][0], product_b["skus"][0], buyer
    )


def order_body(lines: list[tuple[str, int]], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "lines": [{"sku_id": sku_id, "quantity": quantity} for sku_id, quantity in lines],
        "shipping_address": ADDRESS,
        "payment_method": "offline",
        "note": "请周末送货",
    }
    body.update(overrides)
    return body


async def place(
    client: AsyncTestClient[Any],
    buyer: Actor,
    lines: list[tuple[str, int]],
    *,
    key: str | None = None,
    **overrides: Any,
) -> Any:
    headers = {**buyer.headers, "Idempotency-Key": key or new_key()}
    return await client.post("/api/v1/orders", json=order_body(lines, **overrides), headers=headers)


async def sku_stock(client: AsyncTestClient[Any], product_id: str, sku_id: str) -> int:
    response = await client.get(f"/api/v1/products/{product_id}")
    assert response.status_code == 200, response.text
    return next(s["stock"] for s in response.json()["skus"] if s["id"] == sku_id)  # type: ignore[no-any-return]
