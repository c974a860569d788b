"""The migrations and the models agree, the region data is loaded, and the chain runs both ways."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from coopmarket.core.models import exists_on
from coopmarket.migrate import alembic_config, include_object_for, upgrade
from coopmarket.models import metadata
from coopmarket.regions.models import Region


def _differences(connection: Connection) -> list[Any]:
    # The same comparison options as migrations/env.py uses for autogenerate.
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": False,
            "include_object": include_object_for(connection.dialect.name),
        },
    )
    return compare_metadata(context, metadata)


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _downgrade_to_base(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, "base")


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def _region_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(Region.level, func.count()).group_by(Region.level))).all()
    return {level: count for level, count in rows}


async def _table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda sync_conn: inspect(sync_conn).get_table_names()))


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    # Given a database brought to head by the migrations
    engine = create_async_engine(database_url)
    try:
        # When autogenerate compares it with the models' metadata
        async with engine.connect() as conn:
            differences = await conn.run_sync(_differences)
    finally:
        await engine.dispose()
    # Then it finds nothing to change
    assert differences == []


async def test_migrations_stop_at_the_single_head(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            revision = await conn.run_sync(_current_revision)
    finally:
        await engine.dispose()
    assert revision == _head()


async def test_region_migration_loads_fangzi(database_url: str) -> None:
    # Given a migrated database, when counting regions by level
    engine = create_async_engine(database_url)
    try:
        counts = await _region_counts(engine)
        async with engine.connect() as conn:
            district = (
                await conn.execute(select(Region.name, Region.parent_code).where(Region.level == "district"))
            ).one()
    finally:
        await engine.dispose()
    # Then Fangzi District, its 7 streets and 571 village-level units are there
    assert counts == {"district": 1, "street": 7, "village": 571}
    assert district.parent_code is None
    assert district.name == "坊子区"


async def test_downgrade_to_base_then_upgrade_again(tmp_path: Path) -> None:
    # Given a fresh SQLite file migrated to head
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'roundtrip.sqlite3'}")
    try:
        await upgrade(engine)
        # When it is downgraded to base
        async with engine.connect() as conn:
            await conn.run_sync(_downgrade_to_base)
            await conn.commit()
        # Then no table of the models is left and no revision is recorded
        assert await _table_names(engine) <= {"alembic_version"}
        async with engine.connect() as conn:
            assert await conn.run_sync(_current_revision) is None
        # And upgrading again gives the full schema with the region data, matching the models
        await upgrade(engine)
        sqlite_tables = {name for name, table in metadata.tables.items() if exists_on(table, "sqlite")}
        assert await _table_names(engine) == sqlite_tables | {"alembic_version"}
        assert await _region_counts(engine) == {"district": 1, "street": 7, "village": 571}
        async with engine.connect() as conn:
            assert await conn.run_sync(_differences) == []
            assert await conn.run_sync(_current_revision) == _head()
    finally:
        await engine.dispose()
