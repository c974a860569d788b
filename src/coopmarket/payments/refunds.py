"""Refunds, the money side: recording a refund and posting it, sending it through its provider
(``payments.jobs``), recording the provider's outcome, and reversing a refund the provider could
not pay (``reverse_failed_refund``). Handing offline refunds back and the operators' lists are
in ``refund_records.py``.

Which part is refunded and how much is the orders slice's decision (``orders.refunds``);
``flows.refunds`` joins the two. Every function joins the caller's transaction and never commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.audit import service as audit
from coopmarket.core import clock
from coopmarket.core.ids import new_id
from coopmarket.core.principal import Principal
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


@dataclass(frozen=True)
class SentRefund:
    """A refund sent to a provider and not confirmed yet."""

    refund_id: str
    provider: str
    provider_ref: str


async def sent_refunds_pending(executor: Executor, providers: list[str], *, batch: int) -> list[SentRefund]:
    """Refunds of ``providers`` sent (a provider reference stored) but still ``pending``, oldest first."""
    if not providers:
        return []
    rows = (
        await executor.execute(
            select(col(PaymentRefund.id), col(Payment.provider), col(PaymentRefund.provider_ref))
            .join(Payment, col(Payment.id) == col(PaymentRefund.payment_id))
            .where(
                col(Payment.provider).in_(providers),
                col(PaymentRefund.status) == RefundState.PENDING,
                col(PaymentRefund.provider_ref).is_not(None),
            )
            .order_by(col(PaymentRefund.id))
            .limit(batch)
        )
    ).all()
    return [SentRefund(r[0], r[1], str(r[2])) for r in rows]
