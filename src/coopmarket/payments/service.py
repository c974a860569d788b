"""Payments: starting a payment, recording offline money, refunds. Providers sit behind this.

Offline payments (bank transfer, cash on delivery or at pickup) are first-class: the manager of
every part of the order, or staff in scope, records the money received. Stripe is one adapter
(``payments/stripe_provider.py``). Money only moves through the ledger (``orders.apply_payment``
and ``refund_part`` post there).
"""

from __future__ import annotations

import logging
from typing import Literal

from sqlalchemy import Insert, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core import clock
from coopmarket.core.errors import Conflict, NotFound, PermissionDenied, RuleViolated
from coopmarket.core.ids import new_id
from coopmarket.core.principal import Principal
from coopmarket.ledger import posting
from coopmarket.ledger import service as ledger_service
from coopmarket.orders import service as orders_service
from coopmarket.payments.models import Payment, PaymentRefund, ProviderEvent
from coopmarket.payments.schemas import OfflinePaymentIn, PaymentOut, PaymentStartOut
from coopmarket.settings import Settings

log = logging.getLogger(__name__)

OFFLINE = "offline"
STRIPE = "stripe"
SUCCEEDED = "succeeded"
FAILED = "failed"
PENDING_REFUND = "pending"
# A provider payment that arrived but could not pay its order: held in suspense and refunded in full.
REFUNDED = "refunded"
# Statuses of a payment whose money has been accounted for; a success is applied once, from neither.
APPLIED = (SUCCEEDED, REFUNDED)
# Money a provider received that no order could take (expired, already paid, wrong amount).
SUSPENSE_UNMATCHED = "suspense:unmatched_payments"
UNMATCHED_PAYMENT = "unmatched_payment"

ApplyOutcome = Literal["applied", "already_applied", "unmatched", "unknown"]


async def start_payment(
    session: AsyncSession, settings: Settings, principal: Principal, order_id: str, provider: str | None
) -> PaymentStartOut:
    """Start or resume paying an order (the buyer's own). Joins the caller's transaction."""
    order = await orders_service.order_for_payment(session, principal, order_id)
    provider = provider or order.payment_method
    if provider not in settings.payment_providers:
        raise RuleViolated(
            f"Payment provider {provider} is not available.", code="payment_method_unavailable"
        )
    if order.paid_fen >= order.total_fen and order.status != "cancelled":
        # Already paid (e.g. the webhook arrived before the buyer's app came back): say so.
        return PaymentStartOut(
            provider=order.payment_method,
            status=SUCCEEDED,
            client_secret=None,
            next_action=None,
            amount_fen=0,
        )
    orders_service.require_payable(order)
    if provider == OFFLINE:
        return PaymentStartOut(
            provider=OFFLINE,
            status="requires_offline_payment",
            client_secret=None,
            next_action={
                "type": "offline_payment",
                "amount_fen": order.total_fen - order.paid_fen,
                "reference": order.id,
                "pay_before": order.expires_at.isoformat(),
                "instructions": "Pay the cooperative by bank transfer, or in cash at delivery or pickup; "
                "the cooperative or district staff then record the payment.",
            },
            amount_fen=order.total_fen - order.paid_fen,
        )
    from coopmarket.payments import stripe_provider

    return await stripe_provider.start(session, settings, order)


