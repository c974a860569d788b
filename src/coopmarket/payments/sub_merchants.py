"""WeChat Pay partner mode: each cooperative's sub-merchant (set by district staff), and the record
of each settled part's profit sharing (one per part; ``out_order_no`` unique)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.audit import service as audit
from coopmarket.coops import service as coops_service
from coopmarket.core import clock
from coopmarket.core.errors import NotFound
from coopmarket.core.ids import new_id
from coopmarket.core.principal import DISTRICT_STAFF, Principal
from coopmarket.db import Executor, insert_or_ignore, rowcount
from coopmarket.payments.models import PaymentRefund, ProfitSharing, ProfitSharingReturn, WechatSubMerchant
from coopmarket.payments.profit_sharing import COLLECTIVE, PLATFORM, ProfitReturn, SharePlan, ShareReceiver
from coopmarket.payments.providers import RefundState
from coopmarket.payments.schemas import SubMerchantIn, SubMerchantOut


@dataclass(frozen=True)
class SubMerchant:
    cooperative_id: str
    sub_mchid: str
    max_ratio_bps: int
    collective_mchid: str | None


def _out(row: WechatSubMerchant) -> SubMerchantOut:
    return SubMerchantOut(
        cooperative_id=row.cooperative_id,
        sub_mchid=row.sub_mchid,
        max_ratio_bps=row.max_ratio_bps,
        collective_mchid=row.collective_mchid,
        updated_at=row.updated_at,
    )


async def set_sub_merchant(
    session: AsyncSession, principal: Principal, cooperative_id: str, data: SubMerchantIn
) -> SubMerchantOut:
    """District staff set (or change) a cooperative's sub-merchant; audited. 404 for an unknown cooperative."""
    principal.require_role(DISTRICT_STAFF)
    brief = await coops_service.get_cooperative_brief(session, cooperative_id)
    if brief is None or not principal.covers_region(brief.village_code):
        raise NotFound("No such cooperative.", code="cooperative_not_found")
    row = await session.get(WechatSubMerchant, cooperative_id)
    before = None if row is None else _out(row)
    if row is None:
        row = WechatSubMerchant(cooperative_id=cooperative_id, sub_mchid=data.sub_mchid)
        session.add(row)
    row.sub_mchid = data.sub_mchid
    row.max_ratio_bps = data.max_ratio_bps
    row.collective_mchid = data.collective_mchid
    row.updated_by = principal.id
    row.updated_at = clock.now()
    await session.flush()
    out = _out(row)
    await audit.record(
        session,
        actor=principal,
        action="cooperative.wechat_sub_merchant_set",
        entity="cooperative",
        entity_id=cooperative_id,
        before=None if before is None else {"sub_mchid": before.sub_mchid, "max_ratio_bps": before.max_ratio_bps,
                                            "collective_mchid": before.collective_mchid},
        after={"sub_mchid": out.sub_mchid, "max_ratio_bps": out.max_ratio_bps, "collective_mchid": out.collective_mchid},
        region_code=brief.village_code,
        cooperative_id=cooperative_id,
    )
    return out


async def sub_merchant_of(executor: Executor, cooperative_id: str) -> SubMerchant | None:
    row = (
        await executor.execute(
            select(
                col(WechatSubMerchant.cooperative_id),
                col(WechatSubMerchant.sub_mchid),
                col(WechatSubMerchant.max_ratio_bps),
                col(WechatSubMerchant.collective_mchid),
            ).where(col(WechatSubMerchant.cooperative_id) == cooperative_id)
        )
    ).one_or_none()
    return None if row is None else SubMerchant(*row)


async def shared_part_ids(executor: Executor, part_ids: list[str]) -> set[str]:
    """Which of ``part_ids`` have a profit-sharing record already."""
    if not part_ids:
        return set()
    rows = await executor.execute(select(col(ProfitSharing.part_id)).where(col(ProfitSharing.part_id).in_(part_ids)))
    return {r[0] for r in rows}


async def record_sharing(
    session: AsyncSession, *, part_id: str, payment_id: str, sub_mchid: str, settled_fen: int, plan: SharePlan
) -> bool:
    """Record the part's planned sharing (``pending``) the first time; False when recorded before."""
    result = await session.execute(
        insert_or_ignore(
            session,
            ProfitSharing.__table__,  # type: ignore[attr-defined]
            {
                "id": new_id(),
                "part_id": part_id,
                "payment_id": payment_id,
                "out_order_no": plan.out_order_no,
                "sub_mchid": sub_mchid,
                "settled_fen": settled_fen,
                "platform_fen": plan.platform_fen,
                "collective_fen": plan.collective_fen,
                "sent_fen": sum(r.amount_fen for r in plan.receivers),
                "kept_payable_fen": plan.kept_payable_fen,
                "platform_mchid": next((r.account for r in plan.receivers if r.kind == PLATFORM), None),
                "platform_sent_fen": sum(r.amount_fen for r in plan.receivers if r.kind == PLATFORM),
                "collective_mchid": next((r.account for r in plan.receivers if r.kind == COLLECTIVE), None),
                "collective_sent_fen": sum(r.amount_fen for r in plan.receivers if r.kind == COLLECTIVE),
                "status": "pending",
                "created_at": clock.now(),
            },
            conflict_on=["part_id"],
        )
    )
    return bool(rowcount(result))


