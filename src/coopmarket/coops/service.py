"""Cooperatives: registration, approval, members."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from coopmarket.coops.models import CooperativeManager


async def managed_cooperative_ids(conn: AsyncSession | AsyncConnection, user_id: str) -> list[str]:
    """Ids of the cooperatives ``user_id`` manages, sorted. Joins the caller's transaction."""
    rows = await conn.execute(
        select(CooperativeManager.cooperative_id)
        .where(CooperativeManager.user_id == user_id)
        .order_by(CooperativeManager.cooperative_id)
    )
    return [r[0] for r in rows.all()]
