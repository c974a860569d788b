"""Jobs on procrastinate: two `coopmarket worker` processes on PostgreSQL share the work and never
run one job twice; their periodic jobs are deferred once per tick, not once per worker."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from coopmarket.worker import build_queue, cron_for
from tests.conftest import PG_URL, _settings
from tests.jobs import probe_tasks

ROOT = Path(__file__).resolve().parents[2]
JOBS = 150

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(PG_URL is None, reason="needs COOPMARKET_TEST_DATABASE_URL (PostgreSQL)"),
]


def _env(url: str, tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
            "COOPMARKET_ENVIRONMENT": "test",
            "COOPMARKET_DATABASE_URL": url,
            "COOPMARKET_JOB_QUEUE": "procrastinate",
            "COOPMARKET_JWT_SECRET": "test-secret-for-the-suite-only-000000",
            "COOPMARKET_STORAGE_LOCAL_DIR": str(tmp / "uploads"),
            "COOPMARKET_WEBHOOK_DELIVERY_INTERVAL_SECONDS": "1",
            "COOPMARKET_LOG_LEVEL": "WARNING",
        }
    )
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from coopmarket.cli import main; sys.exit(main())", *args]


def test_cron_lines_follow_the_intervals() -> None:
    assert cron_for(5) == "* * * * * */5"
    assert cron_for(300) == "*/5 * * * *"
    assert cron_for(3600) == "0 */1 * * *"


async def test_two_worker_processes_never_run_one_job_twice(pg_database: str, tmp_path: Path) -> None:
    env = _env(pg_database, tmp_path)
    migrated = await asyncio.to_thread(
        subprocess.run, _cli("migrate"), env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert migrated.returncode == 0, migrated.stderr
    engine = create_async_engine(pg_database)
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE IF EXISTS job_probe_run"))
        await conn.execute(text("CREATE TABLE job_probe_run (n integer NOT NULL, pid integer NOT NULL)"))
        await conn.execute(text("DELETE FROM procrastinate_jobs"))

    queue = build_queue(_settings(pg_database, job_queue="procrastinate"))
    task = probe_tasks.register(queue, None)
    async with queue.open_async():
        for n in range(JOBS):
            await task.defer_async(n=n)

    workers = [
        subprocess.Popen(  # noqa: S603, ASYNC220 - our own CLI, started once
            _cli("worker", "--concurrency", "3", "--import", "tests.jobs.probe_tasks"),
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 20
        while True:
            async with engine.connect() as conn:
                done = int(await conn.scalar(text("SELECT count(*) FROM job_probe_run")) or 0)
            if done >= JOBS or time.monotonic() > deadline:
                break
            for worker in workers:
                assert worker.poll() is None, worker.communicate()[1]
            await asyncio.sleep(0.2)
        await asyncio.sleep(2.5)  # a few periodic ticks, and time for any second run to show
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        outputs = [worker.communicate(timeout=15) for worker in workers]

    async with engine.connect() as conn:
        runs = (await conn.execute(text("SELECT n, pid FROM job_probe_run"))).all()
        periodic = (
            await conn.execute(
                text(
                    "SELECT task_name, defer_timestamp, count(*) FROM procrastinate_periodic_defers "
                    "GROUP BY task_name, defer_timestamp HAVING count(*) > 1"
                )
            )
        ).all()
        delivery_runs = await conn.scalar(
            text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'coopmarket.deliver_webhooks'")
        )
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE job_probe_run"))  # the next test on this database compares schemas
    await engine.dispose()

    assert len(runs) == JOBS, outputs
    assert sorted(n for n, _ in runs) == list(range(JOBS))  # each exactly once
    assert len({pid for _, pid in runs}) == 2  # and the two workers shared them
    assert periodic == []  # one periodic job per tick, whichever worker deferred it
    assert delivery_runs and delivery_runs >= 1
