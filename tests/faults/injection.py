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
