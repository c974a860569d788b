"""Redis configured but unreachable: the public catalogue answers uncached (never 500)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.factories import create_product
from tests.products.builders import PRODUCTS, Seller


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # Port 9 (discard) on the loopback: nothing listens, the connection is refused at once.
    return {"redis_url": "redis://127.0.0.1:9/0", "rate_limit_auth_per_minute": 0}


async def test_the_catalogue_answers_while_redis_is_down(client: AsyncTestClient[Any], seller: Seller) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    for _ in range(2):
        listed = await client.get(PRODUCTS)
        assert listed.status_code == 200
        assert [item["id"] for item in listed.json()["items"]] == [product["id"]]
        assert (await client.get(f"{PRODUCTS}/{product['id']}")).status_code == 200
    etag = listed.headers["etag"]
    assert (await client.get(PRODUCTS, headers={"If-None-Match": etag})).status_code == 304
