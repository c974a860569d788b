"""Periodic jobs of the orders slice: expire unpaid orders, receive long-shipped parts."""

from __future__ import annotations

from datetime import timedelta

from coopmarket.core.jobs import PeriodicJob
from coopmarket.db import Database
from coopmarket.orders import expiry, fulfilment
from coopmarket.settings import Settings


def periodic_jobs(db: Database, settings: Settings) -> list[PeriodicJob]:
    """The orders slice's jobs, for ``app.py`` to start."""
    interval = settings.expiry_sweep_interval_seconds
    hold = timedelta(days=settings.auto_receive_after_days)
    return [
        PeriodicJob("expire unpaid orders", interval, lambda: expiry.expire_overdue_orders(db)),
        PeriodicJob(
            "receive long-shipped parts",
            interval * 10,
            lambda: fulfilment.auto_receive_shipped_parts(db, hold=hold),
        ),
    ]
