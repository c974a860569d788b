"""Engines and sessions for SQLite (embedded default) and PostgreSQL.

SQLite: WAL, a busy timeout, foreign keys on, and every write transaction opened with
``BEGIN IMMEDIATE`` so that read-modify-write cannot lose updates (Python's driver would
otherwise begin lazily after the first SELECT). Read-only work uses ``Database.read()``, which
opens a deferred transaction on SQLite and runs in autocommit on PostgreSQL (no BEGIN/ROLLBACK
round trips on the hot public paths). ``Database.write_once()`` runs a single self-committing
write (autocommit on PostgreSQL), e.g. an idempotency claim.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.settings import Settings

READONLY = "coopmarket_readonly"


def _prepare_sqlite_file(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)


def create_engine(settings: Settings) -> AsyncEngine:
    """The process's engine for ``settings.database_url``."""
    url = settings.database_url
    if settings.is_sqlite:
        _prepare_sqlite_file(url)
        engine = create_async_engine(
            url, echo=settings.database_echo, pool_size=settings.database_pool_size, hide_parameters=True
        )
        busy_ms = int(settings.sqlite_busy_timeout_ms)

        # (hide_parameters above: errors and SQL logs must not carry personal data.)
        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the driver, decide when a transaction begins.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            if conn.get_execution_options().get(READONLY):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_async_engine(
        url,
        echo=settings.database_echo,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_recycle=settings.database_pool_recycle_seconds,
        pool_pre_ping=False,
        # Error messages and SQL logs must not carry phones, addresses or password hashes.
        hide_parameters=True,
    )


class Database:
    """The engine, a read-only view of it, and the session factory for units of work."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = create_engine(settings)
        options: dict[str, Any] = {READONLY: True}
        if not settings.is_sqlite:
            options["isolation_level"] = "AUTOCOMMIT"
        self.read_engine = self.engine.execution_options(**options)
        # One-statement writes that commit on their own (PostgreSQL: no BEGIN/COMMIT round trips).
        self.autocommit_engine = (
            None if settings.is_sqlite else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self.session_factory = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> AsyncSession:
        """A new unit-of-work session; the caller commits once at the end."""
        return self.session_factory()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for read-only statements (no write lock, no BEGIN on PostgreSQL)."""
        async with self.read_engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write_once(self) -> AsyncIterator[AsyncConnection]:
        """A connection for one write statement that commits by itself: autocommit on PostgreSQL,
        a short write transaction committed on exit on SQLite. Only for a single statement."""
        if self.autocommit_engine is None:
            async with self.engine.begin() as conn:
                yield conn
        else:
            async with self.autocommit_engine.connect() as conn:
                yield conn

    async def dispose(self) -> None:
        await self.engine.dispose()
