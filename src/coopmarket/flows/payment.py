"""Paying for an order: start or resume a payment, record money received offline, apply provider events.

The orders slice says whether and by whom an order may be paid and marks it paid; the payments
slice records the payment and posts it; providers do the talking to the outside.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.accounts import service as accounts_service
from coopmarket.audit import service as audit
from coopmarket.core import clock
from coopmarket.core.principal import Principal
from coopmarket.db import Database, require_no_transaction
from coopmarket.flows.refunds import refund_failed
from coopmarket.orders import expiry as order_expiry
from coopmarket.orders import payment as order_payment
from coopmarket.orders.errors import OrderExpired, OrderNotPayable
from coopmarket.orders.schemas import OrderForPayment
from coopmarket.orders.states import OrderStatus
from coopmarket.payments import refunds as payment_refunds
from coopmarket.payments import service as payments_service
from coopmarket.payments import sub_merchants
from coopmarket.payments.errors import AmountMismatch, PaymentMethodUnavailable, ProviderNotEnabled
from coopmarket.payments.providers import (
    APPLIED_PAYMENT_STATUSES,
    OFFLINE,
    Change,
    PaymentStatus,
    PaymentStatusChanged,
    PaymentSucceeded,
    RefundState,
    RefundUpdated,
    StartRequest,
)
from coopmarket.payments.registry import PaymentProviders
from coopmarket.payments.schemas import OfflinePaymentIn, PaymentOut, PaymentStartOut

log = logging.getLogger(__name__)


async def start_payment(
    db: Database,
    session: AsyncSession,
    providers: PaymentProviders,
    principal: Principal,
    order_id: str,
    provider_name: str | None,
) -> PaymentStartOut:
    """Start or resume paying an order (the buyer's own).

    Three steps, so that no transaction is open while the provider answers: read the order and
    the payment to resume on a read connection; ask the provider; record its answer in
    ``session``, the caller's unit of work (the idempotency executor commits it with the stored
    answer). A payment that ``succeeded`` already (the buyer came back before the webhook) is
    applied now; the webhook then finds it applied.
    """
    async with db.read() as conn:
        order = await order_payment.order_for_payment(conn, principal, order_id)
        name = provider_name or order.payment_method
        provider = providers.get(name)
        if provider is None:
            raise PaymentMethodUnavailable(f"Payment provider {name} is not available.")
        if order_payment.is_paid(order):
            # Already paid (e.g. the webhook arrived before the buyer's app came back): say so.
            return PaymentStartOut(
                provider=order.payment_method,
                status=PaymentStatus.SUCCEEDED,
                client_secret=None,
                next_action=None,
                amount_fen=0,
            )
        order_payment.require_payable(order)
        await order_payment.require_cooperatives_trading(conn, order)
        amount = order.total_fen - order.paid_fen
        resumable = await payments_service.resumable_payment(conn, order.id, name, amount)
        payer_openid = await accounts_service.wechat_openid(conn, principal.id)
        # Partner mode: an order of one cooperative settles to its sub-merchant, when it has one.
        cooperatives = set(order.cooperative_ids)
        sub = await sub_merchants.sub_merchant_of(conn, order.cooperative_ids[0]) if len(cooperatives) == 1 else None
    require_no_transaction(session, f"starting a {name} payment")
    started = await provider.start(
        StartRequest(
            order_id=order.id,
            amount_fen=amount,
            pay_before=order.expires_at,
            resume_ref=resumable.provider_ref if resumable is not None else None,
            payer_openid=payer_openid,
            sub_merchant=sub.sub_mchid if sub is not None else None,
        )
    )
    if started.provider_ref is not None and started.status is not None:
        if resumable is None:
            await payments_service.record_provider_payment(
                session,
                order_id=order.id,
                provider=name,
                provider_ref=started.provider_ref,
                amount_fen=started.amount_fen,
                # A success is applied below, from a status that is not applied yet.
                status=(
                    PaymentStatus.REQUIRES_PAYMENT
                    if started.status in APPLIED_PAYMENT_STATUSES
                    else started.status
                ),
            )
        if started.status == PaymentStatus.SUCCEEDED:
            await apply_provider_success(
                session,
                provider=name,
                provider_ref=started.provider_ref,
                amount_fen=started.received_fen,
                order_id=order.id,
            )
        else:
            await payments_service.set_provider_status(session, name, started.provider_ref, started.status)
    return PaymentStartOut(
        provider=started.provider,
        status=started.client_status,
        client_secret=started.client_secret,
        next_action=started.next_action,
        amount_fen=started.amount_fen,
        currency=started.currency,
    )


async def record_offline_payment(
    session: AsyncSession, principal: Principal, order_id: str, data: OfflinePaymentIn
) -> PaymentOut:
    """Record money received offline; only the manager of every part, or staff covering every part.

    A related-party order needs staff (403 ``related_party_payment``). An order whose
    ``expires_at`` has passed takes no payment, whether or not the expiry sweep has cancelled it
    yet (409 ``order_expired``): its stock may be sold again. When the money really arrived
    anyway, ``hold_for_refund`` records it held in suspense with an offline refund of all of it
    outstanding (``_hold_for_refund``).
    """
    order = await order_payment.order_for_payment(session, None, order_id)
    order_payment.require_may_record_payment(principal, order)
    if data.hold_for_refund:
        return await _hold_for_refund(session, principal, order, data)
    order_payment.require_awaiting_payment(order)
    if order_payment.is_expired(order):
        raise OrderExpired(
            "This order expired before it was paid. If the money really arrived, record it with "
            "hold_for_refund: it is held and refunded in full."
        )
    await order_payment.require_cooperatives_trading(session, order)
    outstanding = order.total_fen - order.paid_fen
    if data.amount_fen != outstanding:
        raise AmountMismatch(
            f"The amount must be the order's outstanding total ({outstanding} fen).",
            extra={"expected_fen": outstanding},
        )
    payment = await payments_service.record_offline_payment(
        session,
        order_id=order.id,
        amount_fen=data.amount_fen,
        reference=data.reference,
        recorded_by=principal.id,
    )
    parts = await order_payment.mark_paid(session, order_id=order.id, amount_fen=data.amount_fen)
    if parts is None:
        raise OrderNotPayable("The order was paid or cancelled meanwhile.")
    await payments_service.post_payment_received(
        session,
        payment,
        data.amount_fen,
        order_payment.escrow_credits(parts),
        is_related_party=any(p.is_related_party for p in parts),
    )
    await order_payment.audit_related_party_paid(
        session, principal, order.id, parts, provider=OFFLINE, payment_id=payment.id
    )
    return PaymentOut(
        id=payment.id,
        order_id=order.id,
        provider=OFFLINE,
        status=PaymentStatus.SUCCEEDED,
        amount_fen=payment.amount_fen,
        reference=payment.reference,
        created_at=payment.created_at,
        order_status=OrderStatus.PAID,
    )


async def _hold_for_refund(
    session: AsyncSession, principal: Principal, order: OrderForPayment, data: OfflinePaymentIn
) -> PaymentOut:
    """Money that arrived for an order that can no longer take it (expired, cancelled, or paid
    already): as for Stripe, it is recorded, held in suspense and refunded in full; the refund is outstanding until
    handed back (``POST /refunds/{id}/handed-back``). An order still unpaid and overdue is expired
    now (its stock released) rather than left to the sweep. 409 ``order_not_expired`` for an order
    that can still be paid (record the payment itself instead). Audited.
    """
    payable = order.status == OrderStatus.PENDING_PAYMENT and order.paid_fen == 0
    suspended = await order_payment.sells_from_suspended(session, order)
    if payable and not order_payment.is_expired(order) and not suspended:
        raise OrderNotPayable(
            "This order still awaits this payment: record it without hold_for_refund.", code="order_not_expired"
        )
    order_status = order.status
    if payable and not suspended and await order_expiry.expire_order(session, order.id, clock.now()):
        order_status = OrderStatus.CANCELLED
    payment = await payments_service.record_offline_payment(
        session,
        order_id=order.id,
        amount_fen=data.amount_fen,
        reference=data.reference,
        recorded_by=principal.id,
    )
    one_cooperative = len(set(order.cooperative_ids)) == 1
    refund_id = await payments_service.hold_and_refund(
        session,
        payment,
        data.amount_fen,
        "offline money arrived after the order expired or was cancelled",
        cooperative_id=order.cooperative_ids[0] if one_cooperative else None,
        region_code=order.village_codes[0] if one_cooperative else None,
    )
    await audit.record(
        session,
        actor=principal,
        action="payment.held_for_refund",
        entity="order",
        entity_id=order.id,
        after={
            "payment_id": payment.id,
            "refund_id": refund_id,
            "amount_fen": data.amount_fen,
            "reference": data.reference,
            "order_status_before": order.status,
        },
        reason="offline money arrived for an order that can no longer take it",
        region_code=order.village_codes[0] if one_cooperative else None,
        cooperative_id=order.cooperative_ids[0] if one_cooperative else None,
    )
    return PaymentOut(
        id=payment.id,
        order_id=order.id,
        provider=OFFLINE,
        status=PaymentStatus.REFUNDED,
        amount_fen=payment.amount_fen,
        reference=payment.reference,
        created_at=payment.created_at,
        order_status=order_status,
        refund_id=refund_id,
    )


async def apply_provider_success(
    session: AsyncSession,
    *,
    provider: str,
    provider_ref: str,
    amount_fen: int,
    order_id: str | None = None,
    currency: str = "cny",
) -> str:
    """Apply money a provider says arrived for ``provider_ref``, exactly once. Joins the caller's unit of work.

    Shared by the webhook and the buyer's return (whichever comes first): the payment turns
    ``succeeded`` with a conditional UPDATE, then the order is marked paid and the money posted
    (``payment_received``). Money that no order can take (it expired and was cancelled, was paid
    otherwise, or the amount differs) still arrived: it is held in suspense and refunded in full.
    ``order_id`` (the provider's metadata) lets a payment we never recorded be recorded now.
    Returns ``applied``, ``already_applied``, ``unmatched`` or ``unknown``.
    """
    payment = await payments_service.payment_by_ref(session, provider, provider_ref)
    if payment is None:
        if order_id is None or not await order_payment.order_exists(session, order_id):
            log.warning("%s payment %s for an unknown order %s: left alone", provider, provider_ref, order_id)
            return "unknown"
        payment = await payments_service.record_provider_payment(
            session,
            order_id=order_id,
            provider=provider,
            provider_ref=provider_ref,
            amount_fen=amount_fen,
            status=PaymentStatus.PROCESSING,
        )
    if not await payments_service.claim_success(session, payment.id):
        return "already_applied"
    order = await order_payment.order_for_payment(session, None, payment.order_id)
    if currency.lower() != "cny":
        reason = f"received {amount_fen} in {currency}, expected {payment.amount_fen} fen in CNY"
    elif await order_payment.sells_from_suspended(session, order):
        reason = "a cooperative of the order is suspended"
    elif amount_fen == payment.amount_fen:
        parts = await order_payment.mark_paid(session, order_id=payment.order_id, amount_fen=amount_fen)
        if parts is not None:
            await payments_service.post_payment_received(
                session,
                payment,
                amount_fen,
                order_payment.escrow_credits(parts),
                is_related_party=any(p.is_related_party for p in parts),
            )
            await order_payment.audit_related_party_paid(
                session, None, payment.order_id, parts, provider=provider, payment_id=payment.id
            )
            return "applied"
        reason = "the order no longer awaits payment"
    else:
        reason = f"received {amount_fen} fen, expected {payment.amount_fen} fen"
    await payments_service.hold_and_refund(session, payment, amount_fen, reason)
    return "unmatched"


async def handle_provider_event(
    session: AsyncSession,
    providers: PaymentProviders,
    provider_name: str,
    payload: bytes,
    headers: Mapping[str, str],
) -> str:
    """Verify a provider's callback and apply it exactly once, with the event's id, in ``session``.

    Returns what happened: ``duplicate``, ``ignored``, or the outcome of each change it reports.
    """
    provider = providers.get(provider_name)
    if provider is None:
        raise ProviderNotEnabled(f"{provider_name.capitalize()} payments are not enabled here.")
    event = provider.parse_event(payload, headers)
    if not await payments_service.record_event_once(session, provider_name, event.id, event.type):
        return "duplicate"
    outcomes = [await _apply(session, provider_name, change) for change in event.changes]
    outcome = ",".join(outcomes) or "ignored"
    log.info("%s event %s (%s): %s", provider_name, event.id, event.type, outcome)
    return outcome


async def _apply(session: AsyncSession, provider: str, change: Change) -> str:
    if isinstance(change, PaymentSucceeded):
        return await apply_provider_success(
            session,
            provider=provider,
            provider_ref=change.provider_ref,
            amount_fen=change.amount_fen,
            order_id=change.order_id,
            currency=change.currency,
        )
    if isinstance(change, PaymentStatusChanged):
        changed = await payments_service.set_provider_status(
            session, provider, change.provider_ref, change.status
        )
        return str(change.status) if changed else "unchanged"
    if isinstance(change, RefundUpdated):
        if change.status == RefundState.FAILED:
            refund_id = await payment_refunds.find_refund_id(
                session, provider_ref=change.provider_ref, refund_id=change.refund_id
            )
            if refund_id is None:
                log.warning("%s reports refund %s failed, not one of ours", provider, change.provider_ref)
                return "unknown_refund"
            reason = f"{provider} reported it failed ({change.failure_reason or 'no reason given'})"
            changed = await refund_failed(session, refund_id, reason, change.provider_ref)
        else:
            changed = await payment_refunds.set_refund_status(
                session, provider_ref=change.provider_ref, status=change.status, refund_id=change.refund_id
            )
        return f"refund_{change.status}" if changed else "unchanged"
    raise TypeError(f"unknown change {change!r}")
