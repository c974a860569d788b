"""Builders and database look-ups for the coops tests."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from coopmarket.coops.models import (
    Cooperative,
    CooperativeManager,
    CooperativeMember,
    CooperativeStatusEvent,
    MemberCapitalChange,
)
from coopmarket.db import Database
from tests.factories import Actor, coop_payload

# A second street of Fangzi with one of its villages (凤凰街道 is the factories' default).
OTHER_STREET = "370704004"  # 坊安街道
OTHER_VILLAGE = "370704004223"  # 东王松四村村委会


async def register_cooperative(
    client: AsyncTestClient[Any], manager: Actor, **overrides: Any
) -> dict[str, Any]:
    """A pending cooperative registered by ``manager``, as the API answered it."""
    response = await client.post(
        "/api/v1/cooperatives", json=coop_payload(**overrides), headers=manager.headers
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def decide(
    client: AsyncTestClient[Any], staff: Actor, cooperative_id: str, action: str
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/cooperatives/{cooperative_id}/{action}", json={"reason": "检查"}, headers=staff.headers
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def cooperative_row(db: Database, cooperative_id: str) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (await conn.execute(select(Cooperative).where(Cooperative.id == cooperative_id))).one_or_none()
    return dict(row._mapping) if row is not None else None


async def cooperative_count(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(Cooperative))).scalar_one())


async def status_events(db: Database, cooperative_id: str) -> list[tuple[str | None, str, str | None, str]]:
    """(from, to, reason, actor) in the order they happened."""
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(
                    CooperativeStatusEvent.from_status,
                    CooperativeStatusEvent.to_status,
                    CooperativeStatusEvent.reason,
                    CooperativeStatusEvent.actor_id,
                )
                .where(CooperativeStatusEvent.cooperative_id == cooperative_id)
                .order_by(CooperativeStatusEvent.id)
            )
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


async def manager_ids(db: Database, cooperative_id: str) -> list[str]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(CooperativeManager.user_id).where(CooperativeManager.cooperative_id == cooperative_id)
        )
        return [r[0] for r in rows.all()]


async def members(db: Database, cooperative_id: str) -> list[tuple[str, str, int]]:
    """(name, kind, capital_fen) of a cooperative's members, oldest first."""
    async with db.read() as conn:
        rows = await conn.execute(
            select(CooperativeMember.name, CooperativeMember.kind, CooperativeMember.capital_fen)
            .where(CooperativeMember.cooperative_id == cooperative_id)
            .order_by(CooperativeMember.id)
        )
        return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def capital_changes(db: Database, member_id: str) -> list[tuple[int, int, str]]:
    """(old, new, changed_by) of a member's capital history."""
    async with db.read() as conn:
        rows = await conn.execute(
            select(
                MemberCapitalChange.old_capital_fen,
                MemberCapitalChange.new_capital_fen,
                MemberCapitalChange.changed_by,
            )
            .where(MemberCapitalChange.member_id == member_id)
            .order_by(MemberCapitalChange.id)
        )
        return [tuple(r) for r in rows.all()]  # type: ignore[misc]
