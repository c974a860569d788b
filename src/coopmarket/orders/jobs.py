"""Background jobs of the orders slice: cancel unpaid orders after ``expires_at``."""

from __future__ import annotations

import asyncio
import logging

from coopmarket.db import Database
from coopmarket.settings import Settings

log = logging.getLogger(__name__)


async def run_expiry_sweeper(db: Database, settings: Settings) -> None:
    """Every few seconds, cancel overdue unpaid orders and release their stock (safe on many workers)."""
    from coopmarket.orders import service

    while True:
        try:
            await service.expire_overdue_orders(db)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("order expiry sweep failed")
        await asyncio.sleep(settings.expiry_sweep_interval_seconds)
