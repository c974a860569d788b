"""The job queue setting: procrastinate needs PostgreSQL; `coopmarket worker` needs the queue."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from coopmarket.cli import main
from coopmarket.settings import Settings
from coopmarket.worker import conninfo


def test_the_procrastinate_queue_is_refused_on_sqlite() -> None:
    with pytest.raises(ValidationError, match="needs a PostgreSQL"):
        Settings(job_queue="procrastinate", database_url="sqlite+aiosqlite:///./x.sqlite3")


def test_procrastinate_connects_with_the_same_database_over_libpq() -> None:
    settings = Settings(
        job_queue="procrastinate", database_url="postgresql+asyncpg://app:pw@db.example:5432/coopmarket"
    )
    assert conninfo(settings) == "postgresql://app:pw@db.example:5432/coopmarket"


def test_the_worker_command_needs_the_queue(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COOPMARKET_JOB_QUEUE", "inprocess")
    assert main(["worker"]) == 2
    assert "COOPMARKET_JOB_QUEUE=procrastinate" in capsys.readouterr().err
