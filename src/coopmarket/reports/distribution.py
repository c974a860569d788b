"""Surplus distribution (Farmers' Professional Cooperatives Law Art. 42-44).

For one year: the surplus; the reserve (公积金) at the charter's rate (or the general meeting's),
largest remainder over ``[rate, 10000 - rate]``; the distributable rest; the patronage pool, at
least ``patronage_return_bps`` of it (rounded up, so never under the legal 60% by a fraction of a
fen), returned by each member's transaction volume that year; and the capital pool, the rest,
returned by each member's capital plus quantified reserve share to date. Each pool is split to the
fen with the largest-remainder method, so the parts add up exactly. The year's reserve is
quantified into each member's share (Art. 42) by their total return.

**The surplus from the ledger** is what the cooperative's sales left it that year: the credits of
``payable:coop:{id}`` by settled parts (``part_settled``) net of the refunds that took back from
them (``refund``, ``refund_failed``), in the report time zone's calendar year. Payouts and other
movements do not count. A cooperative that keeps its books elsewhere enters the surplus with a reason.

**Volumes** are the members' settled, refunded-net sales from attributed order lines
(``orders.member_volume``, injected by ``app.py``); non-member lines count for nobody.

**Confirm** posts once per cooperative and year (dedupe ``surplus_distribution:{coop}:{year}``):
Dr ``surplus:coop:{id}`` the surplus; Cr ``reserve:coop:{id}`` the reserve, ``payable:member:{m}``
each member's return, ``collective_income:{village}:investment_income`` the village collective's
return; and writes the members' ``reserve_share`` and ``return`` account entries, audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from coopmarket.audit import service as audit
from coopmarket.coops import member_accounts
from coopmarket.coops.errors import CooperativeNotFound
from coopmarket.coops.member_accounts import RESERVE_SHARE, RETURN, MemberVolumes
from coopmarket.core import clock
from coopmarket.core.errors import PermissionDenied
from coopmarket.core.ids import new_id
from coopmarket.core.money import BPS_DENOMINATOR, allocate
from coopmarket.core.principal import COOP_MANAGER, Principal
from coopmarket.ledger import posting
from coopmarket.ledger import service as ledger_service
from coopmarket.reports.errors import (
    NoMemberCapital,
    NoMemberVolume,
    NoSurplus,
    PatronageBelowMinimum,
    SurplusDistributionNotFound,
    SurplusReasonRequired,
    YearAlreadyDistributed,
)
from coopmarket.reports.models import SurplusDistribution, SurplusDistributionLine
from coopmarket.reports.schemas import SurplusDistributionIn, SurplusDistributionOut, SurplusMemberOut
from coopmarket.reports.statement import visible_cooperative

Conn = AsyncSession | AsyncConnection

# Art. 44: at least 60% of the distributable surplus goes back by transaction volume.
MIN_PATRONAGE_BPS = 6_000
VILLAGE_COLLECTIVE = "village_collective"
SURPLUS_SALES_KINDS = (posting.PART_SETTLED, posting.REFUND, posting.REFUND_FAILED)

_dist = SurplusDistribution.__table__  # type: ignore[attr-defined]
_line = SurplusDistributionLine.__table__  # type: ignore[attr-defined]
D = _dist.c
LN = _line.c


# --- the arithmetic (pure) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberBasis:
    member_id: str
    volume_fen: int  # transaction volume that year (members only)
    capital_basis_fen: int  # capital + quantified reserve share to date


@dataclass(frozen=True, slots=True)
class MemberSplit:
    member_id: str
    patronage_fen: int
    capital_fen: int
    reserve_share_fen: int

    @property
    def total_fen(self) -> int:
        return self.patronage_fen + self.capital_fen


@dataclass(frozen=True, slots=True)
class Split:
    surplus_fen: int
    reserve_fen: int
    distributable_fen: int
    patronage_pool_fen: int
    capital_pool_fen: int
    members: tuple[MemberSplit, ...]


def _by(amount_fen: int, weights: Sequence[int]) -> list[int]:
    return allocate(amount_fen, weights) if amount_fen else [0] * len(weights)


def check_patronage(patronage_return_bps: int) -> None:
    """Art. 44: 422 ``patronage_below_minimum`` under 60% (the detail cites the law)."""
    if patronage_return_bps < MIN_PATRONAGE_BPS or patronage_return_bps > BPS_DENOMINATOR:
        raise PatronageBelowMinimum(
            "Farmers' Professional Cooperatives Law Art. 44: at least 60% of the distributable surplus "
            "is returned to members by their transaction volume.",
            extra={"min_patronage_return_bps": MIN_PATRONAGE_BPS, "law": "Art. 44"},
        )


def split(
    surplus_fen: int, reserve_rate_bps: int, patronage_return_bps: int, members: Sequence[MemberBasis]
) -> Split:
    """Art. 42-44 to the fen. Refuses a patronage rate under 60% (422 ``patronage_below_minimum``),
    no surplus (``no_surplus``), and pools with nobody to return them to."""
    check_patronage(patronage_return_bps)
    if not 0 <= reserve_rate_bps <= BPS_DENOMINATOR:
        raise ValueError("reserve_rate_bps must be within 0..10000")
    if surplus_fen <= 0:
        raise NoSurplus("Art. 44: only a surplus, after covering losses, is distributed; this year has none.")
    reserve, distributable = allocate(surplus_fen, [reserve_rate_bps, BPS_DENOMINATOR - reserve_rate_bps])
    # Rounded up: the patronage pool is never below its rate (so never below 60%).
    patronage_pool = -(-distributable * patronage_return_bps // BPS_DENOMINATOR)
    capital_pool = distributable - patronage_pool
    volumes = [max(m.volume_fen, 0) for m in members]
    capitals = [max(m.capital_basis_fen, 0) for m in members]
    if patronage_pool and not any(volumes):
        raise NoMemberVolume(
            "No member traded with the cooperative that year: set the surplus by transaction aside."
        )
    if capital_pool and not any(capitals):
        raise NoMemberCapital(
            "No member has capital or a reserve share: return everything by transaction volume "
            "(patronage_return_bps 10000)."
        )
    patronage = _by(patronage_pool, volumes)
    capital = _by(capital_pool, capitals)
    totals = [p + c for p, c in zip(patronage, capital, strict=True)]
    weights = totals if any(totals) else [v + c for v, c in zip(volumes, capitals, strict=True)]
    if reserve and not any(weights):
        raise NoMemberVolume("No member to quantify the reserve to.")
    reserve_shares = _by(reserve, weights)
    return Split(
        surplus_fen=surplus_fen,
        reserve_fen=reserve,
        distributable_fen=distributable,
        patronage_pool_fen=patronage_pool,
        capital_pool_fen=capital_pool,
        members=tuple(
            MemberSplit(m.member_id, p, c, r)
            for m, p, c, r in zip(members, patronage, capital, reserve_shares, strict=True)
        ),
    )


# --- the database -------------------------------------------------------------------------------


def year_bounds(year: int, timezone: str) -> tuple[datetime, datetime]:
    tz = ZoneInfo(timezone)
    return datetime(year, 1, 1, tzinfo=tz), datetime(year + 1, 1, 1, tzinfo=tz)


async def ledger_surplus(conn: Conn, cooperative_id: str, year: int, timezone: str) -> int:
    """What the year's settled sales, net of their refunds, credited to ``payable:coop:{id}``."""
    start, end = year_bounds(year, timezone)
    return -await ledger_service.account_sum(
        conn, posting.coop_payable(cooperative_id), SURPLUS_SALES_KINDS, start, end
    )


