"""Asking a provider one payment at a time (WeChat Pay, which cannot list by time): the fall-back
when a notification never arrives, refund outcomes, and closing what an expired order left open.

Each step reads on a read connection, calls the provider with no transaction open, and applies
the answer in its own unit of work through the same functions a notification uses
(``flows.payment.apply_provider_success``, ``flows.refunds.refund_failed``…), so a notification
arriving meanwhile, or several workers at once, still change things once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from coopmarket.core import clock
from coopmarket.core.jobs import PeriodicJob
from coopmarket.db import Database
from coopmarket.flows.payment import apply_provider_success
from coopmarket.flows.refunds import refund_failed
from coopmarket.orders import payment as order_payment
from coopmarket.orders.states import OrderStatus
from coopmarket.payments import refunds as payment_refunds
from coopmarket.payments import service as payments_service
from coopmarket.payments.errors import ProviderUnavailable
from coopmarket.payments.providers import ListedPayment, PaymentStatus, RefundState
from coopmarket.payments.registry import PaymentProviders
from coopmarket.settings import Settings

log = logging.getLogger(__name__)


async def _apply_listed(db: Database, provider: str, order_id: str, listed: ListedPayment) -> str:
    async with db.unit_of_work() as session:
        if listed.status == PaymentStatus.SUCCEEDED:
            return await apply_provider_success(
                session,
                provider=provider,
                provider_ref=listed.provider_ref,
                amount_fen=listed.received_fen,
                order_id=order_id,
                currency=listed.currency,
            )
        changed = await payments_service.set_provider_status(session, provider, listed.provider_ref, listed.status)
        return str(listed.status) if changed else "unchanged"


async def query_open_payments(
    db: Database, providers: PaymentProviders, *, older_than: timedelta, batch: int = 100
) -> int:
    """Query each open payment of a querying provider started more than ``older_than`` ago and
    apply what the provider says (a success no notification brought); returns how many were applied."""
    async with db.read() as conn:
        open_payments = await payments_service.open_provider_payments(
            conn, providers.querying, created_before=clock.now() - older_than, batch=batch
        )
    applied = 0
    for payment in open_payments:
        provider = providers.get(payment.provider)
        if provider is None:
            continue
        try:
            listed = await provider.query_payment(payment.provider_ref)
        except ProviderUnavailable:
            log.warning("%s payment %s not queried; tried again later", payment.provider, payment.provider_ref)
            continue
        if listed is None or listed.status == PaymentStatus.REQUIRES_PAYMENT:
            continue
        outcome = await _apply_listed(db, payment.provider, payment.order_id, listed)
        if outcome in ("applied", "unmatched"):
            applied += 1
            log.warning(
                "%s payment %s: no notification came, the query found it paid (%s)",
                payment.provider,
                payment.provider_ref,
                outcome,
            )
    return applied


async def close_payments_of_closed_orders(db: Database, providers: PaymentProviders, *, batch: int = 100) -> int:
    """Close at the provider each open payment whose order no longer awaits it (expired or
    cancelled), so that it can no longer be paid; returns how many were closed.

    One the provider will not close because the buyer paid meanwhile is queried and applied: the
    money is held and refunded in full, since the order cannot take it.
    """
    async with db.read() as conn:
        open_payments = await payments_service.open_provider_payments(
            conn, providers.querying, created_before=clock.now(), batch=batch
        )
        to_close = []
        for payment in open_payments:
            order = await order_payment.order_for_payment(conn, None, payment.order_id)
            if order.status != OrderStatus.PENDING_PAYMENT:
                to_close.append(payment)
    closed = 0
    for payment in to_close:
        provider = providers.get(payment.provider)
        if provider is None:
            continue
        try:
            if await provider.close_payment(payment.provider_ref):
                async with db.unit_of_work() as session:
                    await payments_service.set_provider_status(
                        session, payment.provider, payment.provider_ref, PaymentStatus.CANCELED
                    )
                closed += 1
                continue
            listed = await provider.query_payment(payment.provider_ref)
        except ProviderUnavailable:
            log.warning("%s payment %s not closed; tried again later", payment.provider, payment.provider_ref)
            continue
        if listed is not None and listed.status != PaymentStatus.REQUIRES_PAYMENT:
            await _apply_listed(db, payment.provider, payment.order_id, listed)
    if closed:
        log.info("closed %d provider payments of orders that expired or were cancelled", closed)
    return closed


async def query_sent_refunds(db: Database, providers: PaymentProviders, *, batch: int = 100) -> int:
    """Ask the provider about each refund sent but not confirmed; record a success, reverse a
    failure (``refund_failed``). Returns how many reached a final state."""
    async with db.read() as conn:
        sent = await payment_refunds.sent_refunds_pending(conn, providers.querying, batch=batch)
    final = 0
    for refund in sent:
        provider = providers.get(refund.provider)
        if provider is None:
            continue
        try:
            listed = await provider.query_refund(refund.refund_id)
        except ProviderUnavailable:
            continue
        if listed is None or listed.status == RefundState.PENDING:
            continue
        async with db.unit_of_work() as session:
            if listed.status == RefundState.FAILED:
                reason = f"{refund.provider} reported it failed ({listed.failure_reason or 'no reason given'})"
                changed = await refund_failed(session, refund.refund_id, reason, listed.provider_ref)
            else:
                changed = await payment_refunds.set_refund_status(
                    session, provider_ref=listed.provider_ref, status=listed.status, refund_id=refund.refund_id
                )
        final += int(changed)
    return final


def periodic_jobs(db: Database, settings: Settings, providers: PaymentProviders) -> list[PeriodicJob]:
    """The query jobs, for the providers queried one payment at a time (none when there are none)."""
    if not providers.querying:
        return []
    interval = settings.expiry_sweep_interval_seconds
    older_than = timedelta(minutes=settings.wechat_pay_query_after_minutes)
    return [
        PeriodicJob("query open provider payments", interval * 2, lambda: query_open_payments(db, providers, older_than=older_than)),
        PeriodicJob("close payments of expired orders", interval, lambda: close_payments_of_closed_orders(db, providers)),
        PeriodicJob("query sent refunds", interval * 2, lambda: query_sent_refunds(db, providers)),
    ]
