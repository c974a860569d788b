"""Jobs on a real queue: procrastinate on PostgreSQL (``COOPMARKET_JOB_QUEUE=procrastinate``).

With the queue configured, API workers run no periodic work of their own; ``coopmarket worker``
processes (any number, on any machines) run it instead. Each periodic job of the app
(``app.background_jobs``: order expiry, automatic receipt, sending refunds, reconciliation,
webhook delivery, photo clean-up, idempotency purge) is a procrastinate periodic task: every
worker's deferrer tries to defer it at each tick, and procrastinate's unique
``(task, periodic_id, defer_timestamp)`` row lets exactly one of them succeed; a ``queueing_lock``
keeps at most one waiting and a ``lock`` at most one running, so a slow run is never doubled.
Each job is still safe to run twice (conditional UPDATEs, unique keys), as in-process.

procrastinate's own tables are created by ``coopmarket migrate`` with procrastinate's schema
manager (``ensure_schema``) when the queue is configured, not by an Alembic migration: they
belong to procrastinate's release, not ours.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Sequence
from typing import Any

import procrastinate
from sqlalchemy.engine import make_url

from coopmarket.app import background_jobs
from coopmarket.core.jobs import PeriodicJob
from coopmarket.db import Database
from coopmarket.payments.registry import open_providers
from coopmarket.settings import Settings
from coopmarket.storage.deps import build_storage

log = logging.getLogger(__name__)
PERIODIC_QUEUE = "periodic"
DEFAULT_QUEUE = "default"


def conninfo(settings: Settings) -> str:
    """The libpq URL of the configured PostgreSQL database (procrastinate connects with psycopg 3)."""
    url = make_url(settings.database_url)
    if not url.drivername.startswith("postgresql"):
        raise ValueError("the procrastinate job queue needs a PostgreSQL database")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def build_queue(settings: Settings) -> procrastinate.App:
    return procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(settings)))


async def ensure_schema(settings: Settings) -> bool:
    """Create procrastinate's tables when they are missing; whether they were created now."""
    queue = build_queue(settings)
    async with queue.open_async():
        row = await queue.connector.execute_query_one_async(
            "SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS present"
        )
        if row["present"]:
            return False
        await queue.schema_manager.apply_schema_async()
        return True


def cron_for(interval_seconds: float) -> str:
    """A cron line (procrastinate's, with an optional 6th column of seconds) close to the interval."""
    seconds = max(1, round(interval_seconds))
    if seconds < 60:
        return f"* * * * * */{seconds}"
    minutes = seconds // 60
    if minutes < 60:
        return f"*/{minutes} * * * *"
    hours = min(23, minutes // 60)
    return f"0 */{hours} * * *"


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def register_periodic(queue: procrastinate.App, jobs: Sequence[PeriodicJob]) -> list[str]:
    """One periodic task per job, named ``coopmarket.<job>``; returns the task names."""
    names = []
    for job in jobs:
        name = f"coopmarket.{slug(job.name)}"

        async def run(timestamp: int, _job: PeriodicJob = job) -> None:
            await _job.run()

        task: Any = queue.task(
            name=name, queue=PERIODIC_QUEUE, lock=name, queueing_lock=name, pass_context=False
        )(run)
        queue.periodic(cron=cron_for(job.interval_seconds), periodic_id=slug(job.name))(task)
        names.append(name)
    return names


async def run_worker(settings: Settings, *, concurrency: int = 4, imports: Sequence[str] = ()) -> None:
    """Run the app's periodic jobs (and any deferred ones) until stopped (SIGINT/SIGTERM)."""
    queue = build_queue(settings)
    db = Database(settings)
    storage = build_storage(settings)
    await storage.check()
    try:
        async with open_providers(settings) as providers:
            names = register_periodic(queue, background_jobs(db, settings, providers, storage))
            for module in imports:
                # Extra tasks (e.g. the test suite's): the module's ``register(queue, db)``.
                importlib.import_module(module).register(queue, db)
            log.info("worker runs %s", ", ".join(names))
            async with queue.open_async():
                await queue.run_worker_async(
                    queues=[PERIODIC_QUEUE, DEFAULT_QUEUE],
                    concurrency=concurrency,
                    install_signal_handlers=True,
                )
    finally:
        await db.dispose()
        await storage.aclose()
