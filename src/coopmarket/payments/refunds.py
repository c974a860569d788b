"""Refunds, the money side: recording a refund and posting it, sending it through its provider
(``payments.jobs``), recording the provider's outcome, reversing a refund the provider could not
pay (``reverse_failed_refund``), recording that an offline refund was handed back, and the lists
operators work from (outstanding offline refunds, failed refunds).

Which part is refunded and how much is the orders slice's decision (``orders.refunds``);
``flows.refunds`` joins the two. Every function joins the caller's transaction and never commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, or_, select, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.audit import service as audit
from coopmarket.core import clock
from coopmarket.core.errors import FieldError, ValidationFailed
from coopmarket.core.ids import new_id
from coopmarket.core.pagination import decode_cursor, encode_cursor
from coopmarket.core.principal import Principal
from coopmarket.db import Executor, rowcount
from coopmarket.ledger import posting
from coopmarket.ledger import service as ledger_service
from coopmarket.payments.errors import NoPaymentToRefund, RefundNotOffline, RefundNotOutstanding
from coopmarket.payments.models import Payment, PaymentRefund
from coopmarket.payments.providers import OFFLINE, PaymentStatus, RefundState
from coopmarket.payments.schemas import PaymentRefundList, PaymentRefundOut, RefundListState

log = logging.getLogger(__name__)


async def refund_part(
    session: AsyncSession,
    *,
    order_id: str,
    part_id: str,
    cooperative_id: str,
    amount_fen: int,
    reason: str,
    refund_id: str | None = None,
    settled: posting.SplitTerms | None = None,
    region_code: str | None = None,
    is_related_party: bool = False,
) -> str:
    """Refund (part of) a paid order part: record the refund and post it; returns the refund's id.

    Offline refunds are handed back by the cooperative or staff (``pending`` until they say so,
    ``mark_handed_back``); a provider's are sent after commit by ``payments.jobs``. ``refund_id``
    names the refund (default: a new id); the ledger's dedupe key is ``refund:{refund_id}``. Money
    of an unsettled part comes back out of escrow; with ``settled`` (the part was received and its
    amount split), the split is reversed in proportion instead. ``region_code`` (the part's
    village) places the refund's audit entries; ``is_related_party`` flags its posting.
    """
    payment = (
        (
            await session.execute(
                select(Payment)
                .where(col(Payment.order_id) == order_id, col(Payment.status) == PaymentStatus.SUCCEEDED)
                .order_by(col(Payment.created_at).desc())
            )
        )
        .scalars()
        .first()
    )
    if payment is None:
        raise NoPaymentToRefund("This order has no payment to refund.")
    refund = PaymentRefund(
        id=refund_id or new_id(),
        payment_id=payment.id,
        order_id=order_id,
        part_id=part_id,
        amount_fen=amount_fen,
        status=RefundState.PENDING,
        reason=reason,
        cooperative_id=cooperative_id,
        region_code=region_code,
    )
    session.add(refund)
    await session.flush()
    await ledger_service.post(
        session,
        kind=posting.REFUND,
        dedupe_key=f"refund:{refund.id}",
        entries=(
            posting.refund_entries(payment.provider, cooperative_id, amount_fen)
            if settled is None
            else posting.settled_refund_entries(payment.provider, cooperative_id, amount_fen, settled)
        ),
        occurred_at=clock.now(),
        order_id=order_id,
        cooperative_id=cooperative_id,
        memo=reason[:500],
        is_related_party=is_related_party,
    )
    return refund.id


@dataclass(frozen=True)
class RefundToSend:
    """A pending refund of a provider that sends refunds, not sent yet."""

    refund_id: str
    provider: str
    payment_ref: str
    amount_fen: int
    payment_amount_fen: int
    reason: str | None


async def refunds_to_send(executor: Executor, providers: list[str], *, batch: int) -> list[RefundToSend]:
    """Pending refunds of payments through ``providers`` that were never sent, oldest first."""
    if not providers:
        return []
    rows = (
        await executor.execute(
            select(
                col(PaymentRefund.id),
                col(Payment.provider),
                col(Payment.provider_ref),
                col(PaymentRefund.amount_fen),
                col(Payment.amount_fen),
                col(PaymentRefund.reason),
            )
            .join(Payment, col(Payment.id) == col(PaymentRefund.payment_id))
            .where(
                col(Payment.provider).in_(providers),
                col(PaymentRefund.status) == RefundState.PENDING,
                col(PaymentRefund.provider_ref).is_(None),
                # A provider payment is recorded with the provider's reference, so it is never None.
                col(Payment.provider_ref).is_not(None),
            )
            .order_by(col(PaymentRefund.id))
            .limit(batch)
        )
    ).all()
    return [RefundToSend(r[0], r[1], str(r[2]), int(r[3]), int(r[4]), r[5]) for r in rows]


async def store_refund_sent(
    session: AsyncSession, refund_id: str, provider_ref: str | None, status: str
) -> None:
    """What the provider answered when the refund was sent (``provider_ref`` ``None``: refused)."""
    values: dict[str, object] = {"status": status}
    if provider_ref is not None:
        values["provider_ref"] = provider_ref
    await session.execute(
        update(PaymentRefund)
        .where(col(PaymentRefund.id) == refund_id, col(PaymentRefund.status) == RefundState.PENDING)
        .values(**values)
    )


async def set_refund_status(
    session: AsyncSession, *, provider_ref: str, status: str, refund_id: str | None = None
) -> bool:
    """Record a provider refund's ``succeeded`` or ``pending`` answer (then only the reference is stored).

    Finds our refund by id when known, else by reference. A failure is not recorded here:
    ``flows.refunds.refund_failed`` reverses it. True when something changed.
    """
    if status == RefundState.FAILED:
        raise ValueError("a failed refund is reversed (flows.refunds.refund_failed), not just marked")
    match = (
        col(PaymentRefund.id) == refund_id if refund_id else col(PaymentRefund.provider_ref) == provider_ref
    )
    refund = (await session.execute(select(PaymentRefund).where(match))).scalar_one_or_none()
    if refund is None:
        return False
    values: dict[str, object] = {"provider_ref": provider_ref}
    if status == RefundState.SUCCEEDED and refund.status == RefundState.PENDING:
        values["status"] = status
    elif refund.provider_ref == provider_ref:
        return False
    conditions = [col(PaymentRefund.id) == refund.id, col(PaymentRefund.status) == refund.status]
    result = await session.execute(update(PaymentRefund).where(*conditions).values(**values))
    return bool(rowcount(result))


async def find_refund_id(
    executor: Executor, *, provider_ref: str | None, refund_id: str | None = None
) -> str | None:
    """Our refund's id, from our id (a provider's metadata) or the provider's reference."""
    if refund_id:
        match = col(PaymentRefund.id) == refund_id
    elif provider_ref:
        match = col(PaymentRefund.provider_ref) == provider_ref
    else:
        return None
    found = (await executor.execute(select(col(PaymentRefund.id)).where(match))).first()
    return None if found is None else str(found[0])


