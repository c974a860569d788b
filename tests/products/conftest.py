"""Fixtures of the catalogue tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from coopmarket.settings import Settings
from tests.factories import Actor, make_staff
from tests.products.builders import Seller, new_seller


@pytest.fixture
async def db(client: AsyncTestClient[Any], settings: Settings) -> AsyncIterator[Database]:
    """The app's database through a handle opened in the test's own event loop.

    The test client runs the app in its portal's loop; an asyncpg connection from the app's pool
    used from the test's loop fails ("attached to a different loop"), so tests get their own pool.
    """
    database = Database(settings)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def staff(client: AsyncTestClient[Any], db: Database) -> Actor:
    """District staff, who approve cooperatives."""
    return await make_staff(client, db)


@pytest.fixture
async def seller(client: AsyncTestClient[Any], staff: Actor) -> Seller:
    """An approved cooperative in 赵家村 and its manager."""
    return await new_seller(client, staff)
