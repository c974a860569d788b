"""``coopmarket backup`` and ``restore`` of the embedded SQLite database, checked by restoring."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from coopmarket.cli import main
from coopmarket.ops import backup as backup_ops
from coopmarket.settings import get_settings


@pytest.fixture(autouse=True)
def _cli_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("COOPMARKET_ENVIRONMENT", "test")
    monkeypatch.setenv("COOPMARKET_RUN_BACKGROUND_JOBS", "false")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _use(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setenv("COOPMARKET_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    get_settings.cache_clear()


def _dump(path: Path) -> list[str]:
    """Every statement that rebuilds the database, in order: schema and rows."""
    with closing(sqlite3.connect(path)) as conn:
        return list(conn.iterdump())


@pytest.fixture
def live_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A migrated database with demo cooperatives, products and staff in it."""
    path = tmp_path / "live.sqlite3"
    _use(monkeypatch, path)
    assert main(["migrate"]) == 0
    assert main(["seed-demo"]) == 0
    return path


def test_a_backup_restored_into_a_fresh_file_is_the_same_database(
    live_database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a backup of the live database
    copy = tmp_path / "backups" / "coopmarket-20261203.sqlite3"
    assert main(["backup", str(copy)]) == 0
    assert "(checked)" in capsys.readouterr().out
    # When it is restored into a fresh file
    fresh = tmp_path / "fresh.sqlite3"
    _use(monkeypatch, fresh)
    assert main(["restore", str(copy)]) == 0
    # Then schema and every row are identical to the original
    original = _dump(live_database)
    assert len(original) > 600  # regions, demo data, schema
    assert _dump(fresh) == original
    assert not list(tmp_path.glob("**/*.partial"))


def test_a_backup_taken_while_writers_run_is_one_consistent_snapshot(
    live_database: Path, tmp_path: Path
) -> None:
    # Given a writer appending rows to the live database, in WAL mode, while the backup runs
    with closing(sqlite3.connect(live_database)) as conn:
        conn.execute("CREATE TABLE scratch (id INTEGER PRIMARY KEY, payload TEXT)")
        conn.commit()
    stop = threading.Event()

    def write() -> None:
        with closing(sqlite3.connect(live_database, timeout=30)) as conn:
            n = 0
            while not stop.is_set():
                conn.execute("INSERT INTO scratch (payload) VALUES (?)", (f"row {n}",))
                conn.commit()
                n += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        outcomes = [backup_ops.backup(live_database, tmp_path / f"copy-{i}.sqlite3") for i in range(3)]
    finally:
        stop.set()
        writer.join()
    # Then each copy checked out against the snapshot it was taken from (backup raises otherwise),
    # and its scratch rows are a gap-free prefix of what the writer wrote
    for outcome in outcomes:
        with closing(sqlite3.connect(outcome.path)) as copy:
            count, top = copy.execute("SELECT count(*), coalesce(max(id), 0) FROM scratch").fetchone()
        assert count == top == outcome.digest.rows["scratch"]


def test_an_existing_backup_file_is_never_overwritten(live_database: Path, tmp_path: Path) -> None:
    target = tmp_path / "taken.sqlite3"
    target.write_bytes(b"precious")
    assert main(["backup", str(target)]) == 2
    assert target.read_bytes() == b"precious"


def test_restore_over_data_needs_force_and_keeps_the_previous_database(
    live_database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a backup, then a change to the live database
    copy = tmp_path / "before.sqlite3"
    assert main(["backup", str(copy)]) == 0
    with closing(sqlite3.connect(live_database)) as conn:
        conn.execute("UPDATE sku SET stock = stock + 1")
        conn.commit()
    changed = _dump(live_database)
    # When it is restored without --force, nothing happens
    assert main(["restore", str(copy)]) == 2
    assert _dump(live_database) == changed
    # With --force the backup comes back, and the changed database is kept beside it
    assert main(["restore", "--force", str(copy)]) == 0
    assert _dump(live_database) == _dump(copy)
    kept = list(tmp_path.glob("live.before-restore-*.sqlite3"))
    assert len(kept) == 1
    assert _dump(kept[0]) == changed


def test_a_damaged_or_foreign_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, tmp_path / "target.sqlite3")
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"this is not a database" * 100)
    assert main(["restore", str(garbage)]) != 0
    foreign = tmp_path / "foreign.sqlite3"
    with closing(sqlite3.connect(foreign)) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
    assert main(["restore", str(foreign)]) == 2
    newer = tmp_path / "newer.sqlite3"
    with closing(sqlite3.connect(newer)) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.execute("INSERT INTO alembic_version VALUES ('9999_from_the_future')")
        conn.commit()
    assert main(["restore", str(newer)]) == 2
    assert not (tmp_path / "target.sqlite3").exists()


def test_postgresql_is_pointed_at_its_own_tools(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COOPMARKET_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/x")
    get_settings.cache_clear()
    assert main(["backup", str(tmp_path / "x.sqlite3")]) == 2
    assert "pg_dump" in capsys.readouterr().err
