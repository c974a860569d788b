"""Periodic jobs of the payments slice: send pending refunds through their provider.

A refund is recorded (and posted to the ledger) in the unit of work that decided it; sending it
is a call to another system, so it happens afterwards, between units of work: read what is
pending, call the provider, record its answer in a new unit of work. Each refund goes out under
its own idempotency key, so a crash between the provider's answer and our commit, or two workers
at once, still refund once. A refund the provider refuses for good is handed to ``on_failed``
(``flows.refunds.refund_failed``: reversed in the ledger, given back to the order, listed for staff).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeAlias

from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core.jobs import PeriodicJob
from coopmarket.db import Database
from coopmarket.payments import refunds
from coopmarket.payments.errors import ProviderUnavailable, RefundRefused
from coopmarket.payments.providers import RefundOrder, RefundState
from coopmarket.payments.registry import PaymentProviders
from coopmarket.settings import Settings

log = logging.getLogger(__name__)

# ``(session, refund_id, reason, provider_ref)``: a refund the provider could not pay; joins ``session``.
RefundFailedHandler: TypeAlias = Callable[[AsyncSession, str, str, str | None], Awaitable[object]]


async def send_pending_refunds(
    db: Database, providers: PaymentProviders, *, on_failed: RefundFailedHandler, batch: int = 100
) -> int:
    """Send pending refunds of the providers that send refunds; returns how many were accepted.

    Offline refunds are not touched: people hand them back. A refund refused for good, or
    answered ``failed`` at once, goes to ``on_failed`` in its own unit of work.
    """
    async with db.read() as conn:
        pending = await refunds.refunds_to_send(conn, providers.sending_refunds, batch=batch)
    sent = 0
    for refund in pending:
        provider = providers.get(refund.provider)
        if provider is None:
            continue
        try:
            answer = await provider.refund(
                RefundOrder(
                    refund_id=refund.refund_id,
                    payment_ref=refund.payment_ref,
                    amount_fen=refund.amount_fen,
                    payment_amount_fen=refund.payment_amount_fen,
                    reason=refund.reason,
                )
            )
        except RefundRefused as exc:
            log.error("%s refused refund %s: %s", refund.provider, refund.refund_id, exc)
            async with db.unit_of_work() as session:
                await on_failed(session, refund.refund_id, f"{refund.provider} refused it: {exc}", None)
            continue
        except ProviderUnavailable:
            log.warning(
                "%s refund %s not sent; retried later", refund.provider, refund.refund_id, exc_info=True
            )
            continue
        async with db.unit_of_work() as session:
            if answer.status == RefundState.FAILED:
                await on_failed(
                    session, refund.refund_id, f"{refund.provider} answered failed", answer.provider_ref
                )
                continue
            await refunds.store_refund_sent(session, refund.refund_id, answer.provider_ref, answer.status)
        sent += 1
    return sent


def periodic_jobs(
    db: Database, settings: Settings, providers: PaymentProviders, *, on_failed: RefundFailedHandler
) -> list[PeriodicJob]:
    """The payments slice's jobs, for ``app.py`` to start (none when no provider sends refunds)."""
    if not providers.sending_refunds:
        return []
    return [
        PeriodicJob(
            "send refunds",
            settings.expiry_sweep_interval_seconds,
            lambda: send_pending_refunds(db, providers, on_failed=on_failed),
        )
    ]
