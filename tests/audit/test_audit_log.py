"""The audit log: written with the change or not at all, never edited, read in scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from coopmarket.audit import service as audit_service
from coopmarket.core import clock
from coopmarket.core.principal import DISTRICT_STAFF, Principal
from coopmarket.db import Database
from tests.factories import (
    OTHER_STREET,
    OTHER_VILLAGE,
    STREET,
    VILLAGE,
    approved_cooperative,
    make_staff,
    register_buyer,
)

SYSTEM = Principal(
    id="01SYSTEMACTOR0000000000000", role=DISTRICT_STAFF, display_name="区农业农村局", region_code="370704"
)


async def _record(db: Database, *, commit: bool = True, **fields: Any) -> str:
    values: dict[str, Any] = {
        "actor": SYSTEM,
        "action": "cooperative.suspended",
        "entity": "cooperative",
        "entity_id": "coop-1",
        "before": {"status": "approved"},
        "after": {"status": "suspended"},
        "reason": "检查发现问题",
        "region_code": VILLAGE,
    }
    values.update(fields)
    async with db.session() as session:
        entry_id = await audit_service.record(session, **values)
        if commit:
            await session.commit()
        else:
            await session.rollback()
    return entry_id


async def _count(db: Database) -> int:
    async with db.read() as conn:
        return int(await conn.scalar(text("SELECT count(*) FROM audit_entry")) or 0)


async def test_an_entry_reads_back_with_its_before_and_after(
    client: AsyncTestClient[Any], db: Database
) -> None:
    staff = await make_staff(client, db)
    entry_id = await _record(db, after={"status": "suspended", "名称": "蒋家一村合作社"})
    response = await client.get("/api/v1/audit", headers=staff.headers)
    assert response.status_code == 200, response.text
    [item] = response.json()["items"]
    assert item["id"] == entry_id
    assert item["actor_id"] == SYSTEM.id
    assert item["actor_role"] == DISTRICT_STAFF
    assert item["action"] == "cooperative.suspended"
    assert (item["entity"], item["entity_id"]) == ("cooperative", "coop-1")
    assert item["before"] == {"status": "approved"}
    assert item["after"] == {"status": "suspended", "名称": "蒋家一村合作社"}
    assert item["reason"] == "检查发现问题"
    assert response.json()["next_cursor"] is None


async def test_a_change_that_fails_leaves_no_entry(db: Database) -> None:
    await _record(db, commit=False)
    assert await _count(db) == 0


async def test_entries_can_be_neither_edited_nor_deleted(db: Database) -> None:
    entry_id = await _record(db)
    for statement in (
        "UPDATE audit_entry SET reason = 'rewritten' WHERE id = :id",
        "DELETE FROM audit_entry WHERE id = :id",
    ):
        with pytest.raises((IntegrityError, DBAPIError)):
            async with db.session() as session:
                await session.execute(text(statement), {"id": entry_id})
                await session.commit()
    async with db.read() as conn:
        reason = await conn.scalar(text("SELECT reason FROM audit_entry WHERE id = :id"), {"id": entry_id})
    assert reason == "检查发现问题"
    assert await _count(db) == 1


async def test_street_staff_read_their_street_only(client: AsyncTestClient[Any], db: Database) -> None:
    mine = await _record(db, entity_id="coop-mine", region_code=VILLAGE)
    await _record(db, entity_id="coop-theirs", region_code=OTHER_VILLAGE)
    await _record(db, entity="user", entity_id="staff-1", region_code=None, action="staff.created")
    street = await make_staff(client, db, role="street_staff", region_code=STREET)
    district = await make_staff(client, db)
    seen_by_street = (await client.get("/api/v1/audit", headers=street.headers)).json()["items"]
    assert [i["id"] for i in seen_by_street] == [mine]
    seen_by_district = (await client.get("/api/v1/audit", headers=district.headers)).json()["items"]
    assert len(seen_by_district) == 3
    other = await make_staff(client, db, role="street_staff", region_code=OTHER_STREET)
    assert [
        i["entity_id"] for i in (await client.get("/api/v1/audit", headers=other.headers)).json()["items"]
    ] == ["coop-theirs"]


async def test_only_district_and_street_staff_read_the_log(
    client: AsyncTestClient[Any], db: Database
) -> None:
    await _record(db)
    staff = await make_staff(client, db)
    manager, _ = await approved_cooperative(client, staff)
    buyer = await register_buyer(client)
    village = await make_staff(client, db, role="village_staff", region_code=VILLAGE)
    for actor in (buyer, manager, village):
        response = await client.get("/api/v1/audit", headers=actor.headers)
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "forbidden_role"
    assert (await client.get("/api/v1/audit")).status_code == 401


async def test_filters_by_entity_id_actor_and_local_dates(client: AsyncTestClient[Any], db: Database) -> None:
    # Given entries on two local days (Asia/Shanghai), by two actors, about two objects
    other_actor = Principal(
        id="01OTHERACTOR00000000000000", role=DISTRICT_STAFF, display_name="x", region_code="370704"
    )
    clock.set_now(datetime(2026, 11, 30, 15, 30, tzinfo=UTC))  # 2026-11-30 23:30 in Shanghai
    first = await _record(db, entity_id="coop-1")
    clock.set_now(datetime(2026, 11, 30, 16, 30, tzinfo=UTC))  # 2026-12-01 00:30 in Shanghai
    second = await _record(db, entity_id="coop-2", actor=other_actor)
    third = await _record(db, entity="brand_licence", entity_id="lic-1")
    clock.reset()
    staff = await make_staff(client, db)

    async def ids(**params: str) -> list[str]:
        response = await client.get("/api/v1/audit", params=params, headers=staff.headers)
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()["items"]]

    assert await ids(entity="cooperative") == [second, first]
    assert await ids(entity="cooperative", id="coop-1") == [first]
    assert await ids(actor=other_actor.id) == [second]
    assert await ids(**{"from": "2026-12-01", "to": "2026-12-01"}) == [third, second]
    assert await ids(to="2026-11-30") == [first]
    bad = await client.get(
        "/api/v1/audit", params={"from": "2026-12-02", "to": "2026-12-01"}, headers=staff.headers
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_date_range"


async def test_pages_follow_the_cursor_without_gaps_or_repeats(
    client: AsyncTestClient[Any], db: Database
) -> None:
    written = []
    for n in range(5):
        clock.set_now(datetime(2026, 12, 1, tzinfo=UTC) + timedelta(minutes=n))
        written.append(await _record(db, entity_id=f"coop-{n}"))
    clock.reset()
    staff = await make_staff(client, db)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/audit", params=params, headers=staff.headers)).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        # An entry written meanwhile is newer: it does not shift later pages.
        await _record(db, entity_id="late")
    assert seen == list(reversed(written))
