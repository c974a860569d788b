"""PostgreSQL restarted while buyers browse and order: requests in flight fail fast with 503 (never
hang, never 500), the pool recovers by itself, and retries with the same keys leave every order
written exactly once and the stock conserved."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from coopmarket.db import Database
from coopmarket.migrate import upgrade
from tests.conftest import _settings
from tests.faults import private_postgres
from tests.live import serve, settings_env
from tests.orders.builders import build_market, order_body

LOAD_SECONDS = 14.0
RESTART_AT = 4.0
BUYERS = 8
REQUEST_TIMEOUT = 20.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[private_postgres.PrivatePostgres]:
    reason = private_postgres.unavailable_reason()
    if reason:
        pytest.skip(reason)
    made = private_postgres.create()
    try:
        yield made
    finally:
        private_postgres.destroy(made)


@dataclass
class Attempt:
    started: float
    seconds: float
    status: int | str  # a status code, or the name of a transport error


async def test_postgresql_restarted_under_load(
    cluster: private_postgres.PrivatePostgres, tmp_path: Path
) -> None:
    # Given a server on its own PostgreSQL, with a catalogue and a buyer
    settings = _settings(
        cluster.url,
        storage_local_dir=str(tmp_path / "uploads"),
        database_pool_size=6,
        database_max_overflow=4,
        database_connect_timeout_seconds=2.0,
    )
    db = Database(settings)
    await upgrade(db.engine)
    attempts: list[Attempt] = []
    keys = itertools.count(1)
    placed: dict[str, int] = {}  # idempotency key -> units ordered, once the order is confirmed
    try:
        with serve(settings_env(settings), tmp_path / "server.log") as server:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as http:
                market = await build_market(http, db, stock_a=100_000, stock_b=100_000)  # type: ignore[arg-type]
                async with db.read() as conn:
                    stock_before = int(await conn.scalar(text("SELECT sum(stock) FROM sku")) or 0)
                start = time.monotonic()

                async def attempt(method: str, url: str, **kwargs: object) -> int | str:
                    began = time.monotonic()
                    try:
                        response = await http.request(method, url, **kwargs)  # type: ignore[arg-type]
                        outcome: int | str = response.status_code
                    except httpx.HTTPError as exc:
                        outcome = type(exc).__name__
                    attempts.append(Attempt(began - start, time.monotonic() - began, outcome))
                    return outcome

                async def buyer(n: int) -> None:
                    while time.monotonic() - start < LOAD_SECONDS:
                        await attempt("GET", "/api/v1/products?limit=20")
                        key = f"restart-{n}-{next(keys)}"
                        units = 1 + n % 2
                        body = order_body([(market.sku_a["id"], units)])
                        headers = {**market.buyer.headers, "Idempotency-Key": key}
                        # A client that follows the contract: on 503 (retry) or 409 (the first try
                        # still holds the key), the same request with the same key, a moment later.
                        while True:
                            outcome = await attempt("POST", "/api/v1/orders", json=body, headers=headers)
                            if outcome == 201:
                                placed[key] = units
                                break
                            if time.monotonic() - start > LOAD_SECONDS + 30:
                                raise AssertionError(f"order {key} never went through: {outcome}")
                            await asyncio.sleep(0.2)

                async def restart() -> float:
                    await asyncio.sleep(RESTART_AT)
                    await asyncio.to_thread(cluster.restart)
                    return time.monotonic() - start

                *_, back_at = await asyncio.gather(*(buyer(n) for n in range(BUYERS)), restart())
            server_log = server.log()
            (tmp_path / "kept-server.log").write_text(server_log)
        await db.engine.dispose()  # this test's own pooled connections died with the restart too
        async with db.read() as conn:
            orders = int(await conn.scalar(text("SELECT count(*) FROM orders")) or 0)
            stock_after = int(await conn.scalar(text("SELECT sum(stock) FROM sku")) or 0)
            taken = int(await conn.scalar(text("SELECT coalesce(sum(quantity), 0) FROM order_line")) or 0)
    finally:
        await db.dispose()

    # Then no request hung or broke: each answered well within its timeout, with 2xx or 503
    assert attempts
    assert max(a.seconds for a in attempts) < 10, sorted(a.seconds for a in attempts)[-5:]
    outcomes = {a.status for a in attempts}
    assert outcomes <= {200, 201, 409, 503}, [a for a in attempts if a.status not in (200, 201, 409, 503)]
    assert "Traceback" not in server_log, server_log[-3000:]
    # And the restart was felt (some answers said "retry") and got over: everything sent a second
    # after the server was back succeeded
    assert any(a.status == 503 for a in attempts), "the restart was not noticed"
    late = [a for a in attempts if a.started > back_at + 1.0]
    assert late and all(a.status in (200, 201) for a in late), late[:10]
    # And every order went through exactly once, with its stock taken exactly once
    assert orders == len(placed)
    assert taken == sum(placed.values())
    assert stock_before - stock_after == taken
