"""Stock: manual adjustments over HTTP, and the functions checkout uses (``skus_for_order``,
``take_stock``, ``release_stock``), which join the caller's transaction."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import text

from coopmarket.db import Database
from coopmarket.products import service
from coopmarket.products.schemas import SkuForOrder
from tests.factories import Actor, create_product
from tests.products.builders import PRODUCTS, Seller, sku_stock, suspend

ORDER_ID = "01ordernotwrittenbythetest"  # take_stock records the order id; the order row is the caller's
SKUS = [
    {"code": "A", "spec": "5斤", "price_fen": 3990, "stock": 100},
    {"code": "B", "spec": "10斤", "price_fen": 6990, "stock": 7},
]


def adjust_url(sku_id: str) -> str:
    return f"/api/v1/skus/{sku_id}/stock-adjustments"


async def test_adding_stock(client: AsyncTestClient[Any], db: Database, seller: Seller) -> None:
    sku = (await create_product(client, seller.manager, seller.coop["id"], skus=SKUS))["skus"][0]
    response = await client.post(
        adjust_url(sku["id"]), json={"delta": 25, "reason": "新一批到货"}, headers=seller.manager.headers
    )
    assert response.status_code == 200
    assert response.json() == {"sku_id": sku["id"], "stock": 125}
    assert await sku_stock(db, sku["id"]) == 125


async def test_removing_all_stock(client: AsyncTestClient[Any], db: Database, seller: Seller) -> None:
    sku = (await create_product(client, seller.manager, seller.coop["id"], skus=SKUS))["skus"][1]
    response = await client.post(
        adjust_url(sku["id"]), json={"delta": -7, "reason": "破损"}, headers=seller.manager.headers
    )
    assert response.status_code == 200
    assert response.json() == {"sku_id": sku["id"], "stock": 0}


async def test_stock_never_goes_below_zero(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    sku = (await create_product(client, seller.manager, seller.coop["id"], skus=SKUS))["skus"][1]
    response = await client.post(
        adjust_url(sku["id"]), json={"delta": -8, "reason": "盘点"}, headers=seller.manager.headers
    )
    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_stock"
    assert await sku_stock(db, sku["id"]) == 7


async def test_zero_delta_is_422(client: AsyncTestClient[Any], db: Database, seller: Seller) -> None:
    sku = (await create_product(client, seller.manager, seller.coop["id"], skus=SKUS))["skus"][1]
    response = await client.post(
        adjust_url(sku["id"]), json={"delta": 0, "reason": "盘点"}, headers=seller.manager.headers
    )
    assert response.status_code == 422
    assert await sku_stock(db, sku["id"]) == 7


async def test_adjustment_needs_a_reason(client: AsyncTestClient[Any], db: Database, seller: Seller) -> None:
    sku = (await create_product(client, seller.manager, seller.coop["id"], skus=SKUS))["skus"][1]
    response = await client.post(adjust_url(sku["id"]), json={"delta": 3}, headers=seller.manager.headers)
    assert response.status_code == 422
    assert await sku_stock(db, sku["id"]) == 7


async def test_unknown_sku_is_404(client: AsyncTestClient[Any], seller: Seller) -> None:
    response = await client.post(
        adjust_url("01aaaaaaaaaaaaaaaaaaaaaaaa"),
        json={"delta": 1, "reason": "x"},
        headers=seller.manager.headers,
    )
    assert response.status_code == 404
    assert response.json()["code"] == "sku_not_found"


async def test_skus_for_order_describes_each_sku(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"], name="坊子烟薯", skus=SKUS)
    a, b = product["skus"]
    async with db.session() as session:
        found = await service.skus_for_order(session, [b["id"], a["id"], "01aaaaaaaaaaaaaaaaaaaaaaaa"])
    assert found == {
        a["id"]: SkuForOrder(
            sku_id=a["id"],
            product_id=product["id"],
            product_name="坊子烟薯",
            spec="5斤",
            category="vegetables",
            unit="box",
            price_fen=3990,
            cooperative_id=seller.coop["id"],
            is_sellable=True,
        ),
        b["id"]: SkuForOrder(
            sku_id=b["id"],
            product_id=product["id"],
            product_name="坊子烟薯",
            spec="10斤",
            category="vegetables",
            unit="box",
            price_fen=6990,
            cooperative_id=seller.coop["id"],
            is_sellable=True,
        ),
    }


async def test_archived_product_is_not_sellable(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"], skus=SKUS)
    await client.post(f"{PRODUCTS}/{product['id']}/archive", headers=seller.manager.headers)
    async with db.session() as session:
        found = await service.skus_for_order(session, [product["skus"][0]["id"]])
    assert found[product["skus"][0]["id"]].is_sellable is False


async def test_suspended_cooperatives_sku_is_not_sellable(
    client: AsyncTestClient[Any], db: Database, staff: Actor, seller: Seller
) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"], skus=SKUS)
    await suspend(client, staff, seller.coop["id"])
    async with db.session() as session:
        found = await service.skus_for_order(session, [product["skus"][0]["id"]])
    assert found[product["skus"][0]["id"]].is_sellable is False


async def test_take_stock_takes_when_enough(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    sku = (await create_product(client, seller.manager, seller.coop["id"], skus=SKUS))["skus"][1]
    async with db.session() as session:
        taken = await service.take_stock(session, sku["id"], 7, order_id=ORDER_ID, actor_id=None)
        await session.commit()
    assert taken is True
    assert await sku_stock(db, sku["id"]) == 0


async def test_take_stock_refuses_more_than_there_is(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    sku = (await create_product(client, seller.manager, seller.coop["id"], skus=SKUS))["skus"][1]
    async with db.session() as session:
        taken = await service.take_stock(session, sku["id"], 8, order_id=ORDER_ID, actor_id=None)
        await session.commit()
    assert taken is False
    assert await sku_stock(db, sku["id"]) == 7


async def test_take_stock_joins_the_callers_transaction(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    sku = (await create_product(client, seller.manager, seller.coop["id"], skus=SKUS))["skus"][1]
    async with db.session() as session:
        assert await service.take_stock(session, sku["id"], 5, order_id=ORDER_ID, actor_id=None) is True
        await session.rollback()
    assert await sku_stock(db, sku["id"]) == 7


async def test_release_stock_gives_stock_back(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    a, b = (await create_product(client, seller.manager, seller.coop["id"], skus=SKUS))["skus"]
    async with db.session() as session:
        await service.release_stock(
            session, {b["id"]: 3, a["id"]: 10}, order_id=ORDER_ID, actor_id=None, reason="order expired"
        )
        await session.commit()
    assert await sku_stock(db, a["id"]) == 110
    assert await sku_stock(db, b["id"]) == 10


async def adjustments(db: Database, sku_id: str) -> list[tuple[int, int, str, str]]:
    async with db.read() as conn:
        rows = await conn.execute(
            text(
                "SELECT delta, stock_after, reason, actor_id FROM stock_adjustment"
                " WHERE sku_id = :s AND kind = 'adjustment' ORDER BY seq"
            ),
            {"s": sku_id},
        )
        return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def test_every_adjustment_is_recorded_with_its_reason_and_author(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    sku = (await create_product(client, seller.manager, seller.coop["id"], skus=SKUS))["skus"][1]
    for delta, reason in ((5, "新一批到货"), (-3, "破损")):
        response = await client.post(
            adjust_url(sku["id"]), json={"delta": delta, "reason": reason}, headers=seller.manager.headers
        )
        assert response.status_code == 200
    refused = await client.post(
        adjust_url(sku["id"]), json={"delta": -100, "reason": "盘点"}, headers=seller.manager.headers
    )
    assert refused.status_code == 409

    assert await adjustments(db, sku["id"]) == [
        (5, 12, "新一批到货", seller.manager.id),
        (-3, 9, "破损", seller.manager.id),
    ]
