"""Reconciliation: compare a provider's payments and refunds with ours and repair what differs,
through the same flows a webhook would have used, exactly once.

Steps, so that no transaction is open while the provider answers: list the provider's payments
and refunds created in the window (no unit of work); read ours on a read connection and compare
(``payments.reconciliation.compare``); repair each difference in its own unit of work (a
success applied by ``flows.payment.apply_provider_success``, a failed refund taken back by
``flows.refunds.refund_failed``, a refund outcome or reference stored); keep the report
(``reconciliation_run`` and its items). Every repair is idempotent, so runs on several workers
at once, or a webhook arriving meanwhile, change things once: a repair someone else made first
is left out of the report.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core import clock
from coopmarket.core.jobs import PeriodicJob
from coopmarket.db import Database
from coopmarket.flows.payment import apply_provider_success
from coopmarket.flows.refunds import refund_failed
from coopmarket.payments import reconciliation, reconciliation_runs
from coopmarket.payments import refunds as payment_refunds
from coopmarket.payments import service as payments_service
from coopmarket.payments.errors import ProviderNotEnabled
from coopmarket.payments.providers import RefundState, Window
from coopmarket.payments.reconciliation import Discrepancy, Finding
from coopmarket.payments.registry import PaymentProviders
from coopmarket.payments.schemas import ReconciliationRunOut
from coopmarket.settings import Settings

log = logging.getLogger(__name__)

# The periodic run leaves out the last minutes: their webhooks are normally still on their way.
JOB_GRACE = timedelta(minutes=5)


async def reconcile(
    db: Database, providers: PaymentProviders, provider_name: str, window: Window, *, trigger: str
) -> ReconciliationRunOut:
    """Reconcile ``provider_name`` over ``window`` and keep the report; returns it with its findings.

    ``ProviderNotEnabled`` when the provider is not enabled or keeps no records (offline);
    ``ProviderUnavailable`` when it cannot be listed (nothing is recorded then).
    """
    provider = providers.get(provider_name)
    if provider is None or not provider.keeps_records:
        raise ProviderNotEnabled(f"{provider_name} has no records to reconcile on this server.")
    started = clock.now()
    payments = await provider.list_payments(window)
    refunds = await provider.list_refunds(window)
    async with db.read() as conn:
        ours = await reconciliation.our_records(conn, provider_name, window, payments, refunds)
    findings: list[Finding] = []
    for discrepancy in reconciliation.compare(payments, refunds, ours):
        try:
            async with db.unit_of_work() as session:
                finding = await _repair(session, provider_name, discrepancy)
        except Exception as exc:  # one bad item must not stop the others; it is reported
            log.exception("reconciling %s %s failed", provider_name, discrepancy.provider_ref)
            finding = Finding(discrepancy, "failed", f"repair failed: {type(exc).__name__}")
        if finding is not None:
            findings.append(finding)
    async with db.unit_of_work() as session:
        run = await reconciliation_runs.record_run(
            session,
            provider=provider_name,
            trigger=trigger,
            window=window,
            started_at=started,
            finished_at=clock.now(),
            payments_seen=len(payments),
            refunds_seen=len(refunds),
            findings=findings,
        )
    log.log(
        logging.WARNING if run.needs_attention else logging.INFO,
        "reconciled %s %s..%s: %d payments, %d refunds, %d repaired, %d need a person",
        provider_name,
        window.since.isoformat(),
        window.until.isoformat(),
        run.payments_seen,
        run.refunds_seen,
        run.repaired,
        run.needs_attention,
    )
    return run


async def _repair(session: AsyncSession, provider: str, d: Discrepancy) -> Finding | None:
    """Repair one difference in ``session``; ``None`` when it was repaired meanwhile (nothing to report)."""
    if d.repair == reconciliation.APPLY_PAYMENT:
        outcome = await apply_provider_success(
            session,
            provider=provider,
            provider_ref=d.provider_ref,
            amount_fen=d.amount_fen,
            order_id=d.order_id,
        )
        if outcome == "already_applied":
            return None
        if outcome == "unknown":
            return Finding(d, reconciliation.NONE, "no order of ours matches it")
        return Finding(d, "applied" if outcome == "applied" else "held_for_refund")
    if d.repair == reconciliation.UPDATE_PAYMENT_STATUS:
        assert d.status is not None
        changed = await payments_service.set_provider_status(session, provider, d.provider_ref, d.status)
        return Finding(d, "status_updated") if changed else None
    if d.repair == reconciliation.REVERSE_REFUND:
        assert d.refund_id is not None
        reason = f"{provider} lists it failed ({d.detail})" if d.detail else f"{provider} lists it failed"
        changed = await refund_failed(session, d.refund_id, reason, d.provider_ref)
        return Finding(d, "reversed") if changed else None
    if d.repair in (reconciliation.MARK_REFUND_SUCCEEDED, reconciliation.STORE_REFUND_REFERENCE):
        status = (
            RefundState.SUCCEEDED if d.repair == reconciliation.MARK_REFUND_SUCCEEDED else RefundState.PENDING
        )
        changed = await payment_refunds.set_refund_status(
            session, provider_ref=d.provider_ref, status=status, refund_id=d.refund_id
        )
        action = "marked_succeeded" if status == RefundState.SUCCEEDED else "reference_stored"
        return Finding(d, action) if changed else None
    return Finding(d, reconciliation.NONE)


def job_window(settings: Settings) -> Window:
    """The periodic run's window: the last ``reconciliation_lookback_hours``, less ``JOB_GRACE``."""
    until = clock.now() - JOB_GRACE
    return Window(since=until - timedelta(hours=settings.reconciliation_lookback_hours), until=until)


def periodic_jobs(db: Database, settings: Settings, providers: PaymentProviders) -> list[PeriodicJob]:
    """One reconciliation job per provider with records (none when reconciliation is turned off)."""
    if settings.reconciliation_interval_seconds <= 0:
        return []

    def run(name: str) -> PeriodicJob:
        return PeriodicJob(
            f"reconcile {name}",
            settings.reconciliation_interval_seconds,
            lambda: reconcile(db, providers, name, job_window(settings), trigger="job"),
        )

    return [run(name) for name in providers.keeping_records]
