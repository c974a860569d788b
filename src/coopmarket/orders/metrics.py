"""Figures of the orders slice for the operator's metrics: work waiting for the periodic jobs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from coopmarket.core import clock
from coopmarket.ops.metrics import GaugeSource, Sample
from coopmarket.orders.models import Order, OrderPart
from coopmarket.settings import Settings

_HELP = "Items waiting for a periodic job, by job."


def job_backlog(settings: Settings) -> GaugeSource:
    """Unpaid orders past their expiry, and shipped parts past the hold period, not yet handled."""
    hold = timedelta(days=settings.auto_receive_after_days)
    orders = Order.__table__  # type: ignore[attr-defined]
    parts = OrderPart.__table__  # type: ignore[attr-defined]

    async def samples(conn: AsyncConnection) -> Sequence[Sample]:
        now = clock.now()
        overdue = await conn.scalar(
            select(func.count())
            .select_from(orders)
            .where(orders.c.status == "pending_payment", orders.c.expires_at < now)
        )
        unreceived = await conn.scalar(
            select(func.count())
            .select_from(parts)
            .where(parts.c.status == "shipped", parts.c.shipped_at < now - hold)
        )
        return [
            Sample("jobs_waiting", _HELP, {"job": "expire_unpaid_orders"}, float(overdue or 0)),
            Sample("jobs_waiting", _HELP, {"job": "receive_long_shipped_parts"}, float(unreceived or 0)),
        ]

    return samples
