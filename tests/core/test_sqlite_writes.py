"""Writes on SQLite queue instead of failing (issue 10).

With SQLite's busy handler alone, concurrent writers poll for the file lock in no order and some
give up with ``database is locked`` (a 500), at the idempotency claim or in the order itself. Here
a real server (the in-process test client serves one request at a time) takes 32 buyers at once,
with SQLite's own wait cut to 20 ms so that the old behaviour fails at once: within the process,
writers must wait their turn in the write queue instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import post
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from coopmarket.app import create_app
from coopmarket.db import Database, DatabaseBusy
from coopmarket.settings import Settings
from tests.factories import register_buyer
from tests.live import serve, settings_env
from tests.orders.builders import build_market, place, sku_stock

pytestmark = pytest.mark.slow

BUYERS = 32


@pytest.fixture
def settings_overrides(database_url: str) -> dict[str, Any]:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's single writer")
    # SQLite's own wait for the lock is cut to 20 ms: only the in-process queue can keep order.
    return {"sqlite_busy_timeout_ms": 20, "database_pool_size": 40}


@pytest.fixture
async def http(settings: Settings, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a real server (one uvicorn worker) on the test's database."""
    with serve(settings_env(settings), tmp_path / "server.log") as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
            yield client
        assert "Traceback" not in server.log(), server.log()


async def test_thirty_two_buyers_placing_orders_at_once_all_succeed(
    http: httpx.AsyncClient, db: Database
) -> None:
    # Given 32 buyers and enough stock for all of them
    client: Any = http
    market = await build_market(client, db, stock_a=BUYERS * 2)
    buyers = await asyncio.gather(*(register_buyer(client) for _ in range(BUYERS)))

    # When they all place an order at the same moment
    responses = await asyncio.gather(*(place(client, buyer, [(market.sku_a["id"], 2)]) for buyer in buyers))

    # Then every order is placed (no 5xx, no "database is locked") and the stock is exact
    statuses = [r.status_code for r in responses]
    assert statuses == [201] * BUYERS, [r.text for r in responses if r.status_code != 201][:3]
    products = (await client.get("/api/v1/products", params={"cooperative_id": market.coop_a["id"]})).json()
    assert await sku_stock(client, products["items"][0]["id"], market.sku_a["id"]) == 0


async def test_concurrent_writes_of_every_kind_queue(http: httpx.AsyncClient, db: Database) -> None:
    # Given a market and buyers
    client: Any = http
    market = await build_market(client, db, stock_a=100)
    buyers = await asyncio.gather(*(register_buyer(client) for _ in range(10)))

    # When registrations, orders (key claim + order) and stock adjustments all run at once
    adjustments = [
        client.post(
            f"/api/v1/skus/{market.sku_b['id']}/stock-adjustments",
            json={"delta": 1, "reason": "入库"},
            headers=market.manager_b.headers,
        )
        for _ in range(10)
    ]
    orders = [place(client, buyer, [(market.sku_a["id"], 1)]) for buyer in buyers]
    registered, *responses = await asyncio.gather(
        asyncio.gather(*(register_buyer(client) for _ in range(10))), *orders, *adjustments
    )

    # Then none failed
    assert len(registered) == 10
    assert [r.status_code for r in responses] == [201] * 10 + [200] * 10, [r.text for r in responses][:3]


async def test_reads_do_not_wait_for_the_queue(client: AsyncTestClient[Any], db: Database) -> None:
    # Given the app's own write queue held by a writer that has not finished
    app_db: Database = client.app.state.db
    async with app_db.session() as session:
        await session.execute(text("SELECT 1"))  # begins: BEGIN IMMEDIATE, the turn is taken
        assert app_db.write_queue.busy

        # When someone reads the catalogue meanwhile; Then it answers at once
        response = await asyncio.wait_for(client.get("/api/v1/products"), timeout=5)
        assert response.status_code == 200
    # And the turn is given back when the writer ends
    assert not app_db.write_queue.busy


async def test_a_writer_waits_for_its_turn_and_then_writes(db: Database) -> None:
    # Given a writer holding the turn
    order: list[str] = []
    first = db.session()
    await first.execute(text("SELECT 1"))
    assert db.write_queue.busy

    async def second_writer() -> None:
        async with db.write_once() as conn:
            order.append("second began")
            await conn.execute(text("SELECT 1"))

    # When a second writer starts, it waits
    task = asyncio.create_task(second_writer())
    await asyncio.sleep(0.2)
    assert order == []

    # Then it runs once the first commits
    order.append("first commits")
    await first.commit()
    await first.close()
    await asyncio.wait_for(task, timeout=5)
    assert order == ["first commits", "second began"]
    assert not db.write_queue.busy


async def test_a_writer_that_waits_past_the_queue_timeout_is_told_to_retry(settings: Settings) -> None:
    # Given a database whose writers wait at most 0.2 s for their turn, and a writer holding it
    db = Database(settings.model_copy(update={"sqlite_write_queue_timeout_seconds": 0.2}))
    try:
        async with db.session() as first:
            await first.execute(text("SELECT 1"))

            # When another writer comes; Then it is refused (the app answers 503 database_busy,
            # tests/core/test_sqlite_writes.py's HTTP test), not left hanging
            with pytest.raises(DatabaseBusy) as refused:
                async with db.write_once() as conn:
                    await conn.execute(text("SELECT 1"))
            assert refused.value.waited_seconds == 0.2

        # And once the first is done, writing works again
        async with db.write_once() as conn:
            await conn.execute(text("SELECT 1"))
        assert not db.write_queue.busy
    finally:
        await db.dispose()


async def test_a_writer_refused_its_turn_answers_503_database_busy(settings: Settings) -> None:
    # Given a route whose write finds no turn in time
    @post("/busy", sync_to_thread=False)
    def busy() -> None:
        raise DatabaseBusy(30)

    app = create_app(settings)
    app.register(busy)
    # When it is called; Then the client is told to retry, with the stable code and Retry-After
    async with AsyncTestClient(app=app, raise_server_exceptions=False) as client:
        response = await client.post("/busy")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["code"] == "database_busy"