# ---------------------------------------------------------------- failed refunds


@dataclass(frozen=True)
class FailedRefund:
    """A refund the provider could not pay, now reversed: what the orders slice must give back.

    ``part_id`` is ``None`` for the full refund of an unmatched payment (no part was counted).
    """

    refund_id: str
    order_id: str
    part_id: str | None
    amount_fen: int
    provider: str


async def reverse_failed_refund(
    session: AsyncSession,
    refund_id: str,
    reason: str,
    *,
    provider_ref: str | None = None,
    actor: Principal | None = None,
) -> FailedRefund | None:
    """A provider refund failed: mark it ``failed``, post the exact inverse of its posting, audit it.

    The buyer was not paid back, so the money is owed again: the reversal (``refund_failed``,
    dedupe key ``refund_failed:{refund_id}``) debits ``cash:{provider}`` and credits every account
    the refund debited (escrow, or the settled shares, or suspense), the same amounts. A refund
    that was ``pending`` or ``succeeded`` moves to ``failed`` with a conditional UPDATE, so a
    failure reported twice (webhook and sender, or reconciliation) is reversed once; ``None`` then.
    The refund appears in ``list_refunds(state="failed")`` for staff. ``provider_ref`` is stored
    when the provider names the refund. Shared by every provider (Stripe, WeChat Pay): call it
    through ``flows.refunds.refund_failed``, which also gives the amount back to the order.
    Joins the caller's transaction.
    """
    now = clock.now()
    values: dict[str, Any] = {
        "status": RefundState.FAILED,
        "failed_at": now,
        "failure_reason": reason[:500],
    }
    if provider_ref is not None:
        values["provider_ref"] = provider_ref
    row = (
        await session.execute(
            update(PaymentRefund)
            .where(
                col(PaymentRefund.id) == refund_id,
                col(PaymentRefund.status).in_([RefundState.PENDING, RefundState.SUCCEEDED]),
            )
            .values(**values)
            .returning(
                col(PaymentRefund.order_id),
                col(PaymentRefund.part_id),
                col(PaymentRefund.amount_fen),
                col(PaymentRefund.payment_id),
                col(PaymentRefund.cooperative_id),
                col(PaymentRefund.region_code),
            )
        )
    ).first()
    if row is None:
        return None
    order_id, part_id, amount, payment_id, cooperative_id, region_code = row
    provider = (
        await session.execute(select(col(Payment.provider)).where(col(Payment.id) == payment_id))
    ).scalar_one()
    await ledger_service.reverse(
        session,
        original_dedupe_key=f"refund:{refund_id}",
        kind=posting.REFUND_FAILED,
        dedupe_key=f"refund_failed:{refund_id}",
        occurred_at=now,
        memo=f"{provider} refund {refund_id} failed: {reason}"[:500],
    )
    await audit.record(
        session,
        actor=actor,
        action="refund.failed",
        entity="refund",
        entity_id=refund_id,
        after={
            "status": RefundState.FAILED,
            "order_id": order_id,
            "part_id": part_id,
            "amount_fen": int(amount),
            "provider": provider,
            "provider_ref": provider_ref,
        },
        reason=reason,
        region_code=region_code,
        cooperative_id=cooperative_id,
    )
    log.error("%s refund %s of order %s failed (%s): reversed, listed for staff", provider, refund_id, order_id, reason)
    return FailedRefund(str(refund_id), str(order_id), part_id, int(amount), str(provider))


# ---------------------------------------------------------------- offline refunds handed back


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
        await executor.execute(select(col(PaymentRefund.region_code)).where(col(PaymentRefund.id) == refund_id))
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

