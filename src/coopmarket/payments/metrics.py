"""Figures of the payments slice for the operator's metrics: payments and refunds by status."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from coopmarket.ops.metrics import Sample
from coopmarket.payments.models import Payment, PaymentRefund


async def status_counts(conn: AsyncConnection) -> Sequence[Sample]:
    """Payments and refunds by provider and status, and refunds still to be sent."""
    payments = Payment.__table__  # type: ignore[attr-defined]
    refunds = PaymentRefund.__table__  # type: ignore[attr-defined]
    found: list[Sample] = []
    rows = await conn.execute(
        select(payments.c.provider, payments.c.status, func.count()).group_by(
            payments.c.provider, payments.c.status
        )
    )
    for provider, status, count in rows:
        found.append(
            Sample(
                "payments",
                "Payments by provider and status.",
                {"provider": provider, "status": status},
                count,
            )
        )
    rows = await conn.execute(
        select(payments.c.provider, refunds.c.status, func.count())
        .select_from(refunds.join(payments, payments.c.id == refunds.c.payment_id))
        .group_by(payments.c.provider, refunds.c.status)
    )
    pending = 0
    for provider, status, count in rows:
        found.append(
            Sample(
                "refunds", "Refunds by provider and status.", {"provider": provider, "status": status}, count
            )
        )
        if status == "pending" and provider != "offline":
            pending += count
    found.append(
        Sample(
            "jobs_waiting",
            "Items waiting for a periodic job, by job.",
            {"job": "send_provider_refunds"},
            pending,
        )
    )
    return found