async def record_offline_payment(
    session: AsyncSession, principal: Principal, order_id: str, data: OfflinePaymentIn
) -> PaymentOut:
    """Record money received offline; only the manager of every part, or staff covering every part."""
    order = await orders_service.order_for_payment(session, None, order_id)
    manages_all = bool(order.cooperative_ids) and all(principal.manages(c) for c in order.cooperative_ids)
    staff_covers_all = principal.is_staff and all(principal.covers_region(v) for v in order.village_codes)
    if not (manages_all or staff_covers_all):
        sees_it = (
            order.buyer_id == principal.id
            or any(principal.manages(c) for c in order.cooperative_ids)
            or any(principal.covers_region(v) for v in order.village_codes)
        )
        if not sees_it:
            from coopmarket.core.errors import NotFound

            raise NotFound("No such order.", code="order_not_found")
        raise PermissionDenied(
            "Only the manager of every cooperative in this order, or staff, may record its payment.",
            code="forbidden_role",
        )
    if order.status != orders_service.PENDING:
        raise Conflict(f"An order that is {order.status} cannot be paid.", code="order_not_payable")
    outstanding = order.total_fen - order.paid_fen
    if data.amount_fen != outstanding:
        raise RuleViolated(
            f"The amount must be the order's outstanding total ({outstanding} fen).",
            code="amount_mismatch",
            extra={"expected_fen": outstanding},
        )
    payment = Payment(
        order_id=order.id,
        provider=OFFLINE,
        status=SUCCEEDED,
        amount_fen=data.amount_fen,
        provider_ref=f"offline:{order.id}:{data.reference}",
        reference=data.reference,
        recorded_by=principal.id,
        succeeded_at=clock.now(),
    )
    session.add(payment)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "This payment reference was already recorded.", code="payment_already_recorded"
        ) from exc
    if not await orders_service.apply_payment(
        session, order_id=order.id, amount_fen=data.amount_fen, provider=OFFLINE, payment_id=payment.id
    ):
        raise Conflict("The order was paid or cancelled meanwhile.", code="order_not_payable")
    await session.commit()
    return PaymentOut(
        id=payment.id,
        order_id=order.id,
        provider=OFFLINE,
        status=SUCCEEDED,
        amount_fen=payment.amount_fen,
        reference=payment.reference,
        created_at=payment.created_at,
        order_status=orders_service.PAID,
    )


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
    """Refund (part of) a paid part: record the refund and post it. Joins the caller's transaction.

    Offline refunds are handed back by the cooperative or staff (status ``pending`` until they
    say so); provider refunds are executed after commit by the provider adapter. ``refund_id``
    names the refund (default: a new id); the ledger's dedupe key is ``refund:{refund_id}``.
    Money of an unsettled part comes back out of escrow; with ``settled`` (the part was received
    and its amount split), the split is reversed in proportion instead.
    """
    payment = (
        (
            await session.execute(
                select(Payment)
                .where(col(Payment.order_id) == order_id, col(Payment.status) == SUCCEEDED)
                .order_by(col(Payment.created_at).desc())
            )
        )
        .scalars()
        .first()
    )
    if payment is None:
        raise Conflict("This order has no payment to refund.", code="no_payment_to_refund")
    refund = PaymentRefund(
        id=refund_id or new_id(),
        payment_id=payment.id,
        order_id=order_id,
        part_id=part_id,
        amount_fen=amount_fen,
        status="pending",
        reason=reason,
    )
    session.add(refund)
    await session.flush()
    await ledger_service.post(
        session,
        kind="refund",
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


# ---------------------------------------------------------------- provider payments (Stripe and others)


def _insert_ignoring_conflict(
    session: AsyncSession, table: Table, values: dict[str, object], column: str
) -> Insert:
    """``INSERT … ON CONFLICT (column) DO NOTHING``: a duplicate leaves the transaction usable."""
    dialect_insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    return dialect_insert(table).values(**values).on_conflict_do_nothing(index_elements=[column])


async def record_provider_payment(
    session: AsyncSession, *, order_id: str, provider: str, provider_ref: str, amount_fen: int, status: str
) -> Payment:
    """The ``Payment`` row of ``provider_ref``, inserted the first time. Joins the caller's transaction.

    Concurrent callers with the same reference end with one row (the unique ``provider_ref``).
    """
    await session.execute(
        _insert_ignoring_conflict(
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
            "provider_ref",
        )
    )
    payment = await payment_by_ref(session, provider, provider_ref)
    assert payment is not None  # inserted now or by a concurrent caller
    return payment


async def payment_by_ref(session: AsyncSession, provider: str, provider_ref: str) -> Payment | None:
    """The payment a provider knows as ``provider_ref``. Joins the caller's transaction."""
    return (
        await session.execute(
            select(Payment)
            .where(col(Payment.provider) == provider, col(Payment.provider_ref) == provider_ref)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def set_provider_status(session: AsyncSession, provider: str, provider_ref: str, status: str) -> bool:
    """Record a provider payment's non-final status (e.g. ``processing``, ``failed``).

    A payment already applied keeps its status. Joins the caller's transaction.
    """
    result = await session.execute(
        update(Payment)
        .where(
            col(Payment.provider) == provider,
            col(Payment.provider_ref) == provider_ref,
            col(Payment.status).not_in(APPLIED),
            col(Payment.status) != status,
        )
        .values(status=status)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def apply_provider_success(
    session: AsyncSession,
    *,
    provider: str,
    provider_ref: str,
    amount_fen: int,
    order_id: str | None = None,
) -> ApplyOutcome:
    """Apply money a provider says arrived for ``provider_ref``, exactly once. Joins the caller's transaction.

    Shared by the webhook and the buyer's return (whichever comes first): the payment turns
    ``succeeded`` with a conditional UPDATE, then the order is paid (``payment_received``). Money
    that no order can take (it expired and was cancelled, was paid otherwise, or the amount
    differs) still arrived: it is posted to ``suspense:unmatched_payments`` and refunded in full.
    ``order_id`` (the provider's metadata) lets a payment we never recorded be recorded now.
    """
    payment = await payment_by_ref(session, provider, provider_ref)
    if payment is None:
        if order_id is None or not await _order_exists(session, order_id):
            log.warning("%s payment %s for an unknown order %s: left alone", provider, provider_ref, order_id)
            return "unknown"
        payment = await record_provider_payment(
            session,
            order_id=order_id,
            provider=provider,
            provider_ref=provider_ref,
            amount_fen=amount_fen,
            status="processing",
        )
    now = clock.now()
    claimed = await session.execute(
        update(Payment)
        .where(col(Payment.id) == payment.id, col(Payment.status).not_in(APPLIED))
        .values(status=SUCCEEDED, succeeded_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return "already_applied"
    if amount_fen == payment.amount_fen and await orders_service.apply_payment(
        session, order_id=payment.order_id, amount_fen=amount_fen, provider=provider, payment_id=payment.id
    ):
        return "applied"
    reason = (
        f"received {amount_fen} fen, expected {payment.amount_fen} fen"
        if amount_fen != payment.amount_fen
        else "the order no longer awaits payment"
    )
    log.warning(
        "%s payment %s of order %s is unmatched (%s): held in suspense and refunded",
        provider,
        provider_ref,
        payment.order_id,
        reason,
    )
    await _hold_and_refund(session, payment, amount_fen, reason)
    return "unmatched"


async def _order_exists(session: AsyncSession, order_id: str) -> bool:
    try:
        await orders_service.order_for_payment(session, None, order_id)
    except NotFound:
        return False
    return True


async def _hold_and_refund(session: AsyncSession, payment: Payment, amount_fen: int, reason: str) -> None:
    """Post unmatched money to suspense and record its full refund (sent by the provider adapter)."""
    now = clock.now()
    await session.execute(update(Payment).where(col(Payment.id) == payment.id).values(status=REFUNDED))
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
        status=PENDING_REFUND,
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
    """Insert the provider event's row; False when it was seen before. Joins the caller's transaction.

    The primary key makes each event apply exactly once when its effect commits in the same
    transaction (a concurrent duplicate waits for the first and then inserts nothing).
    """
    result = await session.execute(
        _insert_ignoring_conflict(
            session,
            ProviderEvent.__table__,  # type: ignore[attr-defined]
            {"id": event_id, "provider": provider, "type": event_type[:64], "received_at": clock.now()},
            "id",
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# Refund statuses a provider's answer may move ours to, and from which.
_REFUND_MOVES: dict[str, tuple[str, ...]] = {
    SUCCEEDED: (PENDING_REFUND,),
    FAILED: (PENDING_REFUND, SUCCEEDED),
}


async def set_refund_status(
    session: AsyncSession, *, provider_ref: str, status: str, refund_id: str | None = None
) -> bool:
    """Record a provider refund's outcome on our ``PaymentRefund`` (by id when known, else by reference).

    ``status`` is ``succeeded``, ``failed`` or ``pending`` (then only the reference is stored).
    Joins the caller's transaction.
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
    if status == FAILED and values.get("status") == FAILED:
        log.error("refund %s (%s) failed at the provider: hand it back by hand", refund.id, provider_ref)
    return bool(result.rowcount)  # type: ignore[attr-defined]
