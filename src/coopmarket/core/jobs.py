"""Periodic background work inside each worker. Every job must be safe to run on many workers at
once (they settle races with conditional UPDATEs and unique keys), so no leader election is needed.

Slices describe their jobs as ``PeriodicJob`` values; ``app.py`` starts them in its lifespan and
cancels them at shut-down. A job's step opens its own units of work (``Database.unit_of_work``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicJob:
    """``run`` every ``interval_seconds``; ``name`` is for the logs."""

    name: str
    interval_seconds: float
    run: Callable[[], Awaitable[object]]


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


def start(jobs: Iterable[PeriodicJob]) -> list[asyncio.Task[None]]:
    """Start ``jobs`` as tasks of the running loop."""
    return [
        asyncio.create_task(every(job.interval_seconds, job.name, job.run), name=job.name) for job in jobs
    ]


async def stop(tasks: Iterable[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and wait until each has ended."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