async def _require_manager(conn: Conn, principal: Principal, cooperative_id: str) -> str:
    """The cooperative's village, for its managers (staff: 403; other managers: 404)."""
    if principal.role != COOP_MANAGER:
        raise PermissionDenied(
            "Only the cooperative's managers distribute its surplus.", code="forbidden_role"
        )
    brief = await visible_cooperative(conn, principal, cooperative_id)
    return brief.village_code


async def _confirmed_exists(conn: Conn, cooperative_id: str, year: int) -> bool:
    stmt = select(func.count()).where(
        D.cooperative_id == cooperative_id, D.year == year, D.status == "confirmed"
    )
    return int((await conn.execute(stmt)).scalar_one()) > 0


async def draft(
    session: AsyncSession,
    principal: Principal,
    cooperative_id: str,
    data: SurplusDistributionIn,
    *,
    volumes: MemberVolumes,
    timezone: str,
) -> SurplusDistributionOut:
    """Compute and store a draft (joins the caller's unit of work)."""
    village_code = await _require_manager(session, principal, cooperative_id)
    charter_reserve, charter_patronage = await member_accounts.charter_rates(session, cooperative_id)
    reserve_bps = charter_reserve if data.reserve_rate_bps is None else data.reserve_rate_bps
    patronage_bps = charter_patronage if data.patronage_return_bps is None else data.patronage_return_bps
    check_patronage(patronage_bps)
    if await _confirmed_exists(session, cooperative_id, data.year):
        raise YearAlreadyDistributed(f"The surplus of {data.year} is already distributed.")
    reason = data.surplus_reason.strip() if data.surplus_reason else None
    if data.surplus_fen is not None:
        if not reason:
            raise SurplusReasonRequired(
                "A surplus entered by hand needs a reason (e.g. where the books are kept)."
            )
        surplus, source = data.surplus_fen, "entered"
    else:
        surplus, source = await ledger_surplus(session, cooperative_id, data.year, timezone), "ledger"
        reason = None
    start, end = year_bounds(data.year, timezone)
    by_member = await volumes(session, cooperative_id, start, end)
    rows = await member_accounts.distribution_members(session, cooperative_id)
    bases = [MemberBasis(r.id, by_member.get(r.id, 0), r.capital_fen + r.reserve_share_fen) for r in rows]
    result = split(surplus, reserve_bps, patronage_bps, bases)
    now = clock.now()
    distribution_id = new_id()
    await session.execute(
        insert(_dist).values(
            id=distribution_id,
            cooperative_id=cooperative_id,
            year=data.year,
            status="draft",
            surplus_source=source,
            surplus_reason=reason,
            surplus_fen=result.surplus_fen,
            reserve_rate_bps=reserve_bps,
            patronage_return_bps=patronage_bps,
            reserve_fen=result.reserve_fen,
            distributable_fen=result.distributable_fen,
            patronage_pool_fen=result.patronage_pool_fen,
            capital_pool_fen=result.capital_pool_fen,
            created_by=principal.id,
            created_at=now,
        )
    )
    if rows:
        await session.execute(
            insert(_line).values(
                [
                    {
                        "distribution_id": distribution_id,
                        "member_id": r.id,
                        "member_kind": r.kind,
                        "transaction_volume_fen": max(b.volume_fen, 0),
                        "capital_basis_fen": max(b.capital_basis_fen, 0),
                        "patronage_return_fen": m.patronage_fen,
                        "capital_return_fen": m.capital_fen,
                        "reserve_share_fen": m.reserve_share_fen,
                        "total_fen": m.total_fen,
                    }
                    for r, b, m in zip(rows, bases, result.members, strict=True)
                ]
            )
        )
    await audit.record(
        session,
        actor=principal,
        action="cooperative.surplus_distribution_drafted",
        entity="surplus_distribution",
        entity_id=distribution_id,
        after={
            "year": data.year,
            "surplus_fen": surplus,
            "surplus_source": source,
            "reserve_rate_bps": reserve_bps,
            "patronage_return_bps": patronage_bps,
        },
        reason=reason,
        region_code=village_code,
        cooperative_id=cooperative_id,
    )
    return await _read(session, distribution_id)


