"""The payments core: records payments and provider events, and posts the money received.

It knows payments and money, not orders: which order may be paid, and by whom, is the orders
slice's; ``flows.payment`` joins the two. Refunds are in ``refunds.py``. Providers
(``providers.py``) do the I/O; what they return is applied here. Every function joins the
caller's transaction and never commits (see ``db.py``: whoever opens a unit of work ends it).
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
from coopmarket.payments.errors import PaymentAlreadyRecorded
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
    session: AsyncSession,
    payment: PaymentRecord,
    amount_fen: int,
    parts: list[tuple[str, int]],
    *,
    is_related_party: bool = False,
) -> None:
    """Post ``payment_received``: cash at the provider, credited to each cooperative's escrow.

    ``parts``: ``(cooperative_id, subtotal_fen)`` of each part the payment paid, adding up to
    ``amount_fen``. Posted once per payment (dedupe ``payment:{id}``); ``is_related_party`` flags
    a payment of a related-party order.
    """
    await ledger_service.post(
        session,
        kind=PAYMENT_RECEIVED,
        dedupe_key=f"payment:{payment.id}",
        entries=posting.payment_received_entries(payment.provider, amount_fen, parts),
        occurred_at=clock.now(),
        order_id=payment.order_id,
        memo=f"{payment.provider} payment {payment.id}",
        is_related_party=is_related_party,
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
    session: AsyncSession,
    payment: PaymentRecord,
    amount_fen: int,
    reason: str,
    *,
    cooperative_id: str | None = None,
    region_code: str | None = None,
) -> str | None:
    """Money that arrived but no order can take: post it to suspense and record its full refund.

    The payment turns ``refunded``; the refund is ``pending`` until sent (``payments.jobs``) or,
    offline, handed back. Returns the refund's id (``None`` when it was held before).
    ``cooperative_id``/``region_code`` place the refund (when one cooperative holds the money).
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
        return None  # held (and its refund recorded) before
    refund = PaymentRefund(
        payment_id=payment.id,
        order_id=payment.order_id,
        part_id=None,
        amount_fen=amount_fen,
        status=RefundState.PENDING,
        reason=f"unmatched payment refunded in full: {reason}"[:500],
        cooperative_id=cooperative_id,
        region_code=region_code,
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
    return refund.id


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


@dataclass(frozen=True)
class OpenPayment:
    """A provider payment not settled yet (``requires_payment`` or ``processing``)."""

    id: str
    order_id: str
    provider: str
    provider_ref: str
    amount_fen: int
    created_at: datetime


OPEN_PAYMENT_STATUSES = (PaymentStatus.REQUIRES_PAYMENT, PaymentStatus.PROCESSING)


async def open_provider_payments(
    executor: Executor, providers: list[str], *, created_before: datetime, batch: int
) -> list[OpenPayment]:
    """Payments through ``providers`` still open and created before ``created_before``, oldest first."""
    if not providers:
        return []
    rows = (
        await executor.execute(
            select(
                col(Payment.id),
                col(Payment.order_id),
                col(Payment.provider),
                col(Payment.provider_ref),
                col(Payment.amount_fen),
                col(Payment.created_at),
            )
            .where(
                col(Payment.provider).in_(providers),
                col(Payment.status).in_(OPEN_PAYMENT_STATUSES),
                col(Payment.provider_ref).is_not(None),
                col(Payment.created_at) < created_before,
            )
            .order_by(col(Payment.created_at), col(Payment.id))
            .limit(batch)
        )
    ).all()
    return [OpenPayment(r[0], r[1], r[2], str(r[3]), int(r[4]), r[5]) for r in rows]


async def succeeded_payments_since(
    executor: Executor, provider: str, since: datetime, *, batch: int
) -> list[PaymentRecord]:
    """Payments through ``provider`` that succeeded at or after ``since``, oldest first."""
    rows = (
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
                col(Payment.provider) == provider,
                col(Payment.status) == PaymentStatus.SUCCEEDED,
                col(Payment.succeeded_at) >= since,
            )
            .order_by(col(Payment.succeeded_at), col(Payment.id))
            .limit(batch)
        )
    ).all()
    return [PaymentRecord(*r) for r in rows]
