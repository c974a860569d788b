"""Breaking the database connection at an exact statement, from inside the app under test.

``connection_lost_at(app, "INSERT INTO order_line")`` makes the first statement of the app that
starts with that text lose its connection just before it runs:
- on PostgreSQL the server really ends the session (``pg_terminate_backend`` of its own backend),
  as when the server restarts or a network path drops, and the statement fails with it;
- on SQLite, where a connection cannot be cut from outside, the statement fails with the error a
  failing disk gives (``disk I/O error``).
Either way the app sees the driver's own error at that point of its unit of work.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar
from sqlalchemy import event


@dataclass
class Fault:
    """Where the fault fires and whether it did."""

    statement_prefix: str
    fired: int = 0
    seen: list[str] = field(default_factory=list)


@contextmanager
def connection_lost_at(app: Litestar, statement_prefix: str) -> Iterator[Fault]:
    """Cut the app's connection once, at the first statement starting with ``statement_prefix``."""
    engine = app.state.db.engine.sync_engine
    fault = Fault(statement_prefix)

    def before_cursor_execute(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        fault.seen.append(statement.split("(", 1)[0].strip()[:60])
        if fault.fired or not statement.lstrip().upper().startswith(statement_prefix.upper()):
            return
        fault.fired += 1
        if conn.dialect.name == "postgresql":
            # The server ends this very session; the statement then fails as in a restart.
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        else:
            raise sqlite3.OperationalError("disk I/O error")

    event.listen(engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield fault
    finally:
        event.remove(engine, "before_cursor_execute", before_cursor_execute)


@contextmanager
def driver_connection_lost_at(app: Litestar, statement_prefix: str) -> Iterator[Fault]:
    """As ``connection_lost_at``, for the statements the app sends on the asyncpg connection itself
    (``coopmarket.db.fetch_all``/``execute_dml``/``execute_many``, which SQLAlchemy's cursor events
    do not see): the first of them starting with ``statement_prefix`` loses its connection (the
    server ends the session) just before it runs. PostgreSQL only."""
    import asyncpg

    if app.state.db.dialect != "postgresql":
        raise ValueError("the driver path runs on PostgreSQL only")
    fault = Fault(statement_prefix)
    originals = {name: getattr(asyncpg.Connection, name) for name in ("fetch", "execute", "executemany")}

    def patched(original: Any) -> Any:
        async def run(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            fault.seen.append(query.split("(", 1)[0].strip()[:60])
            if not fault.fired and query.lstrip().upper().startswith(statement_prefix.upper()):
                fault.fired += 1
                try:  # the server ends this very session; the statement then fails as in a restart
                    await originals["fetch"](self, "SELECT pg_terminate_backend(pg_backend_pid())")
                except Exception:  # noqa: S110 - the session ending under its own statement
                    pass
            return await original(self, query, *args, **kwargs)

        return run

    for name, original in originals.items():
        setattr(asyncpg.Connection, name, patched(original))
    try:
        yield fault
    finally:
        for name, original in originals.items():
            setattr(asyncpg.Connection, name, original)
