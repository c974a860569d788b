"""Changes to one order are serialised: partial cancellations, receipts and refund requests that
race each other (or follow each other) leave the order, its money and its stock consistent.

The race tests run on PostgreSQL (SQLite lets one writer in at a time). They make two requests
meet at the same point of their transactions: each waits there, for at most a second, for the
other. Without the order lock both get there and the race happens; with it, the second waits at
the lock until the first commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.core import clock
from coopmarket.core.principal import Principal
from coopmarket.db import Database
from coopmarket.flows import cancellation as cancellation_flows
from coopmarket.flows import refunds as refund_flows
from coopmarket.ledger import service as ledger_service
from coopmarket.orders import expiry, fulfilment
from coopmarket.orders import refunds as order_refunds
from coopmarket.orders.schemas import RefundIn
from coopmarket.products import service as products_service
from tests.factories import Actor
from tests.factories import ledger_balances as balances
from tests.orders.builders import Market, build_market, new_key, place, sku_stock


@pytest.fixture
async def market(client: AsyncTestClient[Any], db: Database) -> Market:
    return await build_market(client, db)


async def product_of(client: AsyncTestClient[Any], coop: dict[str, Any]) -> str:
    response = await client.get("/api/v1/products", params={"cooperative_id": coop["id"]})
    return response.json()["items"][0]["id"]  # type: ignore[no-any-return]


def as_principal(actor: Actor, role: str, cooperative_ids: frozenset[str] = frozenset()) -> Principal:
    return Principal(id=actor.id, role=role, display_name=role, cooperative_ids=cooperative_ids)


async def meet_at(
    monkeypatch: pytest.MonkeyPatch, module: ModuleType, name: str, calls: list[Coroutine[Any, Any, Any]]
) -> list[Any]:
    """Run ``calls`` at once; each pauses after ``module.name`` until all got there (1 s at most)."""
    arrived = 0
    everyone = asyncio.Event()
    original: Callable[..., Awaitable[Any]] = getattr(module, name)

    async def paused(*args: Any, **kwargs: Any) -> Any:
        nonlocal arrived
        result = await original(*args, **kwargs)
        arrived += 1
        if arrived == len(calls):
            everyone.set()
        try:
            await asyncio.wait_for(everyone.wait(), 1.0)
        except TimeoutError:
            pass  # the others are held elsewhere (at the order lock): go on alone
        return result

    monkeypatch.setattr(module, name, paused)
    try:
        return await asyncio.gather(*calls, return_exceptions=True)
    finally:
        monkeypatch.undo()


def postgresql_only(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite lets one writer in at a time: there is no race to set up")


# ------------------------------------------------------------------ in turn


async def test_a_part_cancelled_before_payment_is_not_charged(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given a two-cooperative order whose cooperative A cancels its part before payment
    order = (await place(client, market.buyer, [(market.sku_a["id"], 1), (market.sku_b["id"], 1)])).json()
    cancelled = await client.post(f"/api/v1/orders/{order['id']}/cancel", headers=market.manager_a.headers)
    assert cancelled.status_code == 200

    # Then the buyer is asked for B's part only, and paying that pays the order
    start = await client.post(
        f"/api/v1/orders/{order['id']}/payments",
        json={},
        headers={**market.buyer.headers, "Idempotency-Key": new_key()},
    )
    assert start.json()["amount_fen"] == 1250
    refused = await client.post(
        f"/api/v1/orders/{order['id']}/offline-payments",
        json={"reference": "OLD-TOTAL", "amount_fen": order["total_fen"]},
        headers=market.staff.headers,
    )
    assert refused.status_code == 422 and refused.json()["code"] == "amount_mismatch"
    paid = await client.post(
        f"/api/v1/orders/{order['id']}/offline-payments",
        json={"reference": "NEW-TOTAL", "amount_fen": 1250},
        headers=market.staff.headers,
    )
    assert paid.status_code == 201, paid.text
    assert await balances(db, "escrow:") == {f"escrow:coop:{market.coop_b['id']}": -1250}

    # And cancelling the rest refunds everything that was paid
    rest = await client.post(f"/api/v1/orders/{order['id']}/cancel", headers=market.buyer.headers)
    body = rest.json()
    assert (body["status"], body["paid_fen"], body["refunded_fen"]) == ("cancelled", 1250, 1250)
    assert await balances(db, "escrow:") == {}
    assert await balances(db, "cash:") == {}


async def test_expiry_does_not_release_the_stock_of_a_part_cancelled_earlier(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = (await place(client, market.buyer, [(market.sku_a["id"], 5), (market.sku_b["id"], 1)])).json()
    product_a = await product_of(client, market.coop_a)
    await client.post(f"/api/v1/orders/{order['id']}/cancel", headers=market.manager_a.headers)
    assert await sku_stock(client, product_a, market.sku_a["id"]) == 100

    clock.advance(timedelta(hours=1))
    assert await expiry.expire_overdue_orders(db) == 1

    assert await sku_stock(client, product_a, market.sku_a["id"]) == 100
    assert await sku_stock(client, await product_of(client, market.coop_b), market.sku_b["id"]) == 50


async def test_a_cooperative_sees_the_money_of_its_own_part_only(
    client: AsyncTestClient[Any], market: Market
) -> None:
    order = (await place(client, market.buyer, [(market.sku_a["id"], 1), (market.sku_b["id"], 1)])).json()
    seen = (await client.get(f"/api/v1/orders/{order['id']}", headers=market.manager_a.headers)).json()
    assert (seen["total_fen"], seen["paid_fen"], seen["refunded_fen"]) == (3990, 0, 0)
    assert seen["payment"]["amount_fen"] == 3990
    own = (await client.get(f"/api/v1/orders/{order['id']}", headers=market.buyer.headers)).json()
    assert own["total_fen"] == 5240


# ------------------------------------------------------------------ at once (PostgreSQL)


async def test_two_cooperatives_cancelling_at_once_cancel_the_order(
    client: AsyncTestClient[Any],
    db: Database,
    market: Market,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    postgresql_only(database_url)
    order = (await place(client, market.buyer, [(market.sku_a["id"], 1), (market.sku_b["id"], 1)])).json()

    async def cancel(actor: Actor, coop: dict[str, Any]) -> Any:
        async with db.unit_of_work() as session:
            principal = as_principal(actor, "coop_manager", frozenset({coop["id"]}))
            return await cancellation_flows.cancel_order(session, principal, order["id"], None)

    results = await meet_at(
        monkeypatch,
        products_service,
        "release_stock",
        [cancel(market.manager_a, market.coop_a), cancel(market.manager_b, market.coop_b)],
    )

    assert not [r for r in results if isinstance(r, BaseException)], results
    shown = (await client.get(f"/api/v1/orders/{order['id']}", headers=market.buyer.headers)).json()
    assert (shown["status"], {p["status"] for p in shown["parts"]}) == ("cancelled", {"cancelled"})


async def test_two_parts_received_at_once_complete_the_order(
    client: AsyncTestClient[Any],
    db: Database,
    market: Market,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    postgresql_only(database_url)
    order = (await place(client, market.buyer, [(market.sku_a["id"], 1), (market.sku_b["id"], 1)])).json()
    await client.post(
        f"/api/v1/orders/{order['id']}/offline-payments",
        json={"reference": "R", "amount_fen": order["total_fen"]},
        headers=market.staff.headers,
    )
    for part in order["parts"]:
        manager = market.manager_a if part["cooperative_id"] == market.coop_a["id"] else market.manager_b
        shipped = await client.post(
            f"/api/v1/orders/{order['id']}/parts/{part['id']}/ship",
            json={"carrier": "EMS", "tracking_number": f"E{part['id'][-4:]}"},
            headers=manager.headers,
        )
        assert shipped.status_code == 200

    async def receive(part_id: str) -> Any:
        async with db.unit_of_work() as session:
            return await fulfilment.receive_part(
                session, as_principal(market.buyer, "buyer"), order["id"], part_id
            )

    results = await meet_at(monkeypatch, ledger_service, "post", [receive(p["id"]) for p in order["parts"]])

    assert not [r for r in results if isinstance(r, BaseException)], results
    shown = (await client.get(f"/api/v1/orders/{order['id']}", headers=market.buyer.headers)).json()
    assert (shown["status"], {p["status"] for p in shown["parts"]}) == ("completed", {"received"})


async def test_two_refund_requests_at_once_never_ask_for_more_than_was_paid(
    client: AsyncTestClient[Any],
    db: Database,
    market: Market,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    postgresql_only(database_url)
    order = (await place(client, market.buyer, [(market.sku_a["id"], 2)])).json()
    await client.post(
        f"/api/v1/orders/{order['id']}/offline-payments",
        json={"reference": "R", "amount_fen": order["total_fen"]},
        headers=market.staff.headers,
    )
    part_id = order["parts"][0]["id"]

    async def request() -> Any:
        async with db.unit_of_work() as session:
            return await refund_flows.request_refund(
                session,
                as_principal(market.buyer, "buyer"),
                order["id"],
                RefundIn(part_id=part_id, amount_fen=7980, reason="坏了"),
            )

    results = await meet_at(monkeypatch, order_refunds, "_requested_fen", [request(), request()])

    assert sum(1 for r in results if not isinstance(r, BaseException)) == 1, results
    listed = (await client.get(f"/api/v1/orders/{order['id']}/refunds", headers=market.buyer.headers)).json()
    assert sum(r["amount_fen"] for r in listed["items"] if r["status"] == "requested") == 7980
