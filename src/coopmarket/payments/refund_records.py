"""Refunds as operators see and record them: the offline refunds handed back to buyers
(``mark_handed_back``), and the lists of refunds waiting for a person (``list_refunds``:
outstanding offline refunds, failed provider refunds).

Who may act on which refund is the orders slice's to say (``flows.refunds`` asks it first).
Every function joins the caller's transaction and never commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, or_, select, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.audit import service as audit
from coopmarket.core import clock
from coopmarket.core.errors import FieldError, ValidationFailed
from coopmarket.core.pagination import decode_cursor, encode_cursor
from coopmarket.core.principal import Principal
from coopmarket.db import Executor, rowcount
from coopmarket.payments.errors import RefundNotOffline, RefundNotOutstanding
from coopmarket.payments.models import Payment, PaymentRefund
from coopmarket.payments.providers import OFFLINE, RefundState
from coopmarket.payments.schemas import PaymentRefundList, PaymentRefundOut, RefundListState


@dataclass(frozen=True)
class RefundFacts:
    """What deciding who may act on a refund needs."""

    id: str
    order_id: str
    part_id: str | None
    provider: str
    status: str
    amount_fen: int


async def refund_facts(executor: Executor, refund_id: str) -> RefundFacts | None:
    """The refund ``refund_id`` with its provider; ``None`` when there is no such refund."""
    row = (
        await executor.execute(
            select(
                col(PaymentRefund.id),
                col(PaymentRefund.order_id),
                col(PaymentRefund.part_id),
                col(Payment.provider),
                col(PaymentRefund.status),
                col(PaymentRefund.amount_fen),
            )
            .join(Payment, col(Payment.id) == col(PaymentRefund.payment_id))
            .where(col(PaymentRefund.id) == refund_id)
        )
    ).first()
    return None if row is None else RefundFacts(row[0], row[1], row[2], row[3], row[4], int(row[5]))


async def mark_handed_back(
    session: AsyncSession, principal: Principal, refund_id: str, reference: str
) -> PaymentRefundOut:
    """Record that an offline refund was paid back to the buyer (who may is the caller's to check).

    A conditional UPDATE from ``pending``, so two people recording it at once record it once
    (the other: 409 ``refund_not_outstanding``). Nothing is posted: the refund's posting was made
    when it was decided; this says the money really left. Audited. Joins the caller's transaction.
    """
    facts = await refund_facts(session, refund_id)
    if facts is not None and facts.provider != OFFLINE:
        raise RefundNotOffline(f"A {facts.provider} refund is paid back by {facts.provider}, not by hand.")
    now = clock.now()
    result = await session.execute(
        update(PaymentRefund)
        .where(col(PaymentRefund.id) == refund_id, col(PaymentRefund.status) == RefundState.PENDING)
        .values(
            status=RefundState.SUCCEEDED,
            handed_back_reference=reference,
            handed_back_by=principal.id,
            handed_back_at=now,
        )
    )
    if rowcount(result) != 1:
        raise RefundNotOutstanding("This refund is not outstanding: it was handed back already, or failed.")
    out = await refund_out(session, refund_id)
    await audit.record(
        session,
        actor=principal,
        action="refund.handed_back",
        entity="refund",
        entity_id=refund_id,
        before={"status": RefundState.PENDING},
        after={"status": RefundState.SUCCEEDED, "reference": reference, "amount_fen": out.amount_fen},
        region_code=await _region_code(session, refund_id),
        cooperative_id=out.cooperative_id,
    )
    return out


async def _region_code(executor: Executor, refund_id: str) -> str | None:
    return (
        await executor.execute(
            select(col(PaymentRefund.region_code)).where(col(PaymentRefund.id) == refund_id)
        )
    ).scalar_one_or_none()


# ---------------------------------------------------------------- reading


_OUT_COLUMNS = (
    col(PaymentRefund.id),
    col(PaymentRefund.order_id),
    col(PaymentRefund.part_id),
    col(PaymentRefund.cooperative_id),
    col(Payment.provider),
    col(PaymentRefund.amount_fen),
    col(PaymentRefund.status),
    col(PaymentRefund.reason),
    col(PaymentRefund.created_at),
    col(PaymentRefund.provider_ref),
    col(PaymentRefund.handed_back_reference),
    col(PaymentRefund.handed_back_by),
    col(PaymentRefund.handed_back_at),
    col(PaymentRefund.failed_at),
    col(PaymentRefund.failure_reason),
)


def _out(row: Any) -> PaymentRefundOut:
    return PaymentRefundOut(
        id=row[0],
        order_id=row[1],
        part_id=row[2],
        cooperative_id=row[3],
        provider=row[4],
        amount_fen=int(row[5]),
        status=row[6],
        reason=row[7],
        created_at=row[8],
        provider_ref=row[9],
        handed_back_reference=row[10],
        handed_back_by=row[11],
        handed_back_at=row[12],
        failed_at=row[13],
        failure_reason=row[14],
    )


async def refund_out(executor: Executor, refund_id: str) -> PaymentRefundOut:
    """One refund as operators see it."""
    row = (
        await executor.execute(
            select(*_OUT_COLUMNS)
            .join(Payment, col(Payment.id) == col(PaymentRefund.payment_id))
            .where(col(PaymentRefund.id) == refund_id)
            .execution_options(populate_existing=True)
        )
    ).one()
    return _out(row)


@dataclass(frozen=True)
class RefundScope:
    """Which refunds a caller may list: those of ``part_ids``, and the part-less ones (an unmatched
    payment's full refund) of ``order_ids``. Both are sub-selects the orders slice builds."""

    part_ids: Select[Any]
    order_ids: Select[Any]


async def list_refunds(
    executor: Executor,
    *,
    state: RefundListState,
    scope: RefundScope,
    limit: int,
    cursor: str | None,
) -> PaymentRefundList:
    """Refunds operators must act on, oldest first (keyset on the id).

    ``outstanding``: offline refunds not handed back yet; ``failed``: provider refunds that could
    not be paid (reversed; to be refunded again).
    """
    condition = (
        and_(col(PaymentRefund.status) == RefundState.PENDING, col(Payment.provider) == OFFLINE)
        if state == "outstanding"
        else col(PaymentRefund.status) == RefundState.FAILED
    )
    stmt = (
        select(*_OUT_COLUMNS)
        .join(Payment, col(Payment.id) == col(PaymentRefund.payment_id))
        .where(
            condition,
            or_(
                col(PaymentRefund.part_id).in_(scope.part_ids),
                and_(col(PaymentRefund.part_id).is_(None), col(PaymentRefund.order_id).in_(scope.order_ids)),
            ),
        )
        .order_by(col(PaymentRefund.id))
        .limit(limit + 1)
    )
    after = decode_cursor(cursor, 1)
    if after is not None:
        if not isinstance(after[0], str):
            raise ValidationFailed(
                "The cursor is not one this API issued.",
                code="invalid_cursor",
                errors=[FieldError("cursor", "malformed cursor")],
            )
        stmt = stmt.where(col(PaymentRefund.id) > after[0])
    rows = (await executor.execute(stmt)).all()
    items = [_out(row) for row in rows[:limit]]
    more = len(rows) > limit and bool(items)
    return PaymentRefundList(items=items, next_cursor=encode_cursor([items[-1].id]) if more else None)
