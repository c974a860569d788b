"""Fixtures of the catalogue tests."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from tests.factories import Actor, make_staff
from tests.products.builders import Seller, new_seller
from tests.s3 import moto_endpoint, s3_bucket, s3_settings, store

__all__ = ["moto_endpoint", "s3_bucket", "s3_settings", "store"]


@pytest.fixture
async def staff(client: AsyncTestClient[Any], db: Database) -> Actor:
    """District staff, who approve cooperatives."""
    return await make_staff(client, db)


@pytest.fixture
async def seller(client: AsyncTestClient[Any], staff: Actor) -> Seller:
    """An approved cooperative in 赵家村 and its manager."""
    return await new_seller(client, staff)


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest) -> str:
    """Photo tests run on each store: local disk and S3 (moto's server over HTTP)."""
    return str(request.param)
