"""Engines and sessions for SQLite (embedded default) and PostgreSQL.

SQLite: WAL, a busy timeout, foreign keys on, and every write transaction opened with
``BEGIN IMMEDIATE`` so that read-modify-write cannot lose updates (Python's driver would
otherwise begin lazily after the first SELECT). Read-only work uses ``Database.read()``, which
opens a deferred transaction on SQLite and runs in autocommit on PostgreSQL (no BEGIN/ROLLBACK
round trips on the hot public paths). ``Database.write_once()`` runs a single self-committing
write (autocommit on PostgreSQL), e.g. an idempotency claim.

SQLite has one writer at a time. Left to SQLite alone, concurrent writers poll for the lock in its
busy handler (sleeping, in no order), and under load some wait past the busy timeout and fail with
``database is locked``. So within a process every write transaction (a session's unit of work,
``write_once``, the idempotency claim) first takes its turn in ``WriteQueue``, a FIFO lock held
from ``BEGIN IMMEDIATE`` until the COMMIT or ROLLBACK has run; the busy timeout stays on every
connection for writers in other processes. Reads do not queue. A writer that waits longer than
``sqlite_write_queue_timeout_seconds`` for its turn gets 503 ``database_busy`` (with
``Retry-After``) instead of hanging.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_only
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core.errors import UpstreamUnavailable
from coopmarket.settings import Settings

READONLY = "coopmarket_readonly"


def _prepare_sqlite_file(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)


class WriteQueue:
    """One SQLite write transaction at a time in this process, first come first served.

    Taken in the engine's ``begin`` event (inside SQLAlchemy's greenlet, so it can wait on the
    event loop) and given back once the DBAPI COMMIT or ROLLBACK has returned (the dialect's
    ``do_commit``/``do_rollback``), so the next writer's ``BEGIN IMMEDIATE`` finds the file free.
    ``asyncio.Lock`` wakes its waiters in the order they came.
    """

    def __init__(self, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        self._lock = asyncio.Lock()
        self._holder: Any = None

    async def _acquire(self) -> None:
        try:
            async with asyncio.timeout(self.timeout_seconds):
                await self._lock.acquire()
        except TimeoutError:
            raise UpstreamUnavailable(
                "The database is busy; retry shortly.", code="database_busy", headers={"Retry-After": "1"}
            ) from None

    def take_turn(self, connection: Any) -> None:
        """Wait (in the greenlet) until ``connection`` may write."""
        await_only(self._acquire())
        self._holder = _raw(connection)

    def done(self, connection: Any) -> None:
        """``connection`` committed or rolled back: the next writer's turn (no-op for others)."""
        dbapi_connection = _raw(connection)
        if dbapi_connection is not None and self._holder is dbapi_connection:
            self._holder = None
            self._lock.release()

    @property
    def busy(self) -> bool:
        return self._lock.locked()


def _raw(connection: Any) -> Any:
    """The DBAPI connection behind a pool's proxy (SQLAlchemy hands either to the dialect)."""
    return getattr(connection, "dbapi_connection", connection)


def _after(step: Callable[[Any], None], queue: WriteQueue) -> Callable[[Any], None]:
    def run_then_release(dbapi_connection: Any) -> None:
        try:
            step(dbapi_connection)
        finally:
            queue.done(dbapi_connection)

    return run_then_release


def _release_on(queue: WriteQueue) -> Callable[..., None]:
    def release(dbapi_connection: Any, *_: Any) -> None:
        queue.done(dbapi_connection)

    return release


def create_engine(settings: Settings, write_queue: WriteQueue | None = None) -> AsyncEngine:
    """The process's engine for ``settings.database_url`` (on SQLite, writes take turns in
    ``write_queue``)."""
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

        queue = write_queue or WriteQueue(settings.sqlite_write_queue_timeout_seconds)
        dialect = engine.sync_engine.dialect
        dialect.do_commit = _after(dialect.do_commit, queue)  # type: ignore[method-assign,assignment]
        dialect.do_rollback = _after(dialect.do_rollback, queue)  # type: ignore[method-assign,assignment]

        # Belt and braces: a connection that leaves the pool's hands without COMMIT or ROLLBACK
        # (invalidated, closed, checked in after a cancelled task) gives its turn back too.
        for pool_event in ("checkin", "invalidate", "soft_invalidate", "close", "close_detached"):
            event.listen(engine.sync_engine.pool, pool_event, _release_on(queue))

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            if conn.get_execution_options().get(READONLY):
                conn.exec_driver_sql("BEGIN")
                return
            queue.take_turn(conn.connection)
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                queue.done(conn.connection)
                raise

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
        # SQLite: the process's writers take turns here (see the module docstring).
        self.write_queue = WriteQueue(settings.sqlite_write_queue_timeout_seconds)
        self.engine = create_engine(settings, self.write_queue)
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
