"""``db.KeptConnections``: the connections the driver path's single statements keep checked out of
SQLAlchemy's pool between statements (PostgreSQL). Bounded, first come first served beyond the
bound, given back under pressure, after ``max_age`` and when the pool was replaced; a waiter that
times out or is cancelled leaves nothing behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import Float, String, bindparam, cast, event, func, select, text
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from coopmarket.db import Database, KeptConnections
from coopmarket.settings import Settings

PID = select(func.pg_backend_pid())
# The pid, after sleeping ``:s`` seconds on the server (pg_sleep returns void: cast to text).
SLOW_PID = select(func.pg_backend_pid(), cast(func.pg_sleep(bindparam("s", type_=Float)), String))

MakeDb = Callable[..., Database]


@pytest.fixture
async def make_db(settings: Settings) -> AsyncIterator[MakeDb]:
    if settings.is_sqlite:
        pytest.skip("the driver path (and its kept connections) runs on PostgreSQL only")
    made: list[Database] = []

    def make(**update: Any) -> Database:
        made.append(Database(settings.model_copy(update=update)))
        return made[-1]

    yield make
    for db in made:
        await db.dispose()


async def _pid(db: Database) -> int:
    return int((await db.read_rows(PID, {}))[0][0])


async def _slow_pid(db: Database, seconds: float) -> int:
    return int((await db.read_rows(SLOW_PID, {"s": seconds}))[0][0])


def _pool(db: Database) -> Any:
    return db.engine.sync_engine.pool


def test_the_default_is_half_the_pool_and_more_is_refused() -> None:
    assert Settings(database_pool_size=20).kept_connections == 10
    assert Settings(database_pool_size=7, database_kept_connections=0).kept_connections == 0
    with pytest.raises(ValidationError, match="at most half"):
        Settings(database_pool_size=6, database_kept_connections=4)


async def test_statements_one_after_another_reuse_one_kept_connection(make_db: MakeDb) -> None:
    db = make_db(database_pool_size=4, database_max_overflow=0, database_kept_connections=2)
    pids = {await _pid(db) for _ in range(5)}
    assert len(pids) == 1
    assert db.kept.kept == 1
    assert _pool(db).checkedout() == 1  # the kept one counts as checked out of the pool
    # Given back when the database is disposed
    await db.kept.close()
    assert db.kept.kept == 0
    assert _pool(db).checkedout() == 0


async def test_none_kept_when_the_setting_says_zero(make_db: MakeDb) -> None:
    db = make_db(database_pool_size=4, database_max_overflow=0, database_kept_connections=0)
    await _pid(db)
    await _pid(db)
    assert db.kept.kept == 0
    assert _pool(db).checkedout() == 0


async def test_at_most_the_limit_run_at_once_and_the_others_wait_their_turn(make_db: MakeDb) -> None:
    db = make_db(database_pool_size=6, database_max_overflow=0, database_kept_connections=2)
    pids = await asyncio.gather(*(_slow_pid(db, 0.05) for _ in range(6)))
    # Six statements answered on two connections; the pool's four others were never taken
    assert len(set(pids)) == 2
    assert db.kept.kept == 2
    assert _pool(db).checkedout() == 2
    assert not db.kept._waiting


async def test_an_idle_kept_connection_goes_back_when_the_pool_runs_short(make_db: MakeDb) -> None:
    db = make_db(database_pool_size=2, database_max_overflow=0, database_kept_connections=1)
    async with db.unit_of_work() as session:
        # Given a unit of work holding one of the pool's two connections
        await session.execute(text("SELECT 1"))
        # When a statement takes the other and the pool has none left
        await _pid(db)
        # Then it is not kept: it went back, where a waiting unit of work would take it
        assert db.kept.kept == 0
        assert _pool(db).checkedin() == 1
    # Once the pool has an idle connection again, the next statement's is kept
    await _pid(db)
    assert db.kept.kept == 1


async def test_a_kept_connection_goes_back_to_the_pool_after_its_max_age(make_db: MakeDb) -> None:
    db = make_db(database_pool_size=4, database_max_overflow=0, database_kept_connections=2)
    db.kept = KeptConnections(db.engine.sync_engine, 2, max_age=0.2)
    checkins: list[object] = []
    event.listen(_pool(db), "checkin", lambda *_: checkins.append(1))
    await _pid(db)
    await _pid(db)
    assert checkins == [] and db.kept.kept == 1
    # When it has been out of the pool longer than max_age
    await asyncio.sleep(0.25)
    await _pid(db)
    # Then it went back through the pool (its recycle and invalidation rules apply) before reuse
    assert checkins == [1]
    assert db.kept.kept == 1


async def test_a_replaced_pool_is_not_used_through_a_kept_connection(make_db: MakeDb) -> None:
    db = make_db(database_pool_size=4, database_max_overflow=0, database_kept_connections=2)
    before = await _pid(db)
    old_pool = _pool(db)
    # When the engine disposes of its pool (a new one takes its place)
    await db.engine.dispose()
    assert _pool(db) is not old_pool
    # Then the next statement runs on a connection of the new pool
    assert await _pid(db) != before
    assert _pool(db).checkedout() == 1
    assert db.kept.kept == 1


async def test_a_waiting_statement_gives_up_after_the_timeout_and_leaves_no_waiter(make_db: MakeDb) -> None:
    db = make_db(database_pool_size=4, database_max_overflow=0, database_kept_connections=1)
    db.kept = KeptConnections(db.engine.sync_engine, 1, timeout=0.1)
    slow = asyncio.create_task(_slow_pid(db, 0.5))
    await asyncio.sleep(0.05)  # the one kept connection is running the slow statement
    with pytest.raises(PoolTimeoutError):
        await _pid(db)
    assert not db.kept._waiting
    # The slow statement still answers, and the connection serves the next one
    pid = await slow
    assert await _pid(db) == pid
    assert db.kept.kept == 1


async def test_a_cancelled_waiter_leaves_no_waiter_and_loses_no_connection(make_db: MakeDb) -> None:
    db = make_db(database_pool_size=4, database_max_overflow=0, database_kept_connections=1)
    slow = asyncio.create_task(_slow_pid(db, 0.3))
    await asyncio.sleep(0.05)
    waiting = asyncio.create_task(_pid(db))
    await asyncio.sleep(0.05)
    assert len(db.kept._waiting) == 1
    # When the waiting request is cancelled (its client went away)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not db.kept._waiting
    # Then the kept connection is still there for the next statement
    pid = await slow
    assert await _pid(db) == pid
    assert db.kept.kept == 1
    assert _pool(db).checkedout() == 1


async def test_a_waiter_cancelled_after_being_handed_a_connection_passes_it_on(make_db: MakeDb) -> None:
    db = make_db(database_pool_size=4, database_max_overflow=0, database_kept_connections=1)
    held = await db.kept.take()
    first = asyncio.create_task(db.kept.take())
    second = asyncio.create_task(db.kept.take())
    await asyncio.sleep(0.01)
    assert len(db.kept._waiting) == 2
    # When the connection is handed to the first waiter and that request is cancelled before it
    # could resume
    await db.kept.give_back(held)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    # Then the second waiter gets it, and nothing is lost
    handed = await second
    assert handed.connection is held.connection
    await db.kept.give_back(handed)
    assert db.kept.kept == 1
    assert not db.kept._waiting
    assert _pool(db).checkedout() == 1
