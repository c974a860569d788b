"""A task for the worker tests: each run records itself (``n``, the worker's pid) in ``job_probe_run``.

Loaded into `coopmarket worker` processes with ``--import tests.jobs.probe_tasks``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import procrastinate
from sqlalchemy import text

from coopmarket.db import Database

TASK = "coopmarket_test.record_run"


def register(queue: procrastinate.App, db: Database | None) -> Any:
    @queue.task(name=TASK, queue="default", pass_context=False)
    async def record_run(n: int) -> None:
        await asyncio.sleep(0.01)  # long enough for both workers to be busy at once
        if db is not None:
            async with db.unit_of_work() as session:
                await session.execute(
                    text("INSERT INTO job_probe_run (n, pid) VALUES (:n, :pid)"), {"n": n, "pid": os.getpid()}
                )

    return record_run
