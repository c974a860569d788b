"""Apply the Alembic migrations shipped inside the package."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from coopmarket.core.models import exists_on

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


FOREIGN_PREFIXES = ("procrastinate_",)
"""Tables in our database that belong to a library, not to the models (``worker.ensure_schema``)."""


def include_object_for(dialect: str) -> Callable[..., bool]:
    """Alembic's ``include_object`` for comparing the models with a database of ``dialect``: objects
    that exist only on other databases (``core.models.only_on``), and what the database builds
    from them, are left out of the comparison, and so are the job queue's tables."""

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if reflected and compare_to is None and type_ == "table" and (name or "").startswith(FOREIGN_PREFIXES):
            return False  # the job queue's own tables: procrastinate creates and migrates them
        if not exists_on(obj, dialect):
            return False
        return not (reflected and compare_to is not None and not exists_on(compare_to, dialect))

    return include_object


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database behind ``engine`` to ``revision`` (default: the newest)."""
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # Building an index on a large table may take longer than a request may.
            await conn.exec_driver_sql("SET statement_timeout = 0")
        await conn.run_sync(_upgrade, revision)
        await conn.commit()
