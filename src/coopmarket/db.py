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
import collections
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeAlias

from sqlalchemy import Insert, Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SqlAlchemyTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as SqlAlchemySession
from sqlalchemy.pool import QueuePool
from sqlalchemy.util import await_only, greenlet_spawn
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
    """A fixed statement compiled once for PostgreSQL: its SQL text (exactly what SQLAlchemy sends),
    its positional parameters (name, bound default, bind processor) and its result processors.

    ``column_keys`` are the keys an INSERT or UPDATE is executed with (they decide its columns, as
    in SQLAlchemy). An expanding ``IN`` is rendered by SQLAlchemy's own ``construct_expanded_state``
    (the text it sends for that many values), once per count of values: the text and where each
    argument comes from are kept for the next call with as many. A statement SQLAlchemy would
    complete at execution (a Python-side column default or ``onupdate`` not given, a
    literal-execute parameter) is refused: SQLAlchemy runs it."""

    __slots__ = (
        "by_name",
        "compiled",
        "expanded",
        "expanding",
        "expanding_keys",
        "params",
        "result_processors",
        "sql",
        "statement",
    )

    def __init__(self, statement: Any, dialect: Any, column_keys: list[str] | None = None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=column_keys)
        if compiled.literal_execute_params or compiled.positiontup is None:
            raise ValueError("not a fixed statement")
        self.compiled = compiled
        self.expanding = bool(compiled.post_compile_params)
        if getattr(compiled, "insert_prefetch", None) or getattr(compiled, "update_prefetch", None):
            raise ValueError("SQLAlchemy would fill in column defaults at execution")
        self.statement = statement  # kept alive: the cache below is keyed by its id
        self.sql: str = compiled.string
        bind_processors = compiled._bind_processors
        by_name = {name: bind for bind, name in compiled.bind_names.items()}
        self.params: list[tuple[str, Any, Any]] = []
        self.by_name: dict[str, tuple[str, Any, Any]] = {}
        for name in compiled.positiontup:
            bind = by_name[name]
            default = _MISSING if bind.callable is None and bind.required else bind.effective_value
            self.params.append((bind.key, default, bind_processors.get(name)))
            self.by_name[name] = self.params[-1]
        self.expanding_keys = sorted(bind.key for bind in compiled.post_compile_params)
        self.expanded: dict[tuple[int, ...], tuple[str, list[tuple[str, int | None, Any, Any]]] | None] = {}
        processors = [
            column.type._cached_result_processor(dialect, None) for column in compiled._result_columns
        ]
        self.result_processors = [(i, p) for i, p in enumerate(processors) if p is not None]

    def bind(self, values: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """The SQL text and positional arguments for ``values``."""
        if not self.expanding:
            return self.sql, self.arguments(values)
        counts = tuple(len(values[key]) for key in self.expanding_keys)
        if counts in self.expanded:
            plan = self.expanded[counts]
        else:
            plan = self._plan(self.compiled.construct_expanded_state(values), values)
            if len(self.expanded) < 64:
                self.expanded[counts] = plan
        if plan is None:  # a shape it cannot replay (tuples): SQLAlchemy's expansion each time
            state = self.compiled.construct_expanded_state(values)
            return state.statement, [
                _processed(state.processors.get(name), state.parameters[name]) for name in state.positiontup or ()
            ]
        sql, steps = plan
        args = []
        for key, index, default, process in steps:
            if index is not None:
                value = values[key][index]
            else:
                value = values[key] if key in values else default
                if value is _MISSING:
                    raise KeyError(key)
            args.append(process(value) if process is not None and value is not None else value)
        return sql, args

    def _plan(self, state: Any, values: Mapping[str, Any]) -> tuple[str, list[tuple[str, int | None, Any, Any]]] | None:
        """Where each argument of an expanded statement comes from: ``(key, index in the list or
        None, default, processor)``; ``None`` when an expansion is not one value per list item."""
        where: dict[str, tuple[str, int]] = {}
        for name, expanded in state.parameter_expansion.items():
            key = self.by_name[name][0] if name in self.by_name else name
            if key not in values or len(expanded) != len(values[key]):
                return None
            for index, expanded_name in enumerate(expanded):
                where[expanded_name] = (key, index)
        steps: list[tuple[str, int | None, Any, Any]] = []
        for name in state.positiontup or ():
            if name in where:
                key, index = where[name]
                steps.append((key, index, None, state.processors.get(name)))
            elif name in self.by_name:
                key, default, process = self.by_name[name]
                steps.append((key, None, default, process))
            else:
                return None
        return state.statement, steps

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


def _processed(process: Any, value: Any) -> Any:
    return process(value) if process is not None and value is not None else value


_MISSING = object()
_DRIVER_QUERIES: dict[tuple[int, tuple[str, ...]], _DriverQuery | None] = {}
_MAX_DRIVER_QUERIES = 512


def _driver_query(dialect: Any, statement: Any, keys: Any) -> _DriverQuery | None:
    """The compiled form of ``statement`` for these parameter keys, or ``None`` when SQLAlchemy
    must run it (cached by the statement's identity: only statements built once come here twice)."""
    # An INSERT's or UPDATE's columns depend on the keys it is given; a SELECT's do not.
    key = (id(statement), tuple(keys) if statement.is_dml else ())
    query = _DRIVER_QUERIES.get(key, _MISSING)
    if query is _MISSING:
        if len(_DRIVER_QUERIES) >= _MAX_DRIVER_QUERIES:  # not fixed statements after all
            _DRIVER_QUERIES.clear()
        try:
            query = _DriverQuery(statement, dialect, list(key[1]) if statement.is_dml else None)
        except Exception:  # not one it can run (expanding IN, an unusual type, defaults): SQLAlchemy runs it
            query = None
        _DRIVER_QUERIES[key] = query
    if isinstance(query, _DriverQuery) and query.statement is statement:
        return query
    return None


def _on_driver(conn: Executor) -> bool | None:
    """How a statement on ``conn`` may run on the asyncpg connection itself: ``True`` in autocommit
    (``Database.read()``, ``write_once()``), ``False`` inside a transaction SQLAlchemy began (a unit
    of work's connection), ``None`` when SQLAlchemy must run it: SQLite, a session (not its
    connection), a connection not checked out or invalidated, or anyone listening to cursor events
    (tracing, a test reading the SQL sent, fault injection sees every statement)."""
    if not isinstance(conn, AsyncConnection) or conn.dialect.name != "postgresql":
        return None
    sync = conn.sync_connection
    if sync is None or sync.closed or sync.invalidated:
        return None
    if sync.dispatch.before_cursor_execute or sync.dispatch.after_cursor_execute:
        return None
    if sync.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return True
    return False if sync.in_transaction() else None


async def _driver_error(conn: AsyncConnection, exc: Exception, sql: str, args: Any) -> NoReturn:
    """Raise ``exc`` of the driver as SQLAlchemy would have: the dialect's translation to a DBAPI
    error, then the connection's own handling (the ``sqlalchemy.exc`` class, ``connection_invalidated``
    and invalidation of a connection the server dropped, ``handle_error`` events)."""
    sync = conn.sync_connection
    assert sync is not None
    adapted: Any = sync.connection.dbapi_connection  # SQLAlchemy's asyncpg adapter
    try:
        adapted._handle_exception(exc)  # raises the DBAPI-level error
    except conn.dialect.loaded_dbapi.Error as dbapi_error:
        await greenlet_spawn(sync._handle_dbapi_exception, dbapi_error, sql, args, None, None)
        raise  # not reached: the line above raises
    raise exc  # not reached: ``_handle_exception`` raises (a non-DBAPI error as it is)


async def _run_in_transaction(conn: AsyncConnection, call: Callable[..., Any], sql: str, args: Any) -> Any:
    """``call(sql, args)`` on the driver inside the transaction of ``conn``, beginning it first if
    this is its first statement (SQLAlchemy's asyncpg adapter begins lazily, at the first statement)."""
    sync = conn.sync_connection
    assert sync is not None
    adapted: Any = sync.connection.dbapi_connection  # SQLAlchemy's asyncpg adapter
    async with adapted._execute_mutex:
        try:
            if adapted._transaction is None:
                await adapted._start_transaction()
            return await call(sql, args)
        except Exception as exc:
            await _driver_error(conn, exc, sql, args)


def _as_sqlalchemy_error(dialect: Any, adapted: Any, exc: Exception, sql: str, args: Any) -> tuple[Exception, bool]:
    """The ``sqlalchemy.exc`` error SQLAlchemy raises for the driver's ``exc`` on a pooled
    connection used without a ``Connection``, and whether the server dropped that connection."""
    try:
        adapted._handle_exception(exc)  # raises the DBAPI-level error
    except dialect.loaded_dbapi.Error as dbapi_error:
        dropped = bool(dialect.is_disconnect(dbapi_error, adapted, None))
        wrapped = DBAPIError.instance(
            sql,
            args,
            dbapi_error,
            dialect.loaded_dbapi.Error,
            hide_parameters=True,  # as the engine: no phones or tokens in errors and logs
            connection_invalidated=dropped,
            dialect=dialect,
        )
        return wrapped, dropped
    except Exception as other:  # not a DBAPI error: as it is
        return other, False
    return exc, False  # not reached: ``_handle_exception`` raises


def _driver_of(conn: AsyncConnection) -> Any:
    sync = conn.sync_connection
    assert sync is not None
    return sync.connection.driver_connection


def _on_driver_for(
    conn: Executor, statement: Any, keys: Any
) -> tuple[bool, _DriverQuery, AsyncConnection, Any] | None:
    """Whether ``statement`` runs on the driver of ``conn`` (``_on_driver``: True in autocommit,
    False in a transaction), its compiled form, the connection and its driver; ``None`` when
    SQLAlchemy runs it."""
    mode = _on_driver(conn)
    if mode is None:
        return None
    assert isinstance(conn, AsyncConnection)
    query = _driver_query(conn.dialect, statement, keys)
    if query is None:
        return None
    return mode, query, conn, _driver_of(conn)


async def fetch_all(conn: Executor, statement: Any, params: Mapping[str, Any]) -> Sequence[Any]:
    """The rows of a statement (a SELECT, or DML with RETURNING), indexable by position.

    On PostgreSQL a statement built once and reused, on a connection, runs on the asyncpg
    connection itself with the SQL text SQLAlchemy would send: SQLAlchemy's execution layer
    (execution context, result set-up, rows, the greenlet hop) costs 70–120 µs of CPU per
    statement, against 25–50 µs for the driver alone (bench/README.md). In a unit of work it joins
    the transaction SQLAlchemy began (beginning it if needed), and an error is raised as SQLAlchemy
    raises it (``_driver_error``). A read in autocommit that fails runs again through SQLAlchemy,
    which raises (and invalidates a dead connection) as it always has. Elsewhere (SQLite, a
    session, cursor-event listeners) it is ``conn.execute(statement, params).all()``.
    """
    if (on := _on_driver_for(conn, statement, params.keys())) is not None:
        autocommit, query, connection, driver = on
        sql, args = query.bind(params)
        if not autocommit:
            return query.rows(await _run_in_transaction(connection, _fetch_on(driver), sql, args))
        try:
            records = await driver.fetch(sql, *args)
        except Exception as exc:
            if statement.is_dml:  # a write is never sent twice
                await _driver_error(connection, exc, sql, args)
            # A read: SQLAlchemy runs it again and reports it, below.
            _log.debug("driver read failed (%s); running it through SQLAlchemy", type(exc).__name__)
        else:
            return query.rows(records)
    return (await conn.execute(statement, params)).all()


async def execute_dml(conn: Executor, statement: Any, params: Mapping[str, Any]) -> int:
    """Run an INSERT, UPDATE or DELETE without RETURNING; the rows it touched. As ``fetch_all``:
    on the driver where it can, else through SQLAlchemy."""
    if (on := _on_driver_for(conn, statement, params.keys())) is not None:
        autocommit, query, connection, driver = on
        sql, args = query.bind(params)
        if not autocommit:
            return _status_count(await _run_in_transaction(connection, _execute_on(driver), sql, args))
        try:
            return _status_count(await driver.execute(sql, *args))
        except Exception as exc:
            await _driver_error(connection, exc, sql, args)
    return rowcount(await conn.execute(statement, params))


async def execute_many(conn: Executor, statement: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """Run an INSERT (or UPDATE) once per row of ``rows``, which all have the same keys; as
    ``fetch_all``, on the driver (asyncpg's ``executemany``, one pipelined round trip) inside a
    unit of work on PostgreSQL, else SQLAlchemy's executemany."""
    if not rows:
        return
    on = _on_driver_for(conn, statement, rows[0].keys())
    if on is not None and on[0] is False:  # in a unit of work only
        _, query, connection, driver = on
        if not query.expanding and all(row.keys() == rows[0].keys() for row in rows):
            args = [query.arguments(row) for row in rows]
            await _run_in_transaction(connection, _executemany_on(driver), query.sql, args)
            return
    await conn.execute(statement, list(rows))


def _fetch_on(driver: Any) -> Callable[[str, list[Any]], Any]:
    return lambda sql, args: driver.fetch(sql, *args)


def _execute_on(driver: Any) -> Callable[[str, list[Any]], Any]:
    return lambda sql, args: driver.execute(sql, *args)


def _executemany_on(driver: Any) -> Callable[[str, list[list[Any]]], Any]:
    return lambda sql, args: driver.executemany(sql, args)


def _status_count(status: str) -> int:
    """The row count of a command tag: ``UPDATE 1``, ``DELETE 0``, ``INSERT 0 1``."""
    last = status.rsplit(" ", 1)[-1] if status else ""
    return int(last) if last.isdigit() else 0


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


class KeptConnections:
    """Connections of SQLAlchemy's pool that the driver path's single statements
    (``Database.read_rows``, ``Database.execute_once``) keep checked out between statements.

    Going through the pool for every statement costs two greenlet hops and the pool's bookkeeping,
    and when the pool is empty each waiting checkout runs ``asyncio.wait_for`` (a task and a timer
    per wait): under load, a third of the list's CPU per request (bench/README.md). A kept
    connection is reused as it is: the same asyncpg connection, its statement cache warm.

    - **Bounded:** at most ``limit`` connections (``Settings.kept_connections``: at most half the
      pool, and half by default), so units of work always have the rest of the pool.
      When all are running a statement, the next one waits for the first given back, first come
      first served, for at most ``timeout`` seconds (then ``sqlalchemy.exc.TimeoutError``, as the
      pool raises).
    - **Given back under pressure:** an idle kept connection goes back to the pool when the pool has
      no idle connection left and may open no more, where a waiting unit of work takes it.
    - **Never out of the pool for longer than ``max_age`` seconds:** it then goes back, and the
      pool's own rules (``pool_recycle``, a pool-wide invalidation after a lost server) apply at its
      next checkout. The same when the engine's pool was replaced (``engine.dispose()``).
    - **A failed statement** sends its connection back (invalidated when its state is unknown);
      ``close`` gives the idle ones back before the engine is disposed.

    Last in, first out, so a quiet worker keeps few connections busy. One event loop (the app's).
    With ``limit`` 0 every statement checks a connection out and back in.
    """

    def __init__(self, engine: Any, limit: int, *, max_age: float = 30.0, timeout: float = 30.0) -> None:
        self._engine = engine  # the sync Engine: ``dispose()`` replaces its ``pool``
        self._limit = limit
        self._max_age = max_age
        self._timeout = timeout
        self._idle: list[_Kept] = []
        self._waiting: collections.deque[asyncio.Future[_Kept | None]] = collections.deque()
        self._kept = 0  # kept connections: idle or running a statement

    @property
    def kept(self) -> int:
        """Connections kept out of the pool now, idle or running a statement."""
        return self._kept

    async def take(self) -> _Kept:
        """A kept connection: an idle one, one checked out now while fewer than ``limit`` are kept,
        or the first one given back."""
        while True:
            pool = self._engine.pool
            while self._idle:
                kept = self._idle.pop()
                if kept.pool is pool and time.monotonic() - kept.since < self._max_age:
                    return kept
                self._kept -= 1
                await greenlet_spawn(kept.connection.close)
            if self._kept < self._limit:
                self._kept += 1
                try:
                    connection = await greenlet_spawn(pool.connect)
                except BaseException:
                    self._kept -= 1
                    self._wake_one()
                    raise
                return _Kept(connection, time.monotonic(), pool, kept=True)
            if self._limit == 0:
                return _Kept(await greenlet_spawn(pool.connect), 0.0, pool, kept=False)
            handed = await self._wait()
            if handed is not None:
                return handed
            # None: a kept connection left; check one out in its place (above).

    async def _wait(self) -> _Kept | None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[_Kept | None] = loop.create_future()
        self._waiting.append(waiter)
        timer = loop.call_later(self._timeout, _expire, waiter)
        try:
            return await waiter
        except BaseException:
            # Cancelled (or timed out) after a connection was handed over: pass it on.
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                handed = waiter.result()
                if handed is not None:
                    await self.give_back(handed)
                else:
                    self._wake_one()
            raise
        finally:
            timer.cancel()
            if waiter in self._waiting:
                self._waiting.remove(waiter)

    def _wake_one(self) -> None:
        """Tell the first waiter a kept connection left (it checks one out in its place)."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def give_back(self, kept: _Kept) -> None:
        """After a statement that succeeded: to the first waiter, kept idle, or back into the pool."""
        if not kept.is_kept:
            await greenlet_spawn(kept.connection.close)
            return
        pool = self._engine.pool
        if kept.pool is pool and time.monotonic() - kept.since < self._max_age:
            while self._waiting:
                waiter = self._waiting.popleft()
                if not waiter.done():
                    waiter.set_result(kept)
                    return
            if pool.checkedin() > 0 or pool.overflow() < pool._max_overflow:
                self._idle.append(kept)
                return
        self._kept -= 1
        await greenlet_spawn(kept.connection.close)
        self._wake_one()

    async def discard(self, kept: _Kept, error: BaseException | None) -> None:
        """After a statement that failed: back into the pool, invalidated first when ``error`` is
        given (the server may be gone, or the connection is in an unknown state)."""
        try:
            if error is not None:
                await greenlet_spawn(kept.connection.invalidate, error)
            await greenlet_spawn(kept.connection.close)
        finally:
            if kept.is_kept:
                self._kept -= 1
                self._wake_one()

    async def close(self) -> None:
        """Give every idle kept connection back to the pool (before the engine is disposed)."""
        while self._idle:
            kept = self._idle.pop()
            self._kept -= 1
            await greenlet_spawn(kept.connection.close)


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(
            SqlAlchemyTimeoutError("no kept database connection was given back in time", code="3o7r")
        )


class _Kept:
    """One checked-out connection of ``KeptConnections``: when and from which pool, and whether it
    counts as kept."""

    __slots__ = ("connection", "is_kept", "pool", "since")

    def __init__(self, connection: Any, since: float, pool: Any, *, kept: bool) -> None:
        self.connection = connection
        self.since = since
        self.pool = pool
        self.is_kept = kept


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
        sync_engine = self.engine.sync_engine
        # Only a QueuePool says when it runs short (SQLite never takes the driver path).
        keep = isinstance(sync_engine.pool, QueuePool) and not settings.is_sqlite
        self.kept = KeptConnections(sync_engine, settings.kept_connections if keep else 0)

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

    async def read_rows(self, statement: Any, params: Mapping[str, Any]) -> Sequence[Any]:
        """The rows of one read-only statement on a pooled connection of its own (autocommit on
        PostgreSQL, where a statement sees what was committed before it began).

        The public hot paths' read (the catalogue list, its version). On PostgreSQL a fixed statement
        runs on the driver of a connection checked out of SQLAlchemy's pool without SQLAlchemy's
        ``Connection`` around it: opening and closing one (execution options, isolation level set
        and reset, events) cost about 70 µs of CPU per request against 28 µs for the checkout alone
        (bench/README.md). The connection is the pool's, set up by the dialect as any other. A
        failure invalidates that connection and the statement runs again through ``read()``, which
        raises (and handles a dead server) as every read does. Elsewhere it is ``read()`` and
        ``fetch_all``."""
        if not self.settings.is_sqlite and not self._cursor_events():
            query = _driver_query(self.engine.dialect, statement, params.keys())
            if query is not None and not statement.is_dml:
                sql, args = query.bind(params)
                kept = await self.kept.take()
                try:
                    driver: Any = kept.connection.driver_connection
                    records = await driver.fetch(sql, *args)
                except BaseException as exc:
                    await self.kept.discard(kept, exc)
                    if not isinstance(exc, Exception):  # cancelled: no second try
                        raise
                    _log.debug("pooled read failed (%s); running it through SQLAlchemy", type(exc).__name__)
                else:
                    await self.kept.give_back(kept)
                    return query.rows(records)
        async with self.read() as conn:
            return await fetch_all(conn, statement, params)

    async def execute_once(self, statement: Any, params: Mapping[str, Any]) -> int:
        """Run one INSERT, UPDATE or DELETE that commits by itself (``write_once()``); the rows it
        touched. On PostgreSQL, in autocommit on the driver of a pooled connection without
        SQLAlchemy's ``Connection`` (as ``read_rows``); an error is raised as SQLAlchemy raises it
        (``sqlalchemy.exc``, parameters hidden), and a connection the server dropped is invalidated
        with every older one, as SQLAlchemy does. Never sent twice."""
        if not self.settings.is_sqlite and not self._cursor_events():
            dialect = self.engine.dialect
            query = _driver_query(dialect, statement, params.keys())
            if query is not None:
                sql, args = query.bind(params)
                kept = await self.kept.take()
                fairy = kept.connection
                try:
                    driver: Any = fairy.driver_connection
                    status = await driver.execute(sql, *args)
                except Exception as exc:
                    error, dropped = _as_sqlalchemy_error(dialect, fairy.dbapi_connection, exc, sql, args)
                    if dropped:
                        await greenlet_spawn(kept.pool._invalidate, fairy, error)
                    await self.kept.discard(kept, None)
                    raise error from exc
                except BaseException as exc:  # cancelled: the connection's state is unknown
                    await self.kept.discard(kept, exc)
                    raise
                await self.kept.give_back(kept)
                return _status_count(status)
        async with self.write_once() as conn:
            return await execute_dml(conn, statement, params)

    def _cursor_events(self) -> bool:
        """Whether anyone listens to the engine's statements (tracing, tests, fault injection):
        then every statement goes through SQLAlchemy, where they see it."""
        dispatch = self.engine.sync_engine.dispatch
        return bool(dispatch.before_cursor_execute or dispatch.after_cursor_execute)

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
        await self.kept.close()
        await self.engine.dispose()