async def _read(conn: Conn, distribution_id: str) -> SurplusDistributionOut:
    row = (await conn.execute(select(_dist).where(D.id == distribution_id))).one_or_none()
    if row is None:
        raise SurplusDistributionNotFound("No such surplus distribution.")
    lines = (
        await conn.execute(select(_line).where(LN.distribution_id == distribution_id).order_by(LN.member_id))
    ).all()
    names = await member_accounts.member_names(conn, [ln.member_id for ln in lines])
    return SurplusDistributionOut(
        id=row.id,
        cooperative_id=row.cooperative_id,
        year=row.year,
        status=row.status,
        surplus_source=row.surplus_source,
        surplus_reason=row.surplus_reason,
        surplus_fen=row.surplus_fen,
        reserve_rate_bps=row.reserve_rate_bps,
        patronage_return_bps=row.patronage_return_bps,
        reserve_fen=row.reserve_fen,
        distributable_fen=row.distributable_fen,
        patronage_pool_fen=row.patronage_pool_fen,
        capital_pool_fen=row.capital_pool_fen,
        members=[
            SurplusMemberOut(
                member_id=ln.member_id,
                name=names.get(ln.member_id, ""),
                kind=ln.member_kind,
                transaction_volume_fen=ln.transaction_volume_fen,
                capital_basis_fen=ln.capital_basis_fen,
                patronage_return_fen=ln.patronage_return_fen,
                capital_return_fen=ln.capital_return_fen,
                total_fen=ln.total_fen,
                reserve_share_fen=ln.reserve_share_fen,
            )
            for ln in lines
        ],
        created_at=row.created_at,
        confirmed_at=row.confirmed_at,
        ledger_transaction_id=row.ledger_transaction_id,
    )


