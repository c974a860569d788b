"""Refunds, the money side: recording a refund and posting it, sending it through its provider
(``payments.jobs``), and recording the provider's outcome.

Which part is refunded and how much is the orders slice's decision (``orders.refunds``);
``flows.refunds`` joins the two. Every function joins the caller's transaction and never commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core import clock
from coopmarket.core.ids import new_id
from coopmarket.db import Executor, rowcount
from coopmarket.ledger import posting
from coopmarket.ledger import service as ledger_service
from coopmarket.payments.errors import NoPaymentToRefund
from coopmarket.payments.models import Payment, PaymentRefund
from coopmarket.payments.providers import PaymentStatus, RefundState

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
) -> str:
    """Refund (part of) a paid order part: record the refund and post it; returns the refund's id.

    Offline refunds are handed back by the cooperative or staff (``pending`` until they say so);
    a provider's are sent after commit by ``payments.jobs``. ``refund_id`` names the refund
    (default: a new id); the ledger's dedupe key is ``refund:{refund_id}``. Money of an unsettled
    part comes back out of escrow; with ``settled`` (the part was received and its amount split),
    the split is reversed in proportion instead.
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


# Refund statuses a provider's answer may move ours to, and from which.
_REFUND_MOVES: dict[str, tuple[str, ...]] = {
    RefundState.SUCCEEDED: (RefundState.PENDING,),
    RefundState.FAILED: (RefundState.PENDING, RefundState.SUCCEEDED),
}


async def set_refund_status(
    session: AsyncSession, *, provider_ref: str, status: str, refund_id: str | None = None
) -> bool:
    """Record a provider refund's outcome on our ``PaymentRefund`` (by id when known, else by reference).

    ``status`` is ``succeeded``, ``failed`` or ``pending`` (then only the reference is stored).
    True when something changed.
    """
    match = (
        col(PaymentRefund.id) == refund_id if refund_id else col(PaymentRefund.provider_ref) == provider_ref
    )
    refund = (await session.execute(select(PaymentRefund).where(match))).scalar_one_or_none()
    if refund is None:
        return False
    values: dict[str, object] = {"provider_ref": provider_ref}
    moves_from = _REFUND_MOVES.get(status)
    if moves_from is not None and refund.status in moves_from:
        values["status"] = status
    elif refund.provider_ref == provider_ref:
        return False
    conditions = [col(PaymentRefund.id) == refund.id, col(PaymentRefund.status) == refund.status]
    result = await session.execute(update(PaymentRefund).where(*conditions).values(**values))
    if status == RefundState.FAILED and values.get("status") == RefundState.FAILED:
        log.error("refund %s (%s) failed at the provider: hand it back by hand", refund.id, provider_ref)
    return bool(rowcount(result))
