"""Member accounts (Farmers' Professional Cooperatives Law Art. 41-43): each member's capital with
its history, quantified reserve share, transaction volume with the cooperative for a period, and
the returns received; and a cooperative's member and non-member volumes kept apart.

The transaction volumes come from the orders slice, which sits above this one: ``app.py`` injects
its lookup as ``MemberVolumes`` (``orders.member_volume.member_volumes``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeAlias

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlmodel.ext.asyncio.session import AsyncSession as UnitOfWork

from coopmarket.coops import capital, id_number, service
from coopmarket.coops.errors import CooperativeNotFound, MemberNotFound
from coopmarket.coops.models import Cooperative, CooperativeMember, MemberAccountEntry
from coopmarket.coops.schemas import (
    CapitalChangeIn,
    CapitalChangeOut,
    MemberAccountEntryOut,
    MemberAccountOut,
    MemberVolumeOut,
    TransactionVolumesOut,
)
from coopmarket.core.errors import PermissionDenied
from coopmarket.core.ids import new_id
from coopmarket.core.principal import COOP_MANAGER, STAFF_ROLES, Principal

Conn = AsyncSession | AsyncConnection
# (executor, cooperative id, settled from, settled before) -> {member id or None: net volume in fen}
MemberVolumes: TypeAlias = Callable[
    [Conn, str, datetime | None, datetime | None], Awaitable[dict[str | None, int]]
]

C = Cooperative.metadata.tables["cooperative"].c
MB = CooperativeMember.metadata.tables["cooperative_member"].c
AE = MemberAccountEntry.metadata.tables["member_account_entry"].c

RESERVE_SHARE = "reserve_share"
RETURN = "return"


async def _require_reader(conn: Conn, principal: Principal, cooperative_id: str) -> bool:
    """Its managers and staff whose scope covers it read member accounts; returns whether the
    caller manages it. Another role: 403; a cooperative out of reach: 404."""
    if principal.role != COOP_MANAGER and principal.role not in STAFF_ROLES:
        raise PermissionDenied(
            "Member accounts are for the cooperative's managers and staff.", code="forbidden_role"
        )
    village = (await conn.execute(select(C.village_code).where(C.id == cooperative_id))).scalar_one_or_none()
    if village is None:
        raise CooperativeNotFound("No such cooperative.")
    manages = cooperative_id in await service.managed_cooperative_ids(conn, principal.id)
    if not manages and not principal.covers_region(village):
        raise CooperativeNotFound("No such cooperative.")
    return manages


async def member_account(
    conn: Conn,
    principal: Principal,
    cooperative_id: str,
    member_id: str,
    *,
    volumes: MemberVolumes,
    start: datetime | None = None,
    end: datetime | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> MemberAccountOut:
    """The member's account: capital (the sum of its history), reserve share to date, transaction
    volume settled in [start, end) net of refunds, and the returns credited in [start, end)."""
    await _require_reader(conn, principal, cooperative_id)
    row = (
        await conn.execute(
            select(MB.id, MB.name, MB.capital_fen, MB.id_number).where(
                MB.id == member_id, MB.cooperative_id == cooperative_id
            )
        )
    ).one_or_none()
    if row is None:
        raise MemberNotFound("No such member.")
    history = (await service._histories(conn, [member_id]))[member_id]
    reserve = (
        await conn.execute(
            select(func.coalesce(func.sum(AE.amount_fen), 0)).where(
                AE.member_id == member_id, AE.kind == RESERVE_SHARE
            )
        )
    ).scalar_one()
    returns_stmt = select(AE.kind, AE.amount_fen, AE.year, AE.at).where(
        AE.member_id == member_id, AE.kind == RETURN
    )
    if start is not None:
        returns_stmt = returns_stmt.where(AE.at >= start)
    if end is not None:
        returns_stmt = returns_stmt.where(AE.at < end)
    returns = [
        MemberAccountEntryOut(kind=r.kind, amount_fen=r.amount_fen, year=r.year, at=r.at)
        for r in (await conn.execute(returns_stmt.order_by(AE.at, AE.id))).all()
    ]
    by_member = await volumes(conn, cooperative_id, start, end)
    return MemberAccountOut(
        member_id=row.id,
        cooperative_id=cooperative_id,
        name=row.name,
        capital_fen=row.capital_fen,
        capital_history=history,
        reserve_share_fen=int(reserve),
        transaction_volume_fen=by_member.get(member_id, 0),
        returns_fen=sum(r.amount_fen for r in returns),
        returns=returns,
        date_from=date_from,
        date_to=date_to,
        id_number_masked=id_number.mask(row.id_number),
    )


async def transaction_volumes(
    conn: Conn,
    principal: Principal,
    cooperative_id: str,
    *,
    volumes: MemberVolumes,
    start: datetime | None = None,
    end: datetime | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> TransactionVolumesOut:
    """Art. 41: the cooperative's settled sales in [start, end), net of refunds, by member and
    for non-members apart; member + non-member = total."""
    await _require_reader(conn, principal, cooperative_id)
    by_member = await volumes(conn, cooperative_id, start, end)
    non_member = by_member.get(None, 0)
    members = sorted((m, v) for m, v in by_member.items() if m is not None)
    member_total = sum(v for _, v in members)
    return TransactionVolumesOut(
        cooperative_id=cooperative_id,
        member_fen=member_total,
        non_member_fen=non_member,
        total_fen=member_total + non_member,
        by_member=[MemberVolumeOut(member_id=m, transaction_volume_fen=v) for m, v in members],
        date_from=date_from,
        date_to=date_to,
    )


async def record_capital_change(
    session: UnitOfWork, principal: Principal, cooperative_id: str, member_id: str, data: CapitalChangeIn
) -> CapitalChangeOut:
    """Its manager records a capital contribution or withdrawal: a new history entry, audited."""
    if principal.role != COOP_MANAGER:
        raise PermissionDenied(
            "Only the cooperative's managers record capital changes.", code="forbidden_role"
        )
    if cooperative_id not in await service.managed_cooperative_ids(session, principal.id):
        raise CooperativeNotFound("No such cooperative.")
    owner = await service.member_cooperative_id(session, member_id)
    if owner != cooperative_id:
        raise MemberNotFound("No such member.")
    return await capital.change_capital(
        session,
        principal,
        cooperative_id=cooperative_id,
        member_id=member_id,
        delta_fen=data.delta_fen,
        reason=data.reason.strip() or None,
    )


# --- for surplus distributions (reports slice, issue 8) -----------------------------------------


@dataclass(frozen=True, slots=True)
class DistributionMember:
    id: str
    name: str
    kind: str
    capital_fen: int
    reserve_share_fen: int  # quantified to date


async def charter_rates(conn: Conn, cooperative_id: str) -> tuple[int, int]:
    """``(reserve_rate_bps, patronage_return_bps)`` of the cooperative's charter."""
    row = (
        await conn.execute(select(C.reserve_rate_bps, C.patronage_return_bps).where(C.id == cooperative_id))
    ).one_or_none()
    if row is None:
        raise CooperativeNotFound("No such cooperative.")
    return int(row.reserve_rate_bps), int(row.patronage_return_bps)


