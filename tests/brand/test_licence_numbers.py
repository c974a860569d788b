"""Licence numbers never repeat, however many grants run at once (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.coops import licences
from coopmarket.db import Database
from tests.brand.builders import LICENCES, apply, certified_product, licence_state
from tests.factories import Actor
from tests.products.builders import Seller

pytestmark = pytest.mark.slow


async def test_grants_at_once_get_distinct_consecutive_numbers(
    client: AsyncTestClient[Any], staff: Actor, seller: Seller
) -> None:
    # Given eight applications
    applications = [
        await apply(client, seller, [(await certified_product(client, seller))["id"]]) for _ in range(8)
    ]
    # When staff grant them all at once
    responses = await asyncio.gather(
        *(client.post(f"{LICENCES}/{a['id']}/grant", json={}, headers=staff.headers) for a in applications)
    )
    # Then each is granted with its own number, and the numbers run 0001..0008
    assert [r.status_code for r in responses] == [200] * 8, [
        r.text for r in responses if r.status_code != 200
    ]
    assert sorted(r.json()["number"] for r in responses) == [f"YFSP-2026-{n:04d}" for n in range(1, 9)]


async def test_one_licence_granted_twice_at_once_is_granted_once(
    client: AsyncTestClient[Any], db: Database, staff: Actor, seller: Seller
) -> None:
    licence = await apply(client, seller, [(await certified_product(client, seller))["id"]])
    responses = await asyncio.gather(
        *(client.post(f"{LICENCES}/{licence['id']}/grant", json={}, headers=staff.headers) for _ in range(4))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409, 409, 409], [r.text for r in responses]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"invalid_transition"}
    status, number, _reason, _updated, decisions = await licence_state(db, licence["id"])
    assert (status, number, decisions) == ("granted", "YFSP-2026-0001", 2)


async def test_the_counter_hands_out_each_value_once_across_connections(db: Database) -> None:
    # When twelve transactions, each on its own connection, take a number at once and commit
    async def take() -> str:
        async with db.session() as session:
            number = await licences.next_number(session, "TEST", 2026)
            await session.commit()
            return number

    numbers = await asyncio.gather(*(take() for _ in range(12)))
    # Then no two share one, and none is skipped
    assert sorted(numbers) == [f"TEST-2026-{n:04d}" for n in range(1, 13)]
    # And a refused (rolled back) grant gives its number back rather than burning or repeating it
    async with db.session() as session:
        assert await licences.next_number(session, "TEST", 2026) == "TEST-2026-0013"
        await session.rollback()
    async with db.session() as session:
        assert await licences.next_number(session, "TEST", 2026) == "TEST-2026-0013"
        assert await licences.next_number(session, "TEST", 2027) == "TEST-2027-0001"
        await session.commit()
