"""Reading the region tree."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlmodel import col

from coopmarket.core.errors import NotFound
from coopmarket.regions.models import Region
from coopmarket.regions.schemas import RegionDetail, RegionList, RegionOut

LEVELS = ("district", "street", "community", "village")


def _out(region: Region) -> RegionOut:
    return RegionOut(
        code=region.code,
        name=region.name,
        level=region.level,
        parent_code=region.parent_code,
        kind=region.kind,
    )


# The same SELECT as ``select(Region)``, built once and read as plain rows.
_REGION_BY_CODE = select(
    col(Region.code), col(Region.name), col(Region.level), col(Region.parent_code), col(Region.kind)
).where(col(Region.code) == bindparam("code"))


async def find_region(session: AsyncSession | AsyncConnection, code: str) -> Region | None:
    """The region with ``code``, or ``None``. Joins the caller's transaction."""
    row = (await session.execute(_REGION_BY_CODE, {"code": code})).first()
    if row is None:
        return None
    return Region.model_validate(row._mapping)


async def region_exists(session: AsyncSession | AsyncConnection, code: str) -> bool:
    """Whether a region with ``code`` exists (the same query as ``find_region``, without building a
    model). Joins the caller's transaction."""
    return (await session.execute(_REGION_BY_CODE, {"code": code})).first() is not None


async def list_regions(conn: AsyncConnection, *, parent_code: str | None, level: str | None) -> RegionList:
    """Regions filtered by parent and level, in code order."""
    stmt = select(
        col(Region.code), col(Region.name), col(Region.level), col(Region.parent_code), col(Region.kind)
    ).order_by(col(Region.code))
    if parent_code is not None:
        stmt = stmt.where(col(Region.parent_code) == parent_code)
    if level is not None:
        stmt = stmt.where(col(Region.level) == level)
    rows = (await conn.execute(stmt)).all()
    return RegionList(
        items=[
            RegionOut(code=r.code, name=r.name, level=r.level, parent_code=r.parent_code, kind=r.kind)
            for r in rows
        ]
    )


async def get_region(conn: AsyncConnection, code: str) -> RegionDetail:
    """One region with its parent chain (nearest first)."""
    chain: list[RegionOut] = []
    current: str | None = code
    region: RegionOut | None = None
    while current is not None and len(chain) < len(LEVELS):  # the tree is at most four deep
        row = (
            await conn.execute(
                select(
                    col(Region.code),
                    col(Region.name),
                    col(Region.level),
                    col(Region.parent_code),
                    col(Region.kind),
                ).where(col(Region.code) == current)
            )
        ).one_or_none()
        if row is None:
            break
        out = RegionOut(
            code=row.code, name=row.name, level=row.level, parent_code=row.parent_code, kind=row.kind
        )
        if region is None:
            region = out
        else:
            chain.append(out)
        current = row.parent_code
    if region is None:
        raise NotFound(f"No region with code {code}.", code="region_not_found")
    return RegionDetail(
        code=region.code,
        name=region.name,
        level=region.level,
        parent_code=region.parent_code,
        kind=region.kind,
        parents=chain,
    )


async def region_names(conn: AsyncConnection | AsyncSession, codes: list[str]) -> dict[str, str]:
    """Name per code for the given codes. Joins the caller's transaction."""
    if not codes:
        return {}
    rows = (
        await conn.execute(select(col(Region.code), col(Region.name)).where(col(Region.code).in_(codes)))
    ).all()
    return {r.code: r.name for r in rows}


async def all_regions(conn: AsyncConnection | AsyncSession) -> list[RegionOut]:
    """The whole tree (a few hundred rows), for reports that group by level."""
    rows = (
        await conn.execute(
            select(
                col(Region.code),
                col(Region.name),
                col(Region.level),
                col(Region.parent_code),
                col(Region.kind),
            )
        )
    ).all()
    return [
        RegionOut(code=r.code, name=r.name, level=r.level, parent_code=r.parent_code, kind=r.kind)
        for r in rows
    ]
