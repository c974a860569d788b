"""Cooperatives: registration, approval, members."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from coopmarket.coops.models import Cooperative, CooperativeManager
from coopmarket.coops.schemas import CooperativeBrief

APPROVED = "approved"

_BRIEF_COLUMNS = (
    Cooperative.id,
    Cooperative.name,
    Cooperative.village_code,
    Cooperative.status,
    Cooperative.collective_sales_share_bps,
)


async def managed_cooperative_ids(conn: AsyncSession | AsyncConnection, user_id: str) -> list[str]:
    """Ids of the cooperatives ``user_id`` manages, sorted. Joins the caller's transaction."""
    rows = await conn.execute(
        select(CooperativeManager.cooperative_id)
        .where(CooperativeManager.user_id == user_id)
        .order_by(CooperativeManager.cooperative_id)
    )
    return [r[0] for r in rows.all()]


def _brief(row: object) -> CooperativeBrief:
    return CooperativeBrief(
        id=row.id,  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        village_code=row.village_code,  # type: ignore[attr-defined]
        status=row.status,  # type: ignore[attr-defined]
        collective_sales_share_bps=row.collective_sales_share_bps,  # type: ignore[attr-defined]
    )


async def get_cooperative_brief(
    conn: AsyncSession | AsyncConnection, cooperative_id: str
) -> CooperativeBrief | None:
    """The brief of one cooperative, or ``None``. Joins the caller's transaction."""
    row = (await conn.execute(select(*_BRIEF_COLUMNS).where(Cooperative.id == cooperative_id))).one_or_none()
    return _brief(row) if row is not None else None


async def cooperative_briefs(
    conn: AsyncSession | AsyncConnection, cooperative_ids: list[str] | set[str]
) -> dict[str, CooperativeBrief]:
    """Briefs by id for the given ids (unknown ids are absent). Joins the caller's transaction."""
    if not cooperative_ids:
        return {}
    rows = (
        await conn.execute(select(*_BRIEF_COLUMNS).where(Cooperative.id.in_(list(cooperative_ids))))
    ).all()
    return {row.id: _brief(row) for row in rows}


def approved_cooperative_ids() -> Select[tuple[str]]:
    """A sub-select of approved cooperatives' ids, for other slices' public queries."""
    return select(Cooperative.id).where(Cooperative.status == APPROVED)
