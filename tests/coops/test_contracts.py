"""The functions other slices call: managed ids, briefs and the approved sub-select."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import select

from coopmarket.coops import service
from coopmarket.coops.schemas import CooperativeBrief
from coopmarket.db import Database
from tests.coops.builders import OTHER_VILLAGE, register_cooperative
from tests.factories import VILLAGE, approved_cooperative, make_staff, register_buyer


async def test_managed_cooperative_ids_are_sorted_and_per_user(
    client: AsyncTestClient[Any], db: Database
) -> None:
    manager, stranger = await register_buyer(client), await register_buyer(client)
    first = await register_cooperative(client, manager)
    second = await register_cooperative(client, manager)
    async with db.read() as conn:
        assert await service.managed_cooperative_ids(conn, manager.id) == sorted([first["id"], second["id"]])
        assert await service.managed_cooperative_ids(conn, stranger.id) == []


async def test_brief_of_one_cooperative(client: AsyncTestClient[Any], db: Database) -> None:
    manager = await register_buyer(client)
    coop = await register_cooperative(client, manager, name="简报合作社")
    async with db.session() as session:
        brief = await service.get_cooperative_brief(session, coop["id"])
        missing = await service.get_cooperative_brief(session, "01hzzzzzzzzzzzzzzzzzzzzzzz")
    assert brief == CooperativeBrief(
        id=coop["id"],
        name="简报合作社",
        village_code=VILLAGE,
        status="pending",
        collective_sales_share_bps=1000,
    )
    assert missing is None


async def test_briefs_by_id_leave_out_unknown_ids(client: AsyncTestClient[Any], db: Database) -> None:
    manager = await register_buyer(client)
    first = await register_cooperative(client, manager)
    second = await register_cooperative(client, manager, village_code=OTHER_VILLAGE)
    async with db.read() as conn:
        briefs = await service.cooperative_briefs(conn, {first["id"], second["id"], "unknown"})
        empty = await service.cooperative_briefs(conn, [])
    assert set(briefs) == {first["id"], second["id"]}
    assert briefs[second["id"]].village_code == OTHER_VILLAGE
    assert empty == {}


async def test_approved_sub_select_holds_approved_ones_only(
    client: AsyncTestClient[Any], db: Database
) -> None:
    staff = await make_staff(client, db)
    _, approved = await approved_cooperative(client, staff)
    pending = await register_cooperative(client, await register_buyer(client))
    async with db.read() as conn:
        ids = (await conn.execute(select(service.approved_cooperative_ids().subquery()))).scalars().all()
    assert ids == [approved["id"]]
    assert pending["id"] not in ids
