"""Periodic background work inside each worker. Every job must be safe to run on many workers at
once (they settle races with conditional UPDATEs and unique keys), so no leader election is needed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def every(interval_seconds: float, name: str, job: Callable[[], Awaitable[object]]) -> None:
    """Run ``job`` now and then every ``interval_seconds`` until cancelled; a failure is logged, not fatal."""
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background job %s failed", name)
        await asyncio.sleep(interval_seconds)
