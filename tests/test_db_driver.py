"""The driver path of ``coopmarket.db`` (``fetch_all``, ``execute_dml``, ``execute_many``): on
PostgreSQL, fixed statements run on the asyncpg connection itself, inside the unit of work's
transaction, with SQLAlchemy's errors; a statement SQLAlchemy would complete runs through it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    func,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from coopmarket import db as db_module
from coopmarket.core.types import UTCDateTime
from coopmarket.db import Database, execute_dml, execute_many, fetch_all

_meta = MetaData()
PROBE = Table(
    "driver_probe",
    _meta,
    Column("id", String(20), primary_key=True),
    Column("n", Integer, nullable=False),
    Column("label", String(20), nullable=False, default="filled by SQLAlchemy"),
    Column("at", UTCDateTime),
)
INSERT = insert(PROBE)
BUMP = update(PROBE).where(PROBE.c.id == bindparam("probe_id")).values(n=PROBE.c.n + bindparam("by"))
BUMP_RETURNING = (
    update(PROBE).where(PROBE.c.id == bindparam("probe_id")).values(n=PROBE.c.n + 1).returning(PROBE.c.n)
)
BY_ID = select(PROBE.c.n, PROBE.c.label).where(PROBE.c.id == bindparam("probe_id"))


@pytest.fixture
async def pg(db: Database) -> AsyncIterator[Database]:
    if db.dialect != "postgresql":
        pytest.skip("the driver path runs on PostgreSQL only")
    async with db.engine.begin() as conn:
        await conn.run_sync(_meta.drop_all)
        await conn.run_sync(_meta.create_all)
    yield db
    async with db.engine.begin() as conn:
        await conn.run_sync(_meta.drop_all)


def _compiled(statement: Any) -> list[bool]:
    return [q is not None for (key, _), q in db_module._DRIVER_QUERIES.items() if key == id(statement)]


async def _rows(db: Database) -> dict[str, tuple[int, str]]:
    async with db.read() as conn:
        return {r[0]: (r[1], r[2]) for r in (await conn.execute(select(PROBE.c.id, PROBE.c.n, PROBE.c.label)))}


async def test_writes_join_the_unit_of_work_and_its_rollback_undoes_them(pg: Database) -> None:
    # When the first statement of a unit of work runs on the driver (SQLAlchemy begins lazily) and
    # the unit of work then fails
    with pytest.raises(RuntimeError):
        async with pg.unit_of_work() as session:
            conn = await session.connection()
            await execute_dml(conn, INSERT, {"id": "a", "n": 1, "label": "x", "at": None})
            await execute_many(conn, INSERT, [{"id": "b", "n": 2, "label": "y", "at": None}])
            raise RuntimeError("undo")
    # Then nothing of it is left: the driver's statements were inside the transaction
    assert await _rows(pg) == {}
    assert _compiled(INSERT) and all(_compiled(INSERT))

    # And committed, they are all there, with counts and RETURNING rows as SQLAlchemy gives them
    async with pg.unit_of_work() as session:
        conn = await session.connection()
        await execute_many(
            conn, INSERT, [{"id": i, "n": n, "label": "z", "at": None} for i, n in (("a", 1), ("b", 2))]
        )
        assert await execute_dml(conn, BUMP, {"probe_id": "a", "by": 10}) == 1
        assert await execute_dml(conn, BUMP, {"probe_id": "nobody", "by": 10}) == 0
        assert [tuple(r) for r in await fetch_all(conn, BUMP_RETURNING, {"probe_id": "b"})] == [(3,)]
        assert [tuple(r) for r in await fetch_all(conn, BY_ID, {"probe_id": "a"})] == [(11, "z")]
    assert await _rows(pg) == {"a": (11, "z"), "b": (3, "z")}
    assert all(_compiled(BUMP)) and all(_compiled(BUMP_RETURNING))


async def test_a_unique_violation_is_sqlalchemys_integrity_error_in_a_unit_of_work_and_in_autocommit(
    pg: Database,
) -> None:
    row = {"id": "a", "n": 1, "label": "x", "at": None}
    async with pg.write_once() as conn:
        await execute_dml(conn, INSERT, row)
    # In autocommit (write_once), and inside a unit of work
    with pytest.raises(IntegrityError):
        async with pg.write_once() as conn:
            await execute_dml(conn, INSERT, row)
    with pytest.raises(IntegrityError):
        async with pg.unit_of_work() as session:
            conn = await session.connection()
            await execute_dml(conn, INSERT, {**row, "id": "b"})
            await execute_many(conn, INSERT, [row])
    # The failed unit of work left nothing, and the pool's connections still work
    assert await _rows(pg) == {"a": (1, "x")}
    async with pg.unit_of_work() as session:
        await execute_dml(await session.connection(), INSERT, {**row, "id": "c"})
    assert set(await _rows(pg)) == {"a", "c"}


async def test_a_statement_sqlalchemy_must_complete_runs_through_sqlalchemy(pg: Database) -> None:
    # An INSERT without a column that has a Python-side default: SQLAlchemy fills it in
    async with pg.unit_of_work() as session:
        conn = await session.connection()
        await execute_dml(conn, INSERT, {"id": "a", "n": 1})
        await execute_many(conn, INSERT, [{"id": "b", "n": 2}, {"id": "c", "n": 3}])
    assert await _rows(pg) == {
        "a": (1, "filled by SQLAlchemy"),
        "b": (2, "filled by SQLAlchemy"),
        "c": (3, "filled by SQLAlchemy"),
    }
    keys = [keys for (key, keys), q in db_module._DRIVER_QUERIES.items() if key == id(INSERT) and q is None]
    assert ("id", "n") in keys


async def test_an_expanding_in_is_rendered_per_call_as_sqlalchemy_renders_it(pg: Database) -> None:
    async with pg.write_once() as conn:
        for i in "abc":
            await execute_dml(conn, INSERT, {"id": i, "n": ord(i), "label": i, "at": None})
    expanding = select(PROBE.c.id, PROBE.c.n).where(PROBE.c.id.in_(bindparam("ids", expanding=True)))
    async with pg.unit_of_work() as session:
        conn = await session.connection()
        # The text for each count of values is kept: the second call of a count uses its own values
        for ids in (["a"], ["b"], ["a", "c"], ["c", "b"], ["c", "b", "a", "zz"], ["zz", "a", "b", "c"], [], []):
            rows = await fetch_all(conn, expanding, {"ids": ids})
            assert sorted(tuple(r) for r in rows) == sorted((i, ord(i)) for i in ids if i != "zz")
    assert _compiled(expanding) == [True]
    # A tuple IN expands to several arguments per item: rendered by SQLAlchemy on every call
    pairs = select(PROBE.c.id).where(tuple_(PROBE.c.id, PROBE.c.n).in_(bindparam("pairs", expanding=True)))
    async with pg.read() as conn:
        for wanted in ([("a", 97), ("c", 99)], [("b", 98), ("c", 1)]):
            rows = await fetch_all(conn, pairs, {"pairs": wanted})
            assert sorted(r[0] for r in rows) == sorted(i for i, n in wanted if ord(i) == n)
    assert _compiled(pairs) == [True]
    kept = next(q for (key, _), q in db_module._DRIVER_QUERIES.items() if key == id(pairs))
    assert kept is not None and kept.expanded == {(2,): None}  # no plan kept: rendered each call


async def test_statements_go_through_sqlalchemy_while_someone_listens_to_its_cursor_events(
    pg: Database,
) -> None:
    from sqlalchemy import event

    seen: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(pg.engine.sync_engine, "before_cursor_execute", listen)
    try:
        async with pg.unit_of_work() as session:
            conn = await session.connection()
            await execute_dml(conn, INSERT, {"id": "a", "n": 1, "label": "x", "at": None})
            await fetch_all(conn, BY_ID, {"probe_id": "a"})
            await conn.execute(text("SELECT 1"))
    finally:
        event.remove(pg.engine.sync_engine, "before_cursor_execute", listen)
    assert seen[0].startswith("INSERT INTO driver_probe"), seen
    assert "FROM driver_probe" in seen[1], seen


async def test_a_pooled_read_answers_and_survives_a_connection_the_server_dropped(
    pg: Database, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a row, and the pid behind the pool's connection
    async with pg.write_once() as conn:
        await execute_dml(conn, INSERT, {"id": "a", "n": 5, "label": "x", "at": None})
    assert [tuple(r) for r in await pg.read_rows(BY_ID, {"probe_id": "a"})] == [(5, "x")]
    assert _compiled(BY_ID) and all(_compiled(BY_ID))
    pid_of = select(func.pg_backend_pid())
    pid = (await pg.read_rows(pid_of, {}))[0][0]
    # When the server ends that session (a restart, a proxy timing out)
    other = await asyncpg.connect(pg.settings.database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        assert await other.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await other.close()
    # Then the next read still answers: the dead connection is dropped and the read runs again
    with caplog.at_level(logging.DEBUG, logger="coopmarket.db"):
        assert [tuple(r) for r in await pg.read_rows(BY_ID, {"probe_id": "a"})] == [(5, "x")]
    assert "pooled read failed" in caplog.text
    assert (await pg.read_rows(pid_of, {}))[0][0] != pid


async def test_a_self_committing_write_raises_as_sqlalchemy_and_survives_a_dropped_connection(
    pg: Database,
) -> None:
    row = {"id": "a", "n": 1, "label": "x", "at": None}
    assert await pg.execute_once(INSERT, row) == 1
    assert await pg.execute_once(BUMP, {"probe_id": "a", "by": 2}) == 1
    assert await pg.execute_once(BUMP, {"probe_id": "nobody", "by": 2}) == 0
    with pytest.raises(IntegrityError) as refused:
        await pg.execute_once(INSERT, row)
    assert refused.value.hide_parameters  # as the engine's own errors: no personal data in logs
    assert await _rows(pg) == {"a": (3, "x")}
    # When the server ends the pool's session, the write fails as a dropped connection (503 in the
    # app) and is not sent again; the next one gets a new connection
    pid = (await pg.read_rows(select(func.pg_backend_pid()), {}))[0][0]
    other = await asyncpg.connect(pg.settings.database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        assert await other.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await other.close()
    with pytest.raises(DBAPIError) as dropped:
        await pg.execute_once(BUMP, {"probe_id": "a", "by": 10})
    assert dropped.value.connection_invalidated
    assert await _rows(pg) == {"a": (3, "x")}
    assert await pg.execute_once(BUMP, {"probe_id": "a", "by": 10}) == 1
    assert await _rows(pg) == {"a": (13, "x")}


async def test_times_come_back_aware_in_utc_whatever_the_sessions_time_zone(pg: Database) -> None:
    # UTCDateTime leaves asyncpg's datetimes as they are (no processor per row): they must be UTC
    at = datetime(2026, 12, 3, 23, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    async with pg.write_once() as conn:
        await execute_dml(conn, INSERT, {"id": "a", "n": 1, "label": "x", "at": at})
    query = select(PROBE.c.at).where(PROBE.c.id == bindparam("probe_id"))
    async with pg.unit_of_work() as session:
        conn = await session.connection()
        await conn.execute(text("SET LOCAL TIME ZONE 'Asia/Shanghai'"))
        through_sqlalchemy = (await conn.execute(query, {"probe_id": "a"})).scalar_one()
        on_the_driver = (await fetch_all(conn, query, {"probe_id": "a"}))[0][0]
    for value in (through_sqlalchemy, on_the_driver, (await pg.read_rows(query, {"probe_id": "a"}))[0][0]):
        assert value == at
        assert value.tzinfo is UTC
        assert value.hour == 15