@dataclass(frozen=True)
class PendingSharing:
    part_id: str
    out_order_no: str
    sub_mchid: str
    status: str
    wechat_order_id: str | None
    sent_at: datetime | None


async def sharing_of_part(executor: Executor, part_id: str) -> PendingSharing | None:
    row = (
        await executor.execute(
            select(
                col(ProfitSharing.part_id),
                col(ProfitSharing.out_order_no),
                col(ProfitSharing.sub_mchid),
                col(ProfitSharing.status),
                col(ProfitSharing.wechat_order_id),
                col(ProfitSharing.sent_at),
            ).where(col(ProfitSharing.part_id) == part_id)
        )
    ).one_or_none()
    return None if row is None else PendingSharing(*row)


async def store_sharing_sent(session: AsyncSession, part_id: str, wechat_order_id: str) -> None:
    await session.execute(
        update(ProfitSharing)
        .where(col(ProfitSharing.part_id) == part_id, col(ProfitSharing.status) == "pending")
        .values(status="sent", wechat_order_id=wechat_order_id, sent_at=clock.now())
    )


@dataclass(frozen=True)
class RefundToClawBack:
    """A refund of a part whose profit sharing was sent, with no claw-back recorded yet."""

    refund_id: str
    part_id: str
    amount_fen: int
    refund_created_at: datetime
    sub_mchid: str
    out_order_no: str
    settled_fen: int
    plan: SharePlan


async def refunds_to_claw_back(executor: Executor, *, batch: int) -> list[RefundToClawBack]:
    """Refunds (not failed) of parts with a sent profit sharing and no claw-back recorded, oldest first."""
    returned = select(col(ProfitSharingReturn.refund_id))
    rows = (
        await executor.execute(
            select(
                col(PaymentRefund.id),
                col(PaymentRefund.part_id),
                col(PaymentRefund.amount_fen),
                col(PaymentRefund.created_at),
                col(ProfitSharing.sub_mchid),
                col(ProfitSharing.out_order_no),
                col(ProfitSharing.settled_fen),
                col(ProfitSharing.platform_mchid),
                col(ProfitSharing.platform_sent_fen),
                col(ProfitSharing.collective_mchid),
                col(ProfitSharing.collective_sent_fen),
                col(ProfitSharing.platform_fen),
                col(ProfitSharing.collective_fen),
                col(ProfitSharing.kept_payable_fen),
            )
            .join(ProfitSharing, col(ProfitSharing.part_id) == col(PaymentRefund.part_id))
            .where(
                col(ProfitSharing.status) == "sent",
                col(ProfitSharing.sent_fen) > 0,
                col(PaymentRefund.status) != RefundState.FAILED,
                col(PaymentRefund.id).not_in(returned),
            )
            .order_by(col(PaymentRefund.id))
            .limit(batch)
        )
    ).all()
    found = []
    for r in rows:
        receivers = []
        if r[7] and r[8] > 0:
            receivers.append(ShareReceiver(PLATFORM, r[7], int(r[8]), ""))
        if r[9] and r[10] > 0:
            receivers.append(ShareReceiver(COLLECTIVE, r[9], int(r[10]), ""))
        plan = SharePlan(r[5], tuple(receivers), int(r[11]), int(r[12]), int(r[13]))
        found.append(RefundToClawBack(r[0], str(r[1]), int(r[2]), r[3], r[4], r[5], int(r[6]), plan))
    return found


async def record_return(
    session: AsyncSession, *, out_return_no: str, refund_id: str, part_id: str, account: str, amount_fen: int, result: str
) -> None:
    """Record one claw-back (once per ``out_return_no``)."""
    await session.execute(
        insert_or_ignore(
            session,
            ProfitSharingReturn.__table__,  # type: ignore[attr-defined]
            {
                "out_return_no": out_return_no,
                "refund_id": refund_id,
                "part_id": part_id,
                "account": account,
                "amount_fen": amount_fen,
                "result": result,
                "created_at": clock.now(),
            },
            conflict_on=["out_return_no"],
        )
    )


async def set_return_result(session: AsyncSession, out_return_no: str, result: str) -> None:
    """What WeChat Pay answered for a claw-back (``PROCESSING``, ``SUCCESS`` or ``FAILED``)."""
    await session.execute(
        update(ProfitSharingReturn)
        .where(col(ProfitSharingReturn.out_return_no) == out_return_no)
        .values(result=result[:16])
    )


async def pending_returns(executor: Executor, *, batch: int) -> list[ProfitReturn]:
    """Claw-backs recorded but not taken by WeChat Pay yet (to send, or send again: once by number)."""
    rows = (
        await executor.execute(
            select(
                col(ProfitSharing.sub_mchid),
                col(ProfitSharing.out_order_no),
                col(ProfitSharingReturn.out_return_no),
                col(ProfitSharingReturn.account),
                col(ProfitSharingReturn.amount_fen),
            )
            .join(ProfitSharing, col(ProfitSharing.part_id) == col(ProfitSharingReturn.part_id))
            .where(col(ProfitSharingReturn.result) == "pending")
            .order_by(col(ProfitSharingReturn.out_return_no))
            .limit(batch)
        )
    ).all()
    return [ProfitReturn(r[0], r[1], r[2], r[3], int(r[4]), "退款回退") for r in rows]
