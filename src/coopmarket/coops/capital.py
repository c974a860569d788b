"""Member capital (Art. 43): every change is a new, append-only entry of the member's capital history,
its ``delta_fen`` moves the member's capital in the same transaction (so the capital is always the
sum of the history), the charter's cap on one member's share is enforced on increases, and each
change is audited in the same transaction. Joins the caller's unit of work; never commits."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession as UnitOfWork

from coopmarket.audit import service as audit
from coopmarket.coops.errors import CapitalBelowZero, CooperativeNotFound, MemberCapitalCapExceeded
from coopmarket.coops.models import Cooperative, CooperativeMember, MemberCapitalChange
from coopmarket.coops.schemas import CapitalChangeOut
from coopmarket.core import clock
from coopmarket.core.principal import Principal

_cooperative = Cooperative.metadata.tables["cooperative"]
_member = CooperativeMember.metadata.tables["cooperative_member"]
C = _cooperative.c
MB = _member.c

BPS = 10_000


async def change_capital(
    session: UnitOfWork,
    principal: Principal,
    *,
    cooperative_id: str,
    member_id: str,
    delta_fen: int,
    reason: str | None,
    action: str = "member.capital_changed",
) -> CapitalChangeOut:
    """Record one capital change of ``member_id`` (a member of ``cooperative_id``, checked by the
    caller). ``delta_fen`` 0 records the opening entry of a member without capital."""
    # One capital change per cooperative at a time (PostgreSQL; SQLite writers queue anyway), so
    # the cap is checked against totals no concurrent change can move.
    coop = (
        await session.execute(
            select(C.member_capital_cap_bps, C.village_code).where(C.id == cooperative_id).with_for_update()
        )
    ).one_or_none()
    if coop is None:
        raise CooperativeNotFound("No such cooperative.")
    # Conditional on the result staying >= 0: a decrease cannot race below zero.
    result = await session.execute(
        update(_member)
        .where(MB.id == member_id, MB.cooperative_id == cooperative_id, MB.capital_fen + delta_fen >= 0)
        .values(capital_fen=MB.capital_fen + delta_fen)
        .returning(MB.capital_fen)
        .execution_options(synchronize_session=False)
    )
    returned = result.scalar_one_or_none()
    if returned is None:
        raise CapitalBelowZero("A member's capital cannot go below zero.")
    new = int(returned)
    old = new - delta_fen
    cap = coop.member_capital_cap_bps
    if cap is not None and delta_fen > 0:
        count, total = (
            await session.execute(
                select(func.count(), func.coalesce(func.sum(MB.capital_fen), 0)).where(
                    MB.cooperative_id == cooperative_id
                )
            )
        ).one()
        # With fewer members than 100% / cap someone must hold more than the cap: the cap binds
        # from that many members on (e.g. 20% from the fifth member), so a cooperative can form.
        if int(count) * cap >= BPS and new * BPS > cap * int(total):
            raise MemberCapitalCapExceeded(
                f"The charter caps one member's share of capital at {cap / 100:g}%; "
                f"this change would give the member {new * 100 / total:.2f}%.",
                extra={"member_capital_cap_bps": cap},
            )
    entry = MemberCapitalChange(
        member_id=member_id,
        old_capital_fen=old,
        new_capital_fen=new,
        delta_fen=delta_fen,
        reason=reason,
        changed_by=principal.id,
        changed_at=clock.now(),
    )
    session.add(entry)
    await session.flush()
    await audit.record(
        session,
        actor=principal,
        action=action,
        entity="cooperative_member",
        entity_id=member_id,
        before={"capital_fen": old},
        after={"capital_fen": new, "delta_fen": delta_fen},
        reason=reason,
        region_code=coop.village_code,
        cooperative_id=cooperative_id,
    )
    return CapitalChangeOut(
        id=entry.id,
        old_capital_fen=old,
        new_capital_fen=new,
        delta_fen=delta_fen,
        reason=reason,
        changed_by=principal.id,
        changed_at=entry.changed_at,
    )