async def _cooperative_of(conn: Conn, distribution_id: str) -> str:
    cooperative_id = (
        await conn.execute(select(D.cooperative_id).where(D.id == distribution_id))
    ).scalar_one_or_none()
    if cooperative_id is None:
        raise SurplusDistributionNotFound("No such surplus distribution.")
    return str(cooperative_id)


async def read(conn: Conn, principal: Principal, distribution_id: str) -> SurplusDistributionOut:
    """Its managers and staff in scope read a distribution (others: 404)."""
    cooperative_id = await _cooperative_of(conn, distribution_id)
    try:
        await visible_cooperative(conn, principal, cooperative_id)
    except CooperativeNotFound as exc:  # the cooperative is out of reach: so is its distribution
        raise SurplusDistributionNotFound("No such surplus distribution.") from exc
    return await _read(conn, distribution_id)


async def confirm(
    session: AsyncSession, principal: Principal, distribution_id: str
) -> SurplusDistributionOut:
    """Post the draft to the ledger and credit the member accounts, once. Confirming a confirmed
    distribution answers it again; another draft of a year already distributed: 409."""
    cooperative_id = await _cooperative_of(session, distribution_id)
    try:
        village_code = await _require_manager(session, principal, cooperative_id)
    except CooperativeNotFound as exc:
        raise SurplusDistributionNotFound("No such surplus distribution.") from exc
    current = await _read(session, distribution_id)
    if current.status == "confirmed":
        return current
    collective = sum(m.total_fen for m in current.members if m.kind == VILLAGE_COLLECTIVE)
    member_returns = [(m.member_id, m.total_fen) for m in current.members if m.kind != VILLAGE_COLLECTIVE]
    now = clock.now()
    transaction_id = await ledger_service.post(
        session,
        kind=posting.SURPLUS_DISTRIBUTION,
        dedupe_key=f"surplus_distribution:{cooperative_id}:{current.year}",
        entries=posting.surplus_distribution_entries(
            cooperative_id, village_code, current.reserve_fen, member_returns, collective
        ),
        occurred_at=now,
        cooperative_id=cooperative_id,
        memo=f"surplus distribution {current.year} ({distribution_id})",
    )
    if transaction_id is None:
        raise YearAlreadyDistributed(f"The surplus of {current.year} is already distributed.")
    updated = await session.execute(
        update(_dist)
        .where(D.id == distribution_id, D.status == "draft")
        .values(
            status="confirmed",
            confirmed_by=principal.id,
            confirmed_at=now,
            ledger_transaction_id=transaction_id,
        )
    )
    if updated.rowcount != 1:  # type: ignore[attr-defined]
        raise YearAlreadyDistributed(f"The surplus of {current.year} is already distributed.")
    await member_accounts.credit_distribution(
        session,
        cooperative_id,
        current.year,
        distribution_id,
        [
            (m.member_id, kind, amount)
            for m in current.members
            for kind, amount in ((RESERVE_SHARE, m.reserve_share_fen), (RETURN, m.total_fen))
        ],
        now,
    )
    await audit.record(
        session,
        actor=principal,
        action="cooperative.surplus_distribution_confirmed",
        entity="surplus_distribution",
        entity_id=distribution_id,
        before={"status": "draft"},
        after={
            "status": "confirmed",
            "year": current.year,
            "ledger_transaction_id": transaction_id,
            "reserve_fen": current.reserve_fen,
            "patronage_pool_fen": current.patronage_pool_fen,
            "capital_pool_fen": current.capital_pool_fen,
        },
        region_code=village_code,
        cooperative_id=cooperative_id,
    )
    return await _read(session, distribution_id)
