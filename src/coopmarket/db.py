"""Engines and sessions for SQLite (embedded default) and PostgreSQL.

SQLite: WAL, a busy timeout, foreign keys on, and every write transaction opened with
``BEGIN IMMEDIATE`` so that read-modify-write cannot lose updates (Python's driver would
otherwise begin lazily after the first SELECT). Read-only work uses ``Database.read()``, which
opens a deferred transaction on SQLite and runs in autocommit on PostgreSQL (no BEGIN/ROLLBACK
round trips on the hot public paths). ``Database.write_once()`` runs a single self-committing
write (autocommit on PostgreSQL), e.g. an idempotency claim.

**Where a unit of work begins and ends** (one rule for the whole code base): whoever opens a
session ends it. ``Database.unit_of_work()`` is the only way code opens one, and it commits when
its block ends normally and rolls back when it ends with an exception. The openers are the entry
points: the request's ``session`` dependency (``core/deps.py``), the idempotency executor, each
step of a background job, a CLI command, and a flow that must put an external call between two
units of work. A function that *receives* a session or connection (every service, flow and helper)
never commits or rolls back; it flushes when it needs the database's answer (a unique constraint,
a generated value) and raises to undo. Calls to other systems (payment providers, WeChat, object
storage) happen outside any open transaction: ``require_no_transaction`` says so where it matters.

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
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeAlias

from sqlalchemy import Insert, Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as SqlAlchemySession
from sqlalchemy.util import await_only
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.settings import Settings

READONLY = "coopmarket_readonly"
_log = logging.getLogger(__name__)

# What a function that only runs statements takes: a session (joining its unit of work) or a
# connection (``Database.read()``, or a session's own).
Executor: TypeAlias = SqlAlchemySession | AsyncConnection


def rowcount(result: Any) -> int:
    """The rows an UPDATE or DELETE (or an INSERT … ON CONFLICT DO NOTHING) touched.

    ``Result`` in SQLAlchemy's stubs has no ``rowcount``; the ``CursorResult`` a DML statement
    returns does. One place for that, instead of a ``type: ignore`` at every conditional update.
    """
    return int(getattr(result, "rowcount", 0) or 0)


def dialect_name(executor: Executor) -> str:
    """``postgresql`` or ``sqlite``, for the few statements that differ."""
    if isinstance(executor, SqlAlchemySession):
        return executor.get_bind().dialect.name
    return executor.dialect.name


def insert_or_ignore(
    executor: Executor, table: Table, values: Mapping[str, object], *, conflict_on: list[str]
) -> Insert:
    """``INSERT … ON CONFLICT (conflict_on) DO NOTHING``: a duplicate inserts nothing and raises nothing.

    The database settles the race (on PostgreSQL a second writer waits for the first to commit,
    then inserts nothing; SQLite serialises writers), and the caller's transaction stays usable.
    Add ``.returning(...)`` to learn whether a row was inserted.
    """
    dialect_insert = postgresql.insert if dialect_name(executor) == "postgresql" else sqlite.insert
    return dialect_insert(table).values(**values).on_conflict_do_nothing(index_elements=conflict_on)


def require_no_transaction(session: AsyncSession, doing: str) -> None:
    """Refuse to call another system while ``session`` holds a transaction open.

    An external call inside a unit of work would hold its locks (SQLite's write lock, row locks)
    for as long as the other side takes to answer, and could not be undone by a rollback.
    """
    if session.in_transaction():
        raise RuntimeError(f"{doing} must run between units of work, not inside one")


def _prepare_sqlite_file(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)


class _DriverQuery:
    """A fixed SELECT compiled once for PostgreSQL: its SQL text (exactly what SQLAlchemy sends),
    its positional parameters (name, bound default, bind processor) and its result processors."""

    __slots__ = ("params", "result_processors", "sql", "statement")

    def __init__(self, statement: Any, dialect: Any) -> None:
        compiled = statement.compile(dialect=dialect)
        if compiled.literal_execute_params or compiled.post_compile_params or compiled.positiontup is None:
            raise ValueError("not a fixed statement")
        self.statement = statement  # kept alive: the cache below is keyed by its id
        self.sql: str = compiled.string
        bind_processors = compiled._bind_processors
        by_name = {name: bind for bind, name in compiled.bind_names.items()}
        self.params: list[tuple[str, Any, Any]] = []
        for name in compiled.positiontup:
            bind = by_name[name]
            default = _MISSING if bind.callable is None and bind.required else bind.effective_value
            self.params.append((bind.key, default, bind_processors.get(name)))
        processors = [
            column.type._cached_result_processor(dialect, None) for column in compiled._result_columns
        ]
        self.result_processors = [(i, p) for i, p in enumerate(processors) if p is not None]

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        args = []
        for key, default, process in self.params:
            value = values[key] if key in values else default
            if value is _MISSING:
                raise KeyError(key)
            args.append(process(value) if process is not None and value is not None else value)
        return args

    def rows(self, records: list[Any]) -> list[Any]:
        if not self.result_processors:
            return records
        rows = []
        for record in records:
            row = list(record)
            for i, process in self.result_processors:
                row[i] = process(row[i])
            rows.append(row)
        return rows


_MISSING = object()
_DRIVER_QUERIES: dict[int, _DriverQuery | None] = {}
_MAX_DRIVER_QUERIES = 256


async def fetch_all(conn: AsyncConnection, statement: Any, params: Mapping[str, Any]) -> Sequence[Any]:
    """The rows of a SELECT (indexable by position) on a read connection (``Database.read()``).

    On PostgreSQL a fixed statement (one built once and reused, no expanding ``IN``) runs on the
    asyncpg connection itself with the SQL text SQLAlchemy would send: SQLAlchemy's execution
    layer (execution context, result set-up, rows, the greenlet hop) was about a third of a public
    list request's CPU. Only for reads in autocommit (no transaction to join): a driver error makes the
    statement run again through SQLAlchemy, which raises (and invalidates a dead connection) as it
    always has. Elsewhere, on SQLite, and while anything listens to SQLAlchemy's cursor events, it is
    ``conn.execute(statement, params).all()``.
    """
    sync = conn.sync_connection
    if (
        conn.dialect.name == "postgresql"
        and sync is not None
        and sync.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
        # Whoever listens to statements (tracing, a test reading the SQL sent) sees them all.
        and not (sync.dispatch.before_cursor_execute or sync.dispatch.after_cursor_execute)
    ):
        key = id(statement)
        query = _DRIVER_QUERIES.get(key, _MISSING)
        if query is _MISSING:
            if len(_DRIVER_QUERIES) >= _MAX_DRIVER_QUERIES:  # not fixed statements after all
                _DRIVER_QUERIES.clear()
            try:
                query = _DriverQuery(statement, conn.dialect)
            except Exception:  # not one it can run (expanding IN, an unusual type): SQLAlchemy runs it
                query = None
            _DRIVER_QUERIES[key] = query
        # The connection is checked out and valid (else SQLAlchemy, which would reconnect, runs it).
        if isinstance(query, _DriverQuery) and query.statement is statement and not (sync.closed or sync.invalidated):
            driver = sync.connection.driver_connection
            if driver is not None:
                try:
                    records = await driver.fetch(query.sql, *query.arguments(params))
                except Exception as exc:  # SQLAlchemy runs it again and reports it, below
                    _log.debug("driver read failed (%s); running it through SQLAlchemy", type(exc).__name__)
                else:
                    return query.rows(records)
    return (await conn.execute(statement, params)).all()


class DatabaseUnavailable(Exception):
    """No connection to the database could be opened (refused, timed out, the server starting or
    stopping); ``app.py`` answers 503 ``database_unavailable``."""


class DatabaseBusy(Exception):
    """A SQLite writer waited longer than its turn allows; ``app.py`` answers 503 ``database_busy``."""

    def __init__(self, waited_seconds: float) -> None:
        super().__init__(f"no turn to write within {waited_seconds:g} s")
        self.waited_seconds = waited_seconds


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
            raise DatabaseBusy(self.timeout_seconds) from None

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
    engine = create_async_engine(
        url,
        echo=settings.database_echo,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_recycle=settings.database_pool_recycle_seconds,
        # No ping per checkout (a round trip on every request): a connection that died with its
        # server fails its statement once, SQLAlchemy then discards every connection older than
        # the failure, and the next requests reconnect (tests/faults).
        pool_pre_ping=False,
        # Error messages and SQL logs must not carry phones, addresses or password hashes.
        hide_parameters=True,
        connect_args={
            "timeout": settings.database_connect_timeout_seconds,
            "server_settings": {"statement_timeout": str(settings.database_statement_timeout_ms)},
        },
    )

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        # A server that is down, restarting or unreachable refuses or times out the connection
        # with the driver's raw error (ConnectionRefusedError, TimeoutError, CannotConnectNow…);
        # one exception says it, whatever the cause.
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as exc:
            raise DatabaseUnavailable(f"cannot connect to the database: {type(exc).__name__}") from exc

    return engine


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
        """A bare session that its opener commits itself (tests set up rows with it).

        Application code opens sessions with ``unit_of_work()`` only.
        """
        return self.session_factory()

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: committed when the block ends normally, rolled back when it raises.

        The transaction begins at the first statement (``BEGIN IMMEDIATE`` on SQLite), so work
        before it, such as a read on ``read()`` or a call to a provider, holds no lock.
        """
        async with self.session_factory() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            await session.commit()

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
