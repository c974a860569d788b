"""Online backup and restore of the embedded SQLite database, each checked by content digests.

``backup`` copies the live database with SQLite's online backup API while the server keeps
running. It reads inside one read transaction (a WAL snapshot): the digest of every table is taken
in that snapshot, the pages are copied from it, and the copy is accepted only when its own digest
and ``PRAGMA integrity_check`` agree. ``restore`` copies a checked backup back over the configured
database (keeping the previous file beside it) and checks the digest again.

PostgreSQL is backed up with its own tools (``pg_dump``/``pg_restore`` or base backups with WAL
archiving); README.md gives the procedure.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(Exception):
    """A backup or restore that was refused or did not check out; nothing was replaced."""


@dataclass(frozen=True)
class Digest:
    """What a database holds: its schema and every table's rows, hashed; row counts for people."""

    schema: str
    tables: dict[str, str]
    rows: dict[str, int]

    @property
    def combined(self) -> str:
        h = hashlib.sha256(self.schema.encode())
        for name in sorted(self.tables):
            h.update(f"{name}:{self.tables[name]}".encode())
        return h.hexdigest()

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


@dataclass(frozen=True)
class Outcome:
    path: Path
    digest: Digest
    revision: str | None
    kept_previous: Path | None = None


def sqlite_file(database_url: str) -> Path:
    """The file behind a ``sqlite+aiosqlite:///…`` URL; ``BackupError`` for anything else."""
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite"):
        raise BackupError(
            "backup and restore work on the embedded SQLite database; for PostgreSQL use pg_dump and "
            "pg_restore as README.md describes"
        )
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise BackupError(f"the database {url.database or ':memory:'} is not a file")
    return Path(url.database).expanduser().resolve()


@contextmanager
def _connect(path: Path, *, readonly: bool) -> Iterator[sqlite3.Connection]:
    uri = f"{path.as_uri()}?mode={'ro' if readonly else 'rwc'}"
    with closing(sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30)) as conn:
        conn.execute("PRAGMA busy_timeout=30000")
        yield conn


def digest(conn: sqlite3.Connection) -> Digest:
    """Hash the schema and every table's rows, sorted by all their columns (inside the caller's snapshot)."""
    schema_rows = conn.execute(
        "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master "
        "WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
    ).fetchall()
    schema = "\n".join("|".join(map(str, row)) for row in schema_rows)
    tables: dict[str, str] = {}
    rows: dict[str, int] = {}
    for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    ).fetchall():
        h = hashlib.sha256()
        count = 0
        quoted = '"' + name.replace('"', '""') + '"'
        # Every column in order: the same rows give the same digest, with or without a rowid
        # (WITHOUT ROWID tables, such as the search index, have none).
        width = len(conn.execute(f"SELECT * FROM {quoted} LIMIT 0").description)  # noqa: S608
        order = ", ".join(str(i) for i in range(1, width + 1))
        for row in conn.execute(f"SELECT * FROM {quoted} ORDER BY {order}"):  # noqa: S608 - a table name from sqlite_master
            h.update(repr(row).encode())
            h.update(b"\n")
            count += 1
        tables[name] = h.hexdigest()
        rows[name] = count
    return Digest(schema=schema, tables=tables, rows=rows)


def _revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    return row[0] if row else None


def _check_integrity(conn: sqlite3.Connection, what: str) -> None:
    try:
        result = conn.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{what} is not a readable SQLite database: {exc}") from exc
    if result != [("ok",)]:
        problems = "; ".join(str(r[0]) for r in result[:5])
        raise BackupError(f"{what} failed SQLite's integrity check: {problems}")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup(source: Path, target: Path) -> Outcome:
    """Copy the live database at ``source`` to a new file ``target``, checked by digest."""
    if not source.is_file():
        raise BackupError(f"there is no database at {source}")
    if target.exists():
        raise BackupError(f"{target} exists already; choose a new file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        with _connect(source, readonly=True) as src:
            # One read transaction: the digest and the copied pages come from the same snapshot,
            # however many writers the running server has meanwhile.
            src.execute("BEGIN")
            expected = digest(src)
            revision = _revision(src)
            with _connect(partial, readonly=False) as dst:
                src.backup(dst)
            src.execute("COMMIT")
        with _connect(partial, readonly=False) as copy:
            # A standalone file: no WAL beside it.
            copy.execute("PRAGMA journal_mode=DELETE")
            _check_integrity(copy, "the backup")
            found = digest(copy)
        if found != expected:
            raise BackupError("the backup's contents differ from the database it was taken from")
        _fsync(partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return Outcome(path=target, digest=expected, revision=revision)


def restore(backup_file: Path, target: Path, *, known_revisions: set[str], force: bool) -> Outcome:
    """Replace the database at ``target`` with ``backup_file`` (checked first and after)."""
    if not backup_file.is_file():
        raise BackupError(f"there is no backup at {backup_file}")
    with _connect(backup_file, readonly=True) as src:
        _check_integrity(src, "the backup")
        revision = _revision(src)
        if revision is None:
            raise BackupError(f"{backup_file} is not a coopmarket database (no alembic_version)")
        if revision not in known_revisions:
            raise BackupError(
                f"{backup_file} is at revision {revision}, which this version of coopmarket does not know "
                "(a backup from a newer release?)"
            )
        expected = digest(src)
    kept: Path | None = None
    if target.exists():
        with _connect(target, readonly=True) as current:
            holds_data = _revision(current) is not None
        if holds_data and not force:
            raise BackupError(
                f"{target} holds a database; add --force to replace it (a copy of it is kept beside it)"
            )
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        kept = target.with_name(f"{target.stem}.before-restore-{stamp}{target.suffix}")
        backup(target, kept)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _connect(backup_file, readonly=True) as src, _connect(target, readonly=False) as dst:
        src.backup(dst)
    with _connect(target, readonly=False) as restored:
        restored.execute("PRAGMA journal_mode=WAL")
        _check_integrity(restored, "the restored database")
        found = digest(restored)
    if found != expected:
        where = f"; the previous database is kept at {kept}" if kept else ""
        raise BackupError(f"the restored database differs from the backup{where}")
    return Outcome(path=target, digest=expected, revision=revision, kept_previous=kept)
