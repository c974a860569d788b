"""Money bugs other marketplaces shipped, reproduced as races and shown fixed here.

Each test makes two requests meet at the point where a check-then-act bug would strike: both
have read the state (the payment not applied yet, no intent to resume, the refundable amount)
and neither has written. ``meet_at`` holds each call there until the other arrives (a second
at most) and reports whether they really met, so a test proves the race was set up. What then
settles it is the guard under test: a conditional UPDATE, a unique key, Stripe's idempotency key.

The database races run on PostgreSQL (SQLite lets one writer in at a time); the intent race is
at Stripe and runs on both databases.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.core.principal import Principal
from coopmarket.db import Database
from coopmarket.flows import payment as payment_flows
from coopmarket.flows import refunds as refund_flows
from coopmarket.orders import refunds as order_refunds
from coopmarket.orders.schemas import RefundIn
from coopmarket.payments import refund_records
from coopmarket.payments import service as payments_service
from coopmarket.payments.registry import PaymentProviders, open_providers
from coopmarket.settings import Settings
from tests.factories import Actor
from tests.orders.builders import Market, build_market, place
from tests.payments.builders import (
    Shop,
    balances,
    build_shop,
    ledger_kinds,
    payments_of,
    place_stripe_order,
    refunds_of,
    started_intent,
    trial_balance,
)
from tests.payments.fake_stripe import FakeStripe


@dataclass
class Met:
    """What ``meet_at`` saw: each call's result (or exception), and whether all of them met."""

    results: list[Any]
    met: bool


async def meet_at(
    monkeypatch: pytest.MonkeyPatch, module: ModuleType, name: str, calls: list[Coroutine[Any, Any, Any]]
) -> Met:
    """Run ``calls`` at once; each pauses after ``module.name`` until all got there (1 s at most).

    ``met`` is true when all of them were there together, none having gone on alone.
    """
    arrived = 0
    alone = False
    everyone = asyncio.Event()
    original: Callable[..., Awaitable[Any]] = getattr(module, name)

    async def paused(*args: Any, **kwargs: Any) -> Any:
        nonlocal arrived, alone
        result = await original(*args, **kwargs)
        arrived += 1
        if arrived == len(calls):
            everyone.set()
        try:
            await asyncio.wait_for(everyone.wait(), 1.0)
        except TimeoutError:
            alone = True  # the others are held elsewhere (a lock): go on alone
        return result

    monkeypatch.setattr(module, name, paused)
    try:
        results = await asyncio.gather(*calls, return_exceptions=True)
    finally:
        monkeypatch.undo()
    return Met(results, everyone.is_set() and not alone)


