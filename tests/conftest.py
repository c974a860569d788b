"""Test harness: every database test runs on SQLite and, when COOPMARKET_TEST_DATABASE_URL is set,
on PostgreSQL too. Each test starts from a migrated schema with no rows but the regions."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from coopmarket.accounts.security import configure_password_hashing
from coopmarket.app import Overrides, create_app
from coopmarket.core import clock
from coopmarket.core.models import exists_on
from coopmarket.core.pagination import configure_cursor_key
from coopmarket.db import Database
from coopmarket.migrate import upgrade
from coopmarket.models import metadata
from coopmarket.settings import Settings
from tests.redis_store import REDIS_URL

PG_URL = os.environ.get("COOPMARKET_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
KEEP_TABLES = {"region", "alembic_version"}


# The longest tests (minutes each: schemathesis runs, clusters restarted, servers under load) go
# first, so that with several pytest-xdist workers they run side by side from the start instead of
# leaving one worker busy at the end while the others wait.
LONG_FIRST = ("tests/test_schemathesis.py", "tests/faults/", "tests/e2e/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid
        for index, prefix in enumerate(LONG_FIRST):
            if path.startswith(prefix):
                return index
        return len(LONG_FIRST)

    items.sort(key=rank)  # stable: the order inside each group is unchanged


def run_sync(coro_fn: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine to completion on a private loop (usable from sync fixtures)."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro_fn())
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


def _settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "run_background_jobs": False,
        "jwt_secret": "test-secret-for-the-suite-only-000000",
        "database_pool_size": 5,
        # Tests sign many users in from one address; the rate-limit tests turn it back on.
        "rate_limit_auth_per_minute": 0,
        "rate_limit_per_phone": 0,
        # Cheap Argon2 for speed; production cost is covered by the defaults' own test.
        "password_hash_time_cost": 1,
        "password_hash_memory_kib": 1024,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"

    async def build() -> None:
        db = Database(_settings(f"sqlite+aiosqlite:///{path}"))
        try:
            await upgrade(db.engine)
        finally:
            await db.dispose()

    run_sync(build)
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this session, migrated once."""
    assert PG_URL is not None
    base = make_url(PG_URL)
    name = f"coopmarket_test_{os.getpid()}"
    admin_url = base.set(database="postgres")
    test_url = base.set(database=name).render_as_string(hide_password=False)

    async def create() -> None:
        admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await admin.dispose()
        db = Database(_settings(test_url))
        try:
            await upgrade(db.engine)
        finally:
            await db.dispose()

    async def drop() -> None:
        admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()

    run_sync(create)
    yield test_url
    run_sync(drop)


def _truncate_pg(url: str) -> None:
    tables = [
        t.name for t in metadata.sorted_tables if t.name not in KEEP_TABLES and exists_on(t, "postgresql")
    ]

    async def truncate() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
            await conn.execute(
                text("UPDATE region SET community_code = NULL WHERE community_code IS NOT NULL")
            )
            await conn.execute(text("DELETE FROM region WHERE level = 'community'"))
        await engine.dispose()

    run_sync(truncate)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A clean, migrated database for one test, on each backend in turn."""
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("pg_database")
    _truncate_pg(url)
    return url


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings for its app."""
    return {}


@pytest.fixture
def settings(database_url: str, settings_overrides: dict[str, Any], tmp_path: Path) -> Settings:
    return _settings(database_url, storage_local_dir=str(tmp_path / "uploads"), **settings_overrides)


@pytest.fixture
def overrides() -> Overrides:
    """Stand-ins for external systems; tests replace pieces of it."""
    return Overrides()


# Building the app (Litestar parsing ~230 route handlers) took most of a test's time. Tests whose
# settings differ only in what the lifespan reads (the database, the upload directory) share one
# built app per process: each test still starts and stops it (lifespan) on its own settings and
# stand-ins, which the lifespan reads from the app's state. Apps holding state between requests
# outside the lifespan (rate-limit counters, a Redis client) are built for each test.
PER_TEST_FIELDS = {"database_url", "storage_local_dir"}
_built_apps: dict[str, Litestar] = {}


def _app_key(settings: Settings) -> str | None:
    if settings.redis_url or settings.rate_limit_auth_per_minute > 0 or settings.rate_limit_per_phone > 0:
        return None
    values = {
        name: value.get_secret_value() if isinstance(value, SecretStr) else value
        for name, value in settings
        if name not in PER_TEST_FIELDS
    }
    return json.dumps(values, sort_keys=True, default=repr)


def app_for(settings: Settings, overrides: Overrides) -> Litestar:
    """The app for ``settings`` and ``overrides``: built once per equivalent settings."""
    key = _app_key(settings)
    if key is None:
        return create_app(settings, overrides)
    app = _built_apps.get(key)
    if app is None:
        app = _built_apps[key] = create_app(settings, overrides)
    else:
        configure_password_hashing(
            time_cost=settings.password_hash_time_cost, memory_kib=settings.password_hash_memory_kib
        )
        configure_cursor_key(settings.jwt_secret.get_secret_value().encode())
    app.state.settings = settings
    app.state.overrides = overrides
    return app


@pytest.fixture
async def client(settings: Settings, overrides: Overrides) -> AsyncIterator[AsyncTestClient[Any]]:
    """An HTTP client on the real app (lifespan included) over a clean database."""
    app = app_for(settings, overrides)
    async with AsyncTestClient(app=app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    """A handle on the test's database, for setting up rows and checking what changed.

    Not the app's own engine: the test client runs the app on another event loop, and asyncpg
    connections belong to the loop that opened them.
    """
    database = Database(settings)
    yield database
    await database.dispose()


@pytest.fixture(autouse=True)
def _reset_clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


@pytest.fixture
async def redis_namespace() -> AsyncIterator[str]:
    """A key namespace of this test's own on the real Redis, emptied afterwards."""
    connection = redis.Redis.from_url(REDIS_URL)
    try:
        await connection.ping()
    except (redis.ConnectionError, OSError):
        await connection.aclose()
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no Redis at {REDIS_URL}")
    namespace = f"coopmarket_test_{uuid.uuid4().hex}"
    try:
        yield namespace
    finally:
        keys = [key async for key in connection.scan_iter(match=f"{namespace}:*")]
        if keys:
            await connection.delete(*keys)
        await connection.aclose()
