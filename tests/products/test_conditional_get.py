"""ETag and Cache-Control on the public catalogue: a conditional GET answers 304 with no body until
the answer changes (a price, a suspension), and then the new answer with a new ETag."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from tests.factories import Actor, create_product
from tests.products.builders import PRODUCTS, Seller, suspend
from tests.products.test_trace import TRACE, _batch


def one_sku(price_fen: int) -> list[dict[str, Any]]:
    return [{"code": "ONLY", "spec": "一份", "price_fen": price_fen, "stock": 10}]


async def reprice(client: AsyncTestClient[Any], seller: Seller, product: dict[str, Any], price_fen: int) -> None:
    sku_id = product["skus"][0]["id"]
    response = await client.patch(
        f"{PRODUCTS}/{product['id']}",
        json={"skus": [{"id": sku_id, "price_fen": price_fen}]},
        headers=seller.manager.headers,
    )
    assert response.status_code == 200, response.text


async def test_list_answers_304_until_a_price_changes(client: AsyncTestClient[Any], seller: Seller) -> None:
    # Given a listed product and a first answer with its ETag
    product = await create_product(client, seller.manager, seller.coop["id"], skus=one_sku(3990))
    first = await client.get(PRODUCTS)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert first.headers["cache-control"] == "public, no-cache"
    # When the client asks again with If-None-Match
    again = await client.get(PRODUCTS, headers={"If-None-Match": etag})
    # Then 304, no body, the same validator
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    # A list of tags, weak or strong, matches too; another tag does not
    assert (await client.get(PRODUCTS, headers={"If-None-Match": f'"x", W/{etag}'})).status_code == 304
    assert (await client.get(PRODUCTS, headers={"If-None-Match": '"other"'})).status_code == 200
    # ... and so does a list spread over several header lines
    split = [("If-None-Match", '"x"'), ("If-None-Match", etag)]
    assert (await client.get(PRODUCTS, headers=split)).status_code == 304
    # When the price changes
    await reprice(client, seller, product, 2990)
    # Then the same conditional GET gets the new price and a new ETag
    changed = await client.get(PRODUCTS, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.json()["items"][0]["price_fen"] == 2990
    assert changed.headers["etag"] != etag


async def test_filters_have_their_own_etag(client: AsyncTestClient[Any], seller: Seller) -> None:
    await create_product(client, seller.manager, seller.coop["id"], category="fruit")
    everything = await client.get(PRODUCTS)
    vegetables = await client.get(PRODUCTS, params={"category": "vegetables"})
    assert everything.headers["etag"] != vegetables.headers["etag"]


async def test_detail_answers_304_until_the_cooperative_is_suspended(
    client: AsyncTestClient[Any], staff: Actor, seller: Seller
) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    url = f"{PRODUCTS}/{product['id']}"
    first = await client.get(url)
    assert first.status_code == 200
    assert first.headers["cache-control"] == "public, no-cache"
    etag = first.headers["etag"]
    assert (await client.get(url, headers={"If-None-Match": etag})).status_code == 304
    # When the cooperative is suspended, the product is gone for the buyer at once
    await suspend(client, staff, seller.coop["id"])
    gone = await client.get(url, headers={"If-None-Match": etag})
    assert gone.status_code == 404
    assert (await client.get(PRODUCTS)).json()["items"] == []


async def test_detail_for_a_signed_in_manager_is_not_stored(client: AsyncTestClient[Any], seller: Seller) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    response = await client.get(f"{PRODUCTS}/{product['id']}", headers=seller.manager.headers)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert "etag" in response.headers


async def test_trace_answer_answers_304(client: AsyncTestClient[Any], seller: Seller) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    batch = await _batch(client, seller, product["id"])
    url = f"{TRACE}/{batch['trace_code']}"
    first = await client.get(url)
    assert first.status_code == 200
    assert first.headers["cache-control"] == "public, no-cache"
    again = await client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
