"""Background jobs of the orders slice: expire unpaid orders, receive long-shipped parts, purge old keys."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from coopmarket.core.jobs import every
from coopmarket.db import Database
from coopmarket.settings import Settings


def start(db: Database, settings: Settings) -> list[asyncio.Task[None]]:
    """The orders slice's periodic jobs, as tasks of the running loop."""
    from coopmarket.idempotency import service as idempotency_service
    from coopmarket.orders import service

    interval = settings.expiry_sweep_interval_seconds
    hold = timedelta(days=settings.auto_receive_after_days)
    ttl = timedelta(hours=settings.idempotency_ttl_hours)
    return [
        asyncio.create_task(
            every(interval, "expire unpaid orders", lambda: service.expire_overdue_orders(db))
        ),
        asyncio.create_task(
            every(
                interval * 10,
                "receive long-shipped parts",
                lambda: service.auto_receive_shipped_parts(db, hold=hold),
            )
        ),
        asyncio.create_task(
            every(3600, "purge idempotency keys", lambda: idempotency_service.purge_expired(db, ttl))
        ),
    ]
