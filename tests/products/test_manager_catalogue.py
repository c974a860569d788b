"""What a manager sees: the cooperative's own catalogue (archived and hidden products included),
unarchiving, and the SKUs running low."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from tests.factories import OTHER_STREET, STREET, Actor, create_product, make_staff, register_buyer
from tests.products.builders import PRODUCTS, Seller, new_seller, product_state, suspend


def catalogue_url(seller: Seller) -> str:
    return f"/api/v1/cooperatives/{seller.coop['id']}/products"


def low_stock_url(seller: Seller) -> str:
    return f"/api/v1/cooperatives/{seller.coop['id']}/low-stock"


async def catalogue(client: AsyncTestClient[Any], actor: Actor, seller: Seller, **params: Any) -> list[str]:
    response = await client.get(catalogue_url(seller), params=params, headers=actor.headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def archive(
    client: AsyncTestClient[Any], seller: Seller, product_id: str, action: str = "archive"
) -> Any:
    return await client.post(f"{PRODUCTS}/{product_id}/{action}", headers=seller.manager.headers)


# --- the cooperative's own catalogue ------------------------------------------------------------


async def test_the_catalogue_holds_archived_products_and_filters_by_status(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    on_sale = (await create_product(client, seller.manager, seller.coop["id"]))["id"]
    archived = (await create_product(client, seller.manager, seller.coop["id"]))["id"]
    assert (await archive(client, seller, archived)).status_code == 200
    assert await catalogue(client, seller.manager, seller) == [archived, on_sale]
    assert await catalogue(client, seller.manager, seller, status="all") == [archived, on_sale]
    assert await catalogue(client, seller.manager, seller, status="active") == [on_sale]
    assert await catalogue(client, seller.manager, seller, status="archived") == [archived]
    # while the public sees the one on sale only
    public = (await client.get(PRODUCTS)).json()["items"]
    assert [p["id"] for p in public] == [on_sale]


async def test_an_item_carries_status_and_every_sku_with_its_stock(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    skus = [
        {"code": "S", "spec": "5斤", "price_fen": 3990, "stock": 4, "low_stock_threshold": 5},
        {"code": "L", "spec": "10斤", "price_fen": 6990, "stock": 30},
    ]
    product = await create_product(client, seller.manager, seller.coop["id"], name="坊子烟薯", skus=skus)
    response = await client.get(catalogue_url(seller), headers=seller.manager.headers)
    assert response.json() == {
        "items": [
            {
                "id": product["id"],
                "name": "坊子烟薯",
                "category": "vegetables",
                "unit": "box",
                "status": "active",
                "origin_village_code": product["origin_village_code"],
                "is_branded": False,
                "price_fen": 3990,
                "skus": [
                    {
                        "id": product["skus"][0]["id"],
                        "code": "S",
                        "spec": "5斤",
                        "price_fen": 3990,
                        "stock": 4,
                        "low_stock_threshold": 5,
                        "supplier_member_id": None,
                        "batch_id": None,
                    },
                    {
                        "id": product["skus"][1]["id"],
                        "code": "L",
                        "spec": "10斤",
                        "price_fen": 6990,
                        "stock": 30,
                        "low_stock_threshold": 0,
                        "supplier_member_id": None,
                        "batch_id": None,
                    },
                ],
                "created_at": product["created_at"],
                "updated_at": response.json()["items"][0]["updated_at"],
            }
        ],
        "next_cursor": None,
    }


async def test_a_suspended_cooperatives_products_stay_visible_to_its_manager(
    client: AsyncTestClient[Any], staff: Actor, seller: Seller
) -> None:
    product = (await create_product(client, seller.manager, seller.coop["id"]))["id"]
    await suspend(client, staff, seller.coop["id"])
    assert (await client.get(PRODUCTS)).json()["items"] == []
    assert await catalogue(client, seller.manager, seller) == [product]


async def test_the_catalogue_pages_with_a_cursor(client: AsyncTestClient[Any], seller: Seller) -> None:
    ids = [(await create_product(client, seller.manager, seller.coop["id"]))["id"] for _ in range(5)]
    await archive(client, seller, ids[1])
    walked: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(catalogue_url(seller), params=params, headers=seller.manager.headers)).json()
        walked += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == ids[::-1]


async def test_staff_in_scope_read_the_catalogue_others_do_not(
    client: AsyncTestClient[Any], db: Database, staff: Actor, seller: Seller
) -> None:
    product = (await create_product(client, seller.manager, seller.coop["id"]))["id"]
    street_staff = await make_staff(client, db, role="street_staff", region_code=STREET)
    other_street = await make_staff(client, db, role="street_staff", region_code=OTHER_STREET)
    other_manager = (await new_seller(client, staff)).manager
    buyer = await register_buyer(client)
    assert await catalogue(client, staff, seller) == [product]
    assert await catalogue(client, street_staff, seller) == [product]
    for actor, status, code in (
        (other_street, 404, "cooperative_not_found"),
        (other_manager, 404, "cooperative_not_found"),
        (buyer, 403, "forbidden_role"),
    ):
        response = await client.get(catalogue_url(seller), headers=actor.headers)
        assert (response.status_code, response.json()["code"]) == (status, code)
    assert (await client.get(catalogue_url(seller))).status_code == 401


# --- unarchive ----------------------------------------------------------------------------------


async def test_unarchive_puts_a_product_back_on_sale(client: AsyncTestClient[Any], seller: Seller) -> None:
    product = (await create_product(client, seller.manager, seller.coop["id"]))["id"]
    await archive(client, seller, product)
    response = await archive(client, seller, product, "unarchive")
    assert response.status_code == 200
    assert response.json()["status"] == "active"
    assert [p["id"] for p in (await client.get(PRODUCTS)).json()["items"]] == [product]
    # and doing it again changes nothing
    again = await archive(client, seller, product, "unarchive")
    assert (again.status_code, again.json()["status"]) == (200, "active")


async def test_only_its_manager_unarchives(
    client: AsyncTestClient[Any], db: Database, staff: Actor, seller: Seller
) -> None:
    product = (await create_product(client, seller.manager, seller.coop["id"]))["id"]
    await archive(client, seller, product)
    before = await product_state(db, product)
    other_manager = (await new_seller(client, staff)).manager
    buyer = await register_buyer(client)
    for actor, status, code in (
        (buyer, 403, "forbidden_role"),
        (staff, 403, "forbidden_role"),
        (other_manager, 404, "product_not_found"),
    ):
        response = await client.post(f"{PRODUCTS}/{product}/unarchive", headers=actor.headers)
        assert (response.status_code, response.json()["code"]) == (status, code)
    assert (await client.post(f"{PRODUCTS}/{product}/unarchive")).status_code == 401
    assert await product_state(db, product) == before
    assert before["status"] == "archived"


# --- low stock ----------------------------------------------------------------------------------


async def low(client: AsyncTestClient[Any], seller: Seller, **params: Any) -> list[tuple[str, int, int]]:
    response = await client.get(low_stock_url(seller), params=params, headers=seller.manager.headers)
    assert response.status_code == 200, response.text
    return [(i["sku_code"], i["stock"], i["low_stock_threshold"]) for i in response.json()["items"]]


async def test_low_stock_lists_skus_at_or_below_their_threshold_emptiest_first(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    skus = [
        {"code": "AT", "spec": "a", "price_fen": 100, "stock": 5, "low_stock_threshold": 5},
        {"code": "BELOW", "spec": "b", "price_fen": 100, "stock": 2, "low_stock_threshold": 5},
        {"code": "ABOVE", "spec": "c", "price_fen": 100, "stock": 6, "low_stock_threshold": 5},
        {"code": "EMPTY", "spec": "d", "price_fen": 100, "stock": 0},
        {"code": "PLENTY", "spec": "e", "price_fen": 100, "stock": 9},
    ]
    product = await create_product(client, seller.manager, seller.coop["id"], name="测试品", skus=skus)
    assert await low(client, seller) == [("EMPTY", 0, 0), ("BELOW", 2, 5), ("AT", 5, 5)]
    item = (await client.get(low_stock_url(seller), headers=seller.manager.headers)).json()["items"][0]
    assert item == {
        "sku_id": product["skus"][3]["id"],
        "sku_code": "EMPTY",
        "spec": "d",
        "stock": 0,
        "low_stock_threshold": 0,
        "product_id": product["id"],
        "product_name": "测试品",
    }


async def test_thresholds_change_through_the_product_edit(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    product = await create_product(
        client,
        seller.manager,
        seller.coop["id"],
        skus=[{"code": "A", "spec": "a", "price_fen": 100, "stock": 8}],
    )
    assert await low(client, seller) == []
    response = await client.patch(
        f"{PRODUCTS}/{product['id']}",
        json={"skus": [{"id": product["skus"][0]["id"], "low_stock_threshold": 10}]},
        headers=seller.manager.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["skus"][0]["low_stock_threshold"] == 10
    assert await low(client, seller) == [("A", 8, 10)]


async def test_a_stock_adjustment_moves_a_sku_off_the_list(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    product = await create_product(
        client,
        seller.manager,
        seller.coop["id"],
        skus=[{"code": "A", "spec": "a", "price_fen": 100, "stock": 3, "low_stock_threshold": 3}],
    )
    assert await low(client, seller) == [("A", 3, 3)]
    await client.post(
        f"/api/v1/skus/{product['skus'][0]['id']}/stock-adjustments",
        json={"delta": 1, "reason": "到货"},
        headers=seller.manager.headers,
    )
    assert await low(client, seller) == []


async def test_archived_products_are_not_low_on_stock(client: AsyncTestClient[Any], seller: Seller) -> None:
    product = await create_product(
        client,
        seller.manager,
        seller.coop["id"],
        skus=[{"code": "A", "spec": "a", "price_fen": 100, "stock": 0}],
    )
    await archive(client, seller, product["id"])
    assert await low(client, seller) == []


async def test_low_stock_pages_with_a_cursor(client: AsyncTestClient[Any], seller: Seller) -> None:
    skus = [
        {"code": f"C{n}", "spec": "x", "price_fen": 100, "stock": n % 3, "low_stock_threshold": 5}
        for n in range(7)
    ]
    await create_product(client, seller.manager, seller.coop["id"], skus=skus)
    seen: list[tuple[str, int, int]] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(low_stock_url(seller), params=params, headers=seller.manager.headers)).json()
        seen += [(i["sku_code"], i["stock"], i["low_stock_threshold"]) for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [stock for _, stock, _ in seen] == [0, 0, 0, 1, 1, 2, 2]
    assert sorted(code for code, _, _ in seen) == sorted(f"C{n}" for n in range(7))


async def test_only_its_managers_see_low_stock(
    client: AsyncTestClient[Any], staff: Actor, seller: Seller
) -> None:
    other_manager = (await new_seller(client, staff)).manager
    buyer = await register_buyer(client)
    for actor, status, code in (
        (buyer, 403, "forbidden_role"),
        (staff, 403, "forbidden_role"),
        (other_manager, 404, "cooperative_not_found"),
    ):
        response = await client.get(low_stock_url(seller), headers=actor.headers)
        assert (response.status_code, response.json()["code"]) == (status, code)
    assert (await client.get(low_stock_url(seller))).status_code == 401