async def distribution_members(conn: Conn, cooperative_id: str) -> list[DistributionMember]:
    """The cooperative's members in id order, with capital and reserve share to date."""
    reserve = dict(
        (
            await conn.execute(
                select(AE.member_id, func.sum(AE.amount_fen))
                .where(AE.cooperative_id == cooperative_id, AE.kind == RESERVE_SHARE)
                .group_by(AE.member_id)
            )
        ).all()
    )
    rows = (
        await conn.execute(
            select(MB.id, MB.name, MB.kind, MB.capital_fen)
            .where(MB.cooperative_id == cooperative_id)
            .order_by(MB.id)
        )
    ).all()
    return [
        DistributionMember(r.id, r.name, r.kind, int(r.capital_fen), int(reserve.get(r.id, 0))) for r in rows
    ]


async def member_names(conn: Conn, member_ids: list[str]) -> dict[str, str]:
    if not member_ids:
        return {}
    return dict((await conn.execute(select(MB.id, MB.name).where(MB.id.in_(member_ids)))).all())


async def credit_distribution(
    session: Conn,
    cooperative_id: str,
    year: int,
    source_id: str,
    credits: list[tuple[str, str, int]],
    at: datetime,
) -> None:
    """Append ``(member id, kind, amount)`` account entries of a confirmed distribution (zeros left out)."""
    rows = [
        {
            "id": new_id(),
            "member_id": member_id,
            "cooperative_id": cooperative_id,
            "kind": kind,
            "amount_fen": amount,
            "year": year,
            "source_id": source_id,
            "at": at,
        }
        for member_id, kind, amount in credits
        if amount
    ]
    if rows:
        await session.execute(insert(MemberAccountEntry.metadata.tables["member_account_entry"]).values(rows))
