"""The payments core: records payments, refunds and provider events, and posts the money to the ledger.

It knows payments and money, not orders: which order may be paid, and by whom, is the orders
slice's; ``flows.payment`` and ``flows.refunds`` join the two. Providers (``providers.py``) do
the I/O; what they return is applied here. Every function joins the caller's transaction and
never commits (see ``db.py``: whoever opens a unit of work ends it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core import clock
from coopmarket.core.ids import new_id
from coopmarket.db import Executor, insert_or_ignore, rowcount
from coopmarket.ledger import posting
from coopmarket.ledger import service as ledger_service
from coopmarket.payments.errors import NoPaymentToRefund, PaymentAlreadyRecorded
from coopmarket.payments.models import Payment, PaymentRefund, ProviderEvent
from coopmarket.payments.providers import (
    APPLIED_PAYMENT_STATUSES,
    OFFLINE,
    PaymentStatus,
    RefundState,
)

log = logging.getLogger(__name__)

# Money a provider received that no order could take (expired, already paid, wrong amount).
SUSPENSE_UNMATCHED = "suspense:unmatched_payments"
UNMATCHED_PAYMENT = "unmatched_payment"
PAYMENT_RECEIVED = "payment_received"


@dataclass(frozen=True)
class PaymentRecord:
    """A recorded payment, as the rest of the code sees it."""

    id: str
    order_id: str
    provider: str
    status: str
    amount_fen: int
    provider_ref: str | None
    reference: str | None
    created_at: datetime


def _record(payment: Payment) -> PaymentRecord:
    return PaymentRecord(
        id=payment.id,
        order_id=payment.order_id,
        provider=payment.provider,
        status=payment.status,
        amount_fen=payment.amount_fen,
        provider_ref=payment.provider_ref,
        reference=payment.reference,
        created_at=payment.created_at,
    )


# ---------------------------------------------------------------- money received


async def record_offline_payment(
    session: AsyncSession, *, order_id: str, amount_fen: int, reference: str, recorded_by: str
) -> PaymentRecord:
    """Record money received outside the platform (a bank slip, a receipt), once per reference."""
    payment = Payment(
        order_id=order_id,
        provider=OFFLINE,
        status=PaymentStatus.SUCCEEDED,
        amount_fen=amount_fen,
        provider_ref=f"offline:{order_id}:{reference}",
        reference=reference,
        recorded_by=recorded_by,
        succeeded_at=clock.now(),
    )
    session.add(payment)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise PaymentAlreadyRecorded("This payment reference was already recorded.") from exc
    return _record(payment)


async def post_payment_received(
    session: AsyncSession, payment: PaymentRecord, amount_fen: int, parts: list[tuple[str, int]]
) -> None:
    """Post ``payment_received``: cash at the provider, credited to each cooperative's escrow.

    ``parts``: ``(cooperative_id, subtotal_fen)`` of each part the payment paid, adding up to
    ``amount_fen``. Posted once per payment (dedupe ``payment:{id}``).
    """
    await ledger_service.post(
        session,
        kind=PAYMENT_RECEIVED,
        dedupe_key=f"payment:{payment.id}",
        entries=posting.payment_received_entries(payment.provider, amount_fen, parts),
        occurred_at=clock.now(),
        order_id=payment.order_id,
        memo=f"{payment.provider} payment {payment.id}",
    )


# ---------------------------------------------------------------- provider payments


async def resumable_payment(
    executor: Executor, order_id: str, provider: str, amount_fen: int
) -> PaymentRecord | None:
    """The latest payment of ``order_id`` through ``provider`` for exactly ``amount_fen`` (to resume it).

    An intent for an older total (a part was cancelled before payment) is left unused.
    """
    row = (
        await executor.execute(
            select(
                col(Payment.id),
                col(Payment.order_id),
                col(Payment.provider),
                col(Payment.status),
                col(Payment.amount_fen),
                col(Payment.provider_ref),
                col(Payment.reference),
                col(Payment.created_at),
            )
            .where(
                col(Payment.order_id) == order_id,
                col(Payment.provider) == provider,
                col(Payment.amount_fen) == amount_fen,
            )
            .order_by(col(Payment.created_at).desc())
        )
    ).first()
    return None if row is None else PaymentRecord(*row)


async def record_provider_payment(
    session: AsyncSession, *, order_id: str, provider: str, provider_ref: str, amount_fen: int, status: str
) -> PaymentRecord:
    """The ``Payment`` row of ``provider_ref``, inserted the first time.

    Concurrent callers with the same reference end with one row (the unique ``provider_ref``).
    """
    await session.execute(
        insert_or_ignore(
            session,
            Payment.__table__,  # type: ignore[attr-defined]
            {
                "id": new_id(),
                "order_id": order_id,
                "provider": provider,
                "status": status,
                "amount_fen": amount_fen,
                "currency": "cny",
                "provider_ref": provider_ref,
                "created_at": clock.now(),
            },
            conflict_on=["provider_ref"],
        )
    )
    payment = await payment_by_ref(session, provider, provider_ref)
    assert payment is not None  # inserted now or by a concurrent caller
    return payment


async def payment_by_ref(session: AsyncSession, provider: str, provider_ref: str) -> PaymentRecord | None:
    """The payment a provider knows as ``provider_ref``."""
    payment = (
        await session.execute(
            select(Payment)
            .where(col(Payment.provider) == provider, col(Payment.provider_ref) == provider_ref)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    return None if payment is None else _record(payment)


async def set_provider_status(session: AsyncSession, provider: str, provider_ref: str, status: str) -> bool:
    """Record a provider payment's non-final status (e.g. ``processing``, ``failed``).

    A payment already applied keeps its status. True when the status changed.
    """
    result = await session.execute(
        update(Payment)
        .where(
            col(Payment.provider) == provider,
            col(Payment.provider_ref) == provider_ref,
            col(Payment.status).not_in(APPLIED_PAYMENT_STATUSES),
            col(Payment.status) != status,
        )
        .values(status=status)
    )
    return bool(rowcount(result))


async def claim_success(session: AsyncSession, payment_id: str) -> bool:
    """Turn the payment ``succeeded`` unless its money was accounted for already; True for the one caller that did."""
    claimed = await session.execute(
        update(Payment)
        .where(col(Payment.id) == payment_id, col(Payment.status).not_in(APPLIED_PAYMENT_STATUSES))
        .values(status=PaymentStatus.SUCCEEDED, succeeded_at=clock.now())
    )
    return rowcount(claimed) == 1


async def hold_and_refund(
    session: AsyncSession, payment: PaymentRecord, amount_fen: int, reason: str
) -> None:
    """Money that arrived but no order can take: post it to suspense and record its full refund.

    The payment turns ``refunded``; the refund is ``pending`` until sent (``payments.jobs``).
    """
    log.warning(
        "%s payment %s of order %s is unmatched (%s): held in suspense and refunded",
        payment.provider,
        payment.provider_ref,
        payment.order_id,
        reason,
    )
    now = clock.now()
    await session.execute(
        update(Payment).where(col(Payment.id) == payment.id).values(status=PaymentStatus.REFUNDED)
    )
    held = await ledger_service.post(
        session,
        kind=UNMATCHED_PAYMENT,
        dedupe_key=f"unmatched:{payment.id}",
        entries=[
            posting.Entry(posting.cash(payment.provider), amount_fen),
            posting.Entry(SUSPENSE_UNMATCHED, -amount_fen),
        ],
        occurred_at=now,
        order_id=payment.order_id,
        memo=f"{payment.provider} payment {payment.provider_ref}: {reason}"[:500],
    )
    if held is None:
        return  # held (and its refund recorded) before
    refund = PaymentRefund(
        payment_id=payment.id,
        order_id=payment.order_id,
        part_id=None,
        amount_fen=amount_fen,
        status=RefundState.PENDING,
        reason=f"unmatched payment refunded in full: {reason}"[:500],
    )
    session.add(refund)
    await session.flush()
    await ledger_service.post(
        session,
        kind=posting.REFUND,
        dedupe_key=f"refund:{refund.id}",
        entries=[
            posting.Entry(SUSPENSE_UNMATCHED, amount_fen),
            posting.Entry(posting.cash(payment.provider), -amount_fen),
        ],
        occurred_at=now,
        order_id=payment.order_id,
        memo=f"refund of unmatched {payment.provider} payment {payment.provider_ref}"[:500],
    )


async def record_event_once(session: AsyncSession, provider: str, event_id: str, event_type: str) -> bool:
    """Insert the provider event's row; False when it was seen before.

    The primary key makes each event apply exactly once when its effect commits in the same
    transaction (a concurrent duplicate waits for the first and then inserts nothing).
    """
    result = await session.execute(
        insert_or_ignore(
            session,
            ProviderEvent.__table__,  # type: ignore[attr-defined]
            {"id": event_id, "provider": provider, "type": event_type[:64], "received_at": clock.now()},
            conflict_on=["id"],
        )
    )
    return bool(rowcount(result))


# ---------------------------------------------------------------- refunds


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
