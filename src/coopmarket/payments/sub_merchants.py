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
from coopmarket.payments.models import ProfitSharing, WechatSubMerchant
from coopmarket.payments.profit_sharing import SharePlan
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
