"""Idempotency keys survive a crash (issue 10).

Before leases, a key claimed by a process that died stayed ``in_progress`` for the key's whole
lifetime (48 h), so a client retrying as the contract tells it to got 409 for two days. Now a
claim carries a lease; once it has run out, the same request takes the claim over and runs, and
exactly one effect happens, also when several retries race and when the first owner was only slow.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select, text
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core import clock
from coopmarket.core.errors import Conflict, RuleViolated
from coopmarket.core.ids import new_id
from coopmarket.db import Database
from coopmarket.idempotency import service
from coopmarket.settings import Settings
from tests.factories import register_buyer
from tests.live import serve, settings_env
from tests.orders.builders import build_market, order_body, sku_stock

pytestmark = pytest.mark.slow

# Long enough for the early retry below to land inside it even on a busy machine.
CHILD_LEASE_SECONDS = 10
KEY = "crash-then-retry"


@pytest.fixture
async def http(settings: Settings, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a real server on the test's database (requests really run concurrently)."""
    with serve(settings_env(settings), tmp_path / "server.log") as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
            yield client
        assert "Traceback" not in server.log(), server.log()


def _start_crashing_worker(
    settings: Settings, tmp_path: Path, token: str, body: dict[str, Any]
) -> subprocess.Popen[bytes]:
    ready = tmp_path / "worker-ready"
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOPMARKET_")}
    env.update(settings_env(settings, idempotency_lease_seconds=CHILD_LEASE_SECONDS))
    worker = subprocess.Popen(  # noqa: S603 - our own interpreter and test module
        [sys.executable, "-m", "tests.idempotency.crash_worker", str(ready), token, KEY, json.dumps(body)],
        env=env,
        stdout=(tmp_path / "worker.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()
        assert time.monotonic() < deadline, "the worker never reached its commit"
        time.sleep(0.05)
    return worker


async def _key_row(db: Database, user_id: str) -> dict[str, Any]:
    keys = service.K
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(keys.status, keys.claim_token, keys.lease_expires_at).where(keys.user_id == user_id)
            )
        ).one()
    return dict(row._mapping)


async def _orders_of(db: Database, buyer_id: str) -> list[str]:
    async with db.read() as conn:
        rows = await conn.execute(text("SELECT id FROM orders WHERE buyer_id = :b"), {"b": buyer_id})
        return [r[0] for r in rows]


async def test_a_key_whose_worker_was_killed_is_taken_over_once_its_lease_ends(
    http: httpx.AsyncClient, db: Database, settings: Settings, tmp_path: Path
) -> None:
    # Given a buyer, and a worker that claimed their key and wrote the order, then was SIGKILLed
    client: Any = http
    market = await build_market(client, db, stock_a=10)
    body = order_body([(market.sku_a["id"], 3)])
    worker = _start_crashing_worker(settings, tmp_path, market.buyer.token, body)
    worker.kill()
    worker.wait(timeout=10)
    headers = {**market.buyer.headers, "Idempotency-Key": KEY}

    # Then the claim is left in progress, and nothing of the order was kept
    row = await _key_row(db, market.buyer.id)
    assert row["status"] == "in_progress" and row["claim_token"]
    assert await _orders_of(db, market.buyer.id) == []

    # When the buyer retries while the dead worker's lease still runs
    assert (row["lease_expires_at"] - clock.now()).total_seconds() > 2, (
        "the machine is too slow for this test"
    )
    early = await client.post("/api/v1/orders", json=body, headers=headers)

    # Then it is still busy (the worker might only be slow), and nothing ran
    assert early.status_code == 409, early.text
    assert early.json()["code"] == "idempotency_request_in_progress"
    assert await _orders_of(db, market.buyer.id) == []

    # When the lease has run out and six retries arrive at once
    lease_left = (row["lease_expires_at"] - clock.now()).total_seconds()
    await asyncio.sleep(max(lease_left, 0) + 0.3)
    retries = await asyncio.gather(
        *(client.post("/api/v1/orders", json=body, headers=headers) for _ in range(6))
    )

    # Then exactly one of them placed the order; the others are told to wait or get the same answer
    fresh = [r for r in retries if r.status_code == 201 and "idempotent-replayed" not in r.headers]
    assert len(fresh) == 1, [(r.status_code, r.text) for r in retries]
    order_id = fresh[0].json()["id"]
    for other in retries:
        if other is not fresh[0]:
            assert other.status_code in (201, 409), other.text
            if other.status_code == 201:
                assert other.json()["id"] == order_id
            else:
                assert other.json()["code"] == "idempotency_request_in_progress"

    # And a later retry replays it; one order exists and the stock moved once
    replay = await client.post("/api/v1/orders", json=body, headers=headers)
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == order_id
    assert await _orders_of(db, market.buyer.id) == [order_id]
    products = (await client.get("/api/v1/products", params={"cooperative_id": market.coop_a["id"]})).json()
    assert await sku_stock(client, products["items"][0]["id"], market.sku_a["id"]) == 7


