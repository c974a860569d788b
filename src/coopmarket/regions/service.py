"""Reading the region tree."""

from __future__ import annotations

from msgspec import UNSET
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlmodel import col

from coopmarket.core.errors import NotFound
from coopmarket.db import fetch_all
from coopmarket.regions.models import Region
from coopmarket.regions.schemas import RegionDetail, RegionList, RegionOut

LEVELS = ("district", "street", "community", "village")


COMMUNITY_PART = "9"  # community codes: street code + 9 + two digits (village parts are 001–399)


async def next_community_code(session: AsyncSession, street_code: str) -> str | None:
    """The next free community code of a street, or ``None`` when its 99 are used."""
    rows = await session.execute(
        select(col(Region.code)).where(
            col(Region.parent_code) == street_code, col(Region.level) == "community"
        )
    )
    used = {r[0] for r in rows.all()}
    return next(
        (c for n in range(1, 100) if (c := f"{street_code}{COMMUNITY_PART}{n:02d}") not in used), None
    )


async def add_community(session: AsyncSession, *, code: str, name: str, street_code: str) -> None:
    """Write a community under ``street_code``. Joins the caller's transaction."""
    session.add(Region(code=code, name=name, level="community", parent_code=street_code))
    await session.flush()


async def assign_villages(
    session: AsyncSession, community_code: str, street_code: str, village_codes: list[str]
) -> int:
    """Put villages of ``street_code`` that are in no community into ``community_code``; returns how
    many were (fewer than asked: some were in another community or not of that street). Joins the
    caller's transaction."""
    result = await session.execute(
        update(Region)
        .where(
            col(Region.code).in_(village_codes),
            col(Region.level) == "village",
            col(Region.parent_code) == street_code,
            col(Region.community_code).is_(None),
        )
        .values(community_code=community_code)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


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
    return bool(await fetch_all(session, _REGION_BY_CODE, {"code": code}))


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
                col(Region.community_code),
            )
        )
    ).all()
    return [
        RegionOut(
            code=r.code,
            name=r.name,
            level=r.level,
            parent_code=r.parent_code,
            kind=r.kind,
            community_code=r.community_code or UNSET,
        )
        for r in rows
    ]
