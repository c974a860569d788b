"""The shared response cache of the public catalogue (Redis): answers are served from it, and a
committed change (price, stock, suspension, licence decision, licence ending by date) shows at once
because the database bumps the catalogue version in the writing transaction. Redis down: answered
uncached, never 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as redis
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from coopmarket.core import clock
from coopmarket.db import Database
from tests.brand.builders import decide, granted_licence
from tests.factories import Actor, create_product
from tests.products.builders import NOW, PRODUCTS, Seller, suspend
from tests.redis_store import REDIS_URL


@pytest.fixture
def namespace(redis_namespace: str) -> str:
    """A key namespace of this test's own (each test's database starts its version again), on the
    real Redis and emptied afterwards (conftest's ``redis_namespace``)."""
    return redis_namespace


@pytest.fixture
def settings_overrides(namespace: str) -> dict[str, Any]:
    return {
        "redis_url": REDIS_URL,
        "catalogue_cache_namespace": namespace,
        "jwt_ttl_seconds": 5 * 366 * 24 * 3600,
    }


@pytest.fixture(autouse=True)
async def _redis(namespace: str) -> AsyncIterator[redis.Redis]:
    connection = redis.Redis.from_url(REDIS_URL)
    clock.set_now(NOW)
    try:
        yield connection
    finally:
        await connection.aclose()


async def cached_keys(connection: redis.Redis, namespace: str, kind: str) -> list[bytes]:
    return [key async for key in connection.scan_iter(match=f"{namespace}:{kind}:*")]


async def version(db: Database) -> int:
    async with db.read() as conn:
        found = (await conn.execute(text("SELECT coalesce(sum(version), 0) FROM catalogue_version"))).scalar_one()
    return int(found)


def prices(page: dict[str, Any]) -> list[int]:
    return [item["price_fen"] for item in page["items"]]


async def test_a_cached_list_shows_a_new_price_at_once(
    client: AsyncTestClient[Any], seller: Seller, db: Database, _redis: redis.Redis, namespace: str
) -> None:
    # Given a listed product whose list answer is in the cache
    product = await create_product(
        client, seller.manager, seller.coop["id"], skus=[{"code": "A", "spec": "一份", "price_fen": 3990, "stock": 5}]
    )
    first = await client.get(PRODUCTS)
    assert prices(first.json()) == [3990]
    assert len(await cached_keys(_redis, namespace, "list")) == 1
    # And a second request is answered from it, byte for byte
    second = await client.get(PRODUCTS)
    assert second.content == first.content
    assert len(await cached_keys(_redis, namespace, "list")) == 1
    # When the manager changes the price (the triggers bump the version in that transaction)
    before = await version(db)
    response = await client.patch(
        f"{PRODUCTS}/{product['id']}",
        json={"skus": [{"id": product["skus"][0]["id"], "price_fen": 2990}]},
        headers=seller.manager.headers,
    )
    assert response.status_code == 200
    assert await version(db) > before
    # Then the very next list and detail carry the new price
    assert prices((await client.get(PRODUCTS)).json()) == [2990]
    assert (await client.get(f"{PRODUCTS}/{product['id']}")).json()["skus"][0]["price_fen"] == 2990


async def test_a_cached_product_disappears_at_once_when_its_cooperative_is_suspended(
    client: AsyncTestClient[Any], staff: Actor, seller: Seller
) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    url = f"{PRODUCTS}/{product['id']}"
    assert (await client.get(url)).status_code == 200
    assert len((await client.get(PRODUCTS)).json()["items"]) == 1
    await suspend(client, staff, seller.coop["id"])
    assert (await client.get(url)).status_code == 404
    assert (await client.get(PRODUCTS)).json()["items"] == []


async def test_the_badge_goes_at_once_when_a_licence_is_revoked_or_ends_by_date(
    client: AsyncTestClient[Any], staff: Actor, seller: Seller
) -> None:
    # Given a branded product, listed and cached
    product, licence = await granted_licence(client, seller, staff)
    branded = {"branded": "true"}
    assert [i["id"] for i in (await client.get(PRODUCTS, params=branded)).json()["items"]] == [product["id"]]
    assert (await client.get(f"{PRODUCTS}/{product['id']}")).json()["is_branded"] is True
    # When the licence ends by itself (the next day in Shanghai; nothing is written)
    clock.set_now(datetime(2027, 2, 28, 16, 0, tzinfo=UTC))
    assert (await client.get(PRODUCTS, params=branded)).json()["items"] == []
    assert (await client.get(f"{PRODUCTS}/{product['id']}")).json()["is_branded"] is False
    # And back on a day inside the term, a revocation shows at once
    clock.set_now(NOW)
    assert (await client.get(f"{PRODUCTS}/{product['id']}")).json()["is_branded"] is True
    await decide(client, staff, licence["id"], "revoke", "违规使用品牌标识")
    assert (await client.get(PRODUCTS, params=branded)).json()["items"] == []
    assert (await client.get(f"{PRODUCTS}/{product['id']}")).json()["is_branded"] is False


async def test_a_signed_in_manager_is_never_answered_from_the_cache(
    client: AsyncTestClient[Any], seller: Seller, _redis: redis.Redis, namespace: str
) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    response = await client.get(f"{PRODUCTS}/{product['id']}", headers=seller.manager.headers)
    assert response.status_code == 200
    assert await cached_keys(_redis, namespace, "detail") == []
    assert (await client.get(f"{PRODUCTS}/{product['id']}")).status_code == 200
    assert len(await cached_keys(_redis, namespace, "detail")) == 1


async def test_a_conditional_get_from_the_cache_answers_304(client: AsyncTestClient[Any], seller: Seller) -> None:
    await create_product(client, seller.manager, seller.coop["id"])
    first = await client.get(PRODUCTS)
    again = await client.get(PRODUCTS, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


async def test_a_rolled_back_change_leaves_the_version_alone(
    client: AsyncTestClient[Any], seller: Seller, db: Database
) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    before = await version(db)
    async with db.session() as session:
        await session.execute(text("UPDATE sku SET price_fen = 1 WHERE product_id = :p"), {"p": product["id"]})
        await session.rollback()
    assert await version(db) == before
