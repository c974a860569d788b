"""Fixtures of the brand licence tests: staff, a seller, and tokens that outlive the licence terms
(the tests move the clock by years)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.core import clock
from coopmarket.db import Database
from tests.factories import Actor, make_staff
from tests.products.builders import NOW, Seller, new_seller


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"jwt_ttl_seconds": 5 * 366 * 24 * 3600}


@pytest.fixture(autouse=True)
def _frozen_clock() -> None:
    clock.set_now(NOW)  # 2026-03-01 10:00 in Shanghai


@pytest.fixture
async def staff(client: AsyncTestClient[Any], db: Database) -> Actor:
    """District staff: they grant, suspend and revoke licences."""
    return await make_staff(client, db)


@pytest.fixture
async def seller(client: AsyncTestClient[Any], staff: Actor) -> Seller:
    return await new_seller(client, staff)
