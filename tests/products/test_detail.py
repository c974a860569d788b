"""``GET /api/v1/products/{id}`` and who sees what: archived products and products of
cooperatives that are not approved are hidden from the public, but not from their managers."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from tests.factories import OTHER_VILLAGE, VILLAGE, Actor, create_product, register_buyer
from tests.products.builders import PRODUCTS, Seller, insert_product, new_seller, pending_seller, suspend


async def test_detail_carries_skus_cooperative_and_village(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    # Given a product from 河北郎郡庄村
    product = await create_product(
        client, seller.manager, seller.coop["id"], origin_village_code=OTHER_VILLAGE
    )
    # When anyone asks for it
    response = await client.get(f"{PRODUCTS}/{product['id']}")
    # Then it answers with SKUs, the cooperative and the village name
    assert response.status_code == 200
    body = response.json()
    assert body == product | {"village": {"code": OTHER_VILLAGE, "name": "河北郎郡庄村委会"}}
    assert body["cooperative"] == {
        "id": seller.coop["id"],
        "name": seller.coop["name"],
        "village_code": VILLAGE,
    }
    assert body["skus"] == product["skus"]


async def test_unknown_product_is_404(client: AsyncTestClient[Any]) -> None:
    response = await client.get(f"{PRODUCTS}/01aaaaaaaaaaaaaaaaaaaaaaaa")
    assert response.status_code == 404
    assert response.json()["code"] == "product_not_found"


async def test_archived_product_is_hidden_from_the_public(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    # Given an archived product
    product = await create_product(client, seller.manager, seller.coop["id"])
    archived = await client.post(f"{PRODUCTS}/{product['id']}/archive", headers=seller.manager.headers)
    assert archived.status_code == 200
    buyer = await register_buyer(client)
    # Then neither the list nor the detail shows it to the public or a buyer
    assert (await client.get(PRODUCTS)).json()["items"] == []
    assert (await client.get(f"{PRODUCTS}/{product['id']}")).status_code == 404
    assert (await client.get(f"{PRODUCTS}/{product['id']}", headers=buyer.headers)).status_code == 404


async def test_manager_still_sees_an_archived_product(client: AsyncTestClient[Any], seller: Seller) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    await client.post(f"{PRODUCTS}/{product['id']}/archive", headers=seller.manager.headers)
    response = await client.get(f"{PRODUCTS}/{product['id']}", headers=seller.manager.headers)
    assert response.status_code == 200
    assert response.json()["status"] == "archived"


async def test_other_manager_does_not_see_an_archived_product(
    client: AsyncTestClient[Any], staff: Actor, seller: Seller
) -> None:
    other = await new_seller(client, staff)
    product = await create_product(client, seller.manager, seller.coop["id"])
    await client.post(f"{PRODUCTS}/{product['id']}/archive", headers=seller.manager.headers)
    response = await client.get(f"{PRODUCTS}/{product['id']}", headers=other.manager.headers)
    assert response.status_code == 404


async def test_suspended_cooperatives_products_are_hidden_from_the_public(
    client: AsyncTestClient[Any], staff: Actor, seller: Seller
) -> None:
    # Given a product of a cooperative that is then suspended, and one of another cooperative
    hidden = await create_product(client, seller.manager, seller.coop["id"])
    other = await new_seller(client, staff)
    shown = await create_product(client, other.manager, other.coop["id"])
    await suspend(client, staff, seller.coop["id"])
    # Then the public sees only the other cooperative's product
    assert [i["id"] for i in (await client.get(PRODUCTS)).json()["items"]] == [shown["id"]]
    assert (await client.get(f"{PRODUCTS}/{hidden['id']}")).status_code == 404
    # And the suspended cooperative's manager still sees their product
    mine = await client.get(f"{PRODUCTS}/{hidden['id']}", headers=seller.manager.headers)
    assert mine.status_code == 200


async def test_pending_cooperatives_products_are_hidden_from_the_public(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given a product stored for a cooperative that is not approved yet
    pending = await pending_seller(client)
    product_id = await insert_product(db, pending.coop["id"], VILLAGE)
    # Then the public neither lists nor finds it, filtered by cooperative or not
    assert (await client.get(PRODUCTS)).json()["items"] == []
    assert (await client.get(PRODUCTS, params={"cooperative_id": pending.coop["id"]})).json()["items"] == []
    assert (await client.get(f"{PRODUCTS}/{product_id}")).status_code == 404
    # And its manager sees it
    assert (await client.get(f"{PRODUCTS}/{product_id}", headers=pending.manager.headers)).status_code == 200