async def test_a_retry_with_another_body_does_not_take_over(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given a claim left in progress by a dead worker, lease long run out
    buyer = await register_buyer(client)
    await _abandoned_claim(db, buyer.id, body={"n": 1})

    # When the same key comes with another body; Then it is still 422 reused
    with pytest.raises(RuleViolated) as refused:
        await service.execute(
            db,
            user_id=buyer.id,
            key=KEY,
            scope="test",
            body={"n": 2},
            ttl=timedelta(hours=48),
            run=_append_mark(buyer.id),
        )
    assert refused.value.code == "idempotency_key_reused"
    assert await _display_name(db, buyer.id) == "买家"


async def test_the_same_request_takes_an_abandoned_claim_over(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given a claim left in progress by a dead worker, lease run out
    buyer = await register_buyer(client)
    await _abandoned_claim(db, buyer.id, body={"n": 1})

    # When the same request is retried
    result = await service.execute(
        db,
        user_id=buyer.id,
        key=KEY,
        scope="test",
        body={"n": 1},
        ttl=timedelta(hours=48),
        run=_append_mark(buyer.id),
    )

    # Then it runs, once
    assert (result.status_code, result.replayed) == (200, False)
    assert await _display_name(db, buyer.id) == "买家!"


async def test_a_claim_whose_lease_runs_is_not_taken_over(client: AsyncTestClient[Any], db: Database) -> None:
    # Given a claim in progress whose lease has not run out
    buyer = await register_buyer(client)
    await _abandoned_claim(db, buyer.id, body={"n": 1})
    clock.advance(timedelta(seconds=-5))

    # When the same request is retried; Then 409, and nothing ran
    with pytest.raises(Conflict) as busy:
        await service.execute(
            db,
            user_id=buyer.id,
            key=KEY,
            scope="test",
            body={"n": 1},
            ttl=timedelta(hours=48),
            run=_append_mark(buyer.id),
        )
    assert busy.value.code == "idempotency_request_in_progress"
    assert await _display_name(db, buyer.id) == "买家"


async def test_a_slow_first_owner_loses_its_claim_and_its_effect(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given a first request that claimed the key and is still working when its lease runs out
    buyer = await register_buyer(client)
    go_on = asyncio.Event()
    started = asyncio.Event()

    async def slow(session: AsyncSession) -> tuple[int, Any]:
        started.set()
        await go_on.wait()
        return await _append_mark(buyer.id)(session)

    first = asyncio.create_task(
        service.execute(
            db,
            user_id=buyer.id,
            key=KEY,
            scope="test",
            body={},
            ttl=timedelta(hours=48),
            run=slow,
            lease=timedelta(seconds=30),
        )
    )
    await started.wait()
    clock.advance(timedelta(seconds=31))

    # When a retry takes the claim over and completes
    second = await service.execute(
        db,
        user_id=buyer.id,
        key=KEY,
        scope="test",
        body={},
        ttl=timedelta(hours=48),
        run=_append_mark(buyer.id),
    )

    # And the first one finishes after all
    go_on.set()
    with pytest.raises(Conflict):
        await first

    # Then the effect happened once, and the key holds the retry's answer
    assert second.status_code == 200 and not second.replayed
    assert await _display_name(db, buyer.id) == "买家!"
    replay = await service.execute(
        db,
        user_id=buyer.id,
        key=KEY,
        scope="test",
        body={},
        ttl=timedelta(hours=48),
        run=_append_mark(buyer.id),
    )
    assert replay.replayed and replay.body == second.body
    assert await _display_name(db, buyer.id) == "买家!"


def _append_mark(user_id: str) -> Any:
    async def run(session: AsyncSession) -> tuple[int, Any]:
        await session.execute(
            text("UPDATE user_account SET display_name = display_name || '!' WHERE id = :id"), {"id": user_id}
        )
        return 200, {"marked": user_id}

    return run


async def _display_name(db: Database, user_id: str) -> str:
    async with db.read() as conn:
        return str(
            (
                await conn.execute(
                    text("SELECT display_name FROM user_account WHERE id = :id"), {"id": user_id}
                )
            ).scalar_one()
        )


async def _abandoned_claim(db: Database, user_id: str, body: Any) -> None:
    """What a worker killed between claim and commit leaves: its claim in progress; then the lease ends."""
    now = clock.now()
    async with db.write_once() as conn:
        await conn.execute(
            text(
                "INSERT INTO idempotency_key (id, user_id, key, scope, request_hash, status, claim_token,"
                " lease_expires_at, created_at) VALUES (:id, :user_id, :key, 'test', :hash, 'in_progress',"
                " :token, :lease_expires_at, :created_at)"
            ),
            {
                "id": new_id(),
                "user_id": user_id,
                "key": KEY,
                "hash": service.request_fingerprint("test", body),
                "token": new_id(),
                "lease_expires_at": now + timedelta(seconds=1),
                "created_at": now,
            },
        )
    clock.advance(timedelta(seconds=5))