def postgresql_only(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite lets one writer in at a time: there is no race to set up")


@pytest.fixture
async def providers(settings: Settings) -> AsyncIterator[PaymentProviders]:
    """The providers on the test's own loop (the fake Stripe behind them)."""
    async with open_providers(settings) as opened:
        yield opened


def buyer_of(actor: Actor) -> Principal:
    return Principal(id=actor.id, role="buyer", display_name="买家")


# ------------------------------------------------------------------ one payment, two reporters


async def test_a_webhook_racing_the_buyers_return_applies_the_payment_once(
    client: AsyncTestClient[Any],
    db: Database,
    fake_stripe: FakeStripe,
    providers: PaymentProviders,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    postgresql_only(database_url)
    # Given an intent that succeeded at Stripe
    shop = await build_shop(client, db)
    order = await place_stripe_order(client, shop)
    intent = fake_stripe.succeed(await started_intent(client, shop, order["id"]))
    payload = fake_stripe.event("payment_intent.succeeded", intent)
    headers = {"Stripe-Signature": fake_stripe.sign(payload)}

    async def webhook() -> str:
        async with db.unit_of_work() as session:
            return await payment_flows.handle_provider_event(session, providers, "stripe", payload, headers)

    async def buyer_returns() -> str:
        async with db.unit_of_work() as session:
            started = await payment_flows.start_payment(
                db, session, providers, buyer_of(shop.buyer), order["id"], None
            )
            return started.status

    # When the webhook and the returning buyer both find the payment not applied yet, at once
    race = await meet_at(monkeypatch, payments_service, "payment_by_ref", [webhook(), buyer_returns()])

    # Then they really met there, both answered, and the money was applied exactly once
    assert race.met
    assert race.results == ["applied", "succeeded"] or race.results == ["already_applied", "succeeded"]
    assert await ledger_kinds(db, order["id"]) == ["payment_received"]
    assert await payments_of(db, order["id"]) == [("stripe", "succeeded", 7980, intent["id"])]
    # (no second application held in suspense and refunded, as an unguarded claim would do)
    assert await refunds_of(db, order["id"]) == []
    assert await balances(db, "cash:") == {"cash:stripe": 7980}
    assert await trial_balance(db) == 0


# ------------------------------------------------------------------ one order, two starts


async def test_two_starts_at_once_make_one_payment_intent_at_stripe(
    client: AsyncTestClient[Any],
    db: Database,
    fake_stripe: FakeStripe,
    providers: PaymentProviders,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given an unpaid Stripe order nobody started paying yet
    shop: Shop = await build_shop(client, db)
    order = await place_stripe_order(client, shop)

    async def start() -> Any:
        async with db.unit_of_work() as session:
            return await payment_flows.start_payment(
                db, session, providers, buyer_of(shop.buyer), order["id"], None
            )

    # When two starts (two tabs, a double tap) both find no intent to resume, at once
    race = await meet_at(monkeypatch, payments_service, "resumable_payment", [start(), start()])

    # Then both asked Stripe to create one, under the order's one key, and Stripe made one
    assert race.met
    assert not [r for r in race.results if isinstance(r, BaseException)], race.results
    created = fake_stripe.seen("POST", "/v1/payment_intents")
    assert len(created) == 2
    assert {c.idempotency_key for c in created} == {f"coopmarket-order-{order['id']}-pi-7980"}
    assert len(fake_stripe.intents) == 1
    # And both buyers' screens pay that one intent, which we recorded once
    assert race.results[0].client_secret == race.results[1].client_secret
    [intent_id] = list(fake_stripe.intents)
    assert await payments_of(db, order["id"]) == [("stripe", "requires_payment", 7980, intent_id)]


# ------------------------------------------------------------------ one part, two refunds


@pytest.fixture
async def market(client: AsyncTestClient[Any], db: Database) -> Market:
    return await build_market(client, db)


async def paid_offline(client: AsyncTestClient[Any], market: Market) -> dict[str, Any]:
    order = (await place(client, market.buyer, [(market.sku_a["id"], 2)])).json()
    paid = await client.post(
        f"/api/v1/orders/{order['id']}/offline-payments",
        json={"reference": "BANK-RACE", "amount_fen": order["total_fen"]},
        headers=market.staff.headers,
    )
    assert paid.status_code == 201, paid.text
    return order


def two_refunds_of_5000(
    db: Database, market: Market, order: dict[str, Any]
) -> list[Coroutine[Any, Any, Any]]:
    """The part's manager and district staff each refund 5000 of its 7980 fen."""
    part_id = order["parts"][0]["id"]
    manager = Principal(
        id=market.manager_a.id,
        role="coop_manager",
        display_name="理事长",
        cooperative_ids=frozenset({market.coop_a["id"]}),
    )
    staff = Principal(id=market.staff.id, role="district_staff", display_name="区", region_code="370704")

    async def refund(principal: Principal) -> Any:
        async with db.unit_of_work() as session:
            return await refund_flows.request_refund(
                session, principal, order["id"], RefundIn(part_id=part_id, amount_fen=5000, reason="坏果")
            )

    return [refund(manager), refund(staff)]


def refused_codes(results: list[Any]) -> list[tuple[int, str]]:
    return [(r.status_code, r.code) for r in results if isinstance(r, BaseException)]


async def test_two_refunds_at_once_over_the_paid_amount_pay_back_one(
    client: AsyncTestClient[Any],
    db: Database,
    market: Market,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    postgresql_only(database_url)
    # Given a paid part of 7980 fen
    order = await paid_offline(client, market)

    # When its manager and staff refund 5000 fen each at the same moment
    race = await meet_at(monkeypatch, order_refunds, "_requested_fen", two_refunds_of_5000(db, market, order))

    # Then the order lock made the second wait for the first: it saw 2980 left and was refused
    assert not race.met
    assert refused_codes(race.results) == [(422, "refund_exceeds_paid")]
    assert [r[1] for r in await refunds_of(db, order["id"])] == [5000]
    shown = (await client.get(f"/api/v1/orders/{order['id']}", headers=market.buyer.headers)).json()
    assert (shown["refunded_fen"], shown["parts"][0]["refunded_fen"]) == (5000, 5000)
    assert await balances(db, "escrow:") == {f"escrow:coop:{market.coop_a['id']}": -(7980 - 5000)}


async def test_without_the_order_lock_the_conditional_update_still_pays_back_one(
    client: AsyncTestClient[Any],
    db: Database,
    market: Market,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    postgresql_only(database_url)
    # Given a paid part of 7980 fen, and the order lock taken away (a path that forgets it)
    order = await paid_offline(client, market)

    async def no_lock(session: Any, order_id: str) -> None:
        return None

    monkeypatch.setattr(order_refunds, "lock_order", no_lock)

    # When two refunds of 5000 fen both find 7980 fen refundable, at once
    race = await meet_at(monkeypatch, order_refunds, "_requested_fen", two_refunds_of_5000(db, market, order))

    # Then they met past every check in Python, and the database let one through: 409 for the other
    assert race.met
    assert refused_codes(race.results) == [(409, "refund_exceeds_paid")]
    assert [r[1] for r in await refunds_of(db, order["id"])] == [5000]
    shown = (await client.get(f"/api/v1/orders/{order['id']}", headers=market.buyer.headers)).json()
    assert (shown["refunded_fen"], shown["parts"][0]["refunded_fen"]) == (5000, 5000)
    assert await trial_balance(db) == 0


# ------------------------------------------------------------------ one offline refund, two hand-backs


async def test_two_hand_backs_at_once_record_one(
    client: AsyncTestClient[Any],
    db: Database,
    market: Market,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    postgresql_only(database_url)
    # Given an outstanding offline refund of the whole order (the buyer cancelled it)
    order = await paid_offline(client, market)
    assert (
        await client.post(f"/api/v1/orders/{order['id']}/cancel", headers=market.buyer.headers)
    ).status_code == 200
    [(refund_id, _amount, _status, _ref)] = await refunds_of(db, order["id"])
    manager = Principal(
        id=market.manager_a.id,
        role="coop_manager",
        display_name="理事长",
        cooperative_ids=frozenset({market.coop_a["id"]}),
    )
    staff = Principal(id=market.staff.id, role="district_staff", display_name="区", region_code="370704")

    async def hand_back(principal: Principal, reference: str) -> Any:
        async with db.unit_of_work() as session:
            return await refund_flows.hand_back(session, principal, refund_id, reference)

    # When its manager and staff both find it outstanding and record it at once
    race = await meet_at(
        monkeypatch,
        refund_records,
        "refund_facts",
        [hand_back(manager, "CASH-1"), hand_back(staff, "BANK-2")],
    )

    # Then one record stands, the other is told it is no longer outstanding, and one entry is audited
    assert race.met
    assert refused_codes(race.results) == [(409, "refund_not_outstanding")]
    [winner] = [r for r in race.results if not isinstance(r, BaseException)]
    assert [(r[2]) for r in await refunds_of(db, order["id"])] == ["succeeded"]
    audit = await client.get(
        "/api/v1/audit", params={"entity": "refund", "id": refund_id}, headers=market.staff.headers
    )
    assert [e["after"]["reference"] for e in audit.json()["items"]] == [winner.handed_back_reference]
