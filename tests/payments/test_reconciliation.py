"""Reconciliation with Stripe: what Stripe holds for a window is compared with what we recorded,
and what differs is repaired through the normal flows, once, with a report of what changed.

The fault tests crash our side after Stripe's success and before our commit (the webhook's
unit of work raises and rolls back; the buyer never comes back), then let reconciliation repair.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.app import background_jobs
from coopmarket.core import clock
from coopmarket.db import Database
from coopmarket.flows import reconciliation
from coopmarket.payments import refunds as payment_refunds
from coopmarket.payments import service as payments_service
from coopmarket.payments import stripe_provider
from coopmarket.payments.providers import Window
from tests.factories import make_staff, register_buyer
from tests.payments.builders import (
    Shop,
    balances,
    build_shop,
    deliver_event,
    event_count,
    get_order,
    ledger_kinds,
    payments_of,
    place_stripe_order,
    refunds_of,
    send_pending_refunds,
    start_payment,
    started_intent,
    trial_balance,
)
from tests.payments.fake_stripe import FakeStripe

RUNS = "/api/v1/reconciliation-runs"


@pytest.fixture
async def shop(client: AsyncTestClient[Any], db: Database) -> Shop:
    return await build_shop(client, db)


@pytest.fixture(autouse=True)
async def books_balance(db: Database) -> AsyncIterator[None]:
    yield
    assert await trial_balance(db) == 0


def last_hour() -> Window:
    now = clock.now()
    return Window(since=now - timedelta(hours=1), until=now + timedelta(minutes=1))


def reconcile(client: AsyncTestClient[Any], window: Window | None = None) -> Any:
    """One run against the fake Stripe, on the app's own loop (where its Stripe client lives)."""
    app = client.app
    run = functools.partial(
        reconciliation.reconcile,
        app.state.db,
        app.state.payment_providers,
        "stripe",
        window or last_hour(),
        trigger="job",
    )
    return client.blocking_portal.call(run)


def crash_when(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> None:
    """Our side dies at ``module.name``: its unit of work is rolled back, as in a crash."""

    async def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the worker died here")

    monkeypatch.setattr(module, name, crash)


def findings(run: Any) -> list[tuple[str, str, str]]:
    return [(item.kind, item.finding, item.action) for item in run.items or []]


# ------------------------------------------------------------------ the fault test


async def test_a_crash_between_stripes_success_and_our_commit_is_repaired_once(
    client: AsyncTestClient[Any],
    db: Database,
    shop: Shop,
    fake_stripe: FakeStripe,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a payment that succeeded at Stripe, whose webhook crashed before our commit
    order = await place_stripe_order(client, shop)
    intent_id = await started_intent(client, shop, order["id"])
    intent = fake_stripe.succeed(intent_id)
    crash_when(monkeypatch, payments_service, "post_payment_received")
    crashed = await deliver_event(client, fake_stripe, "payment_intent.succeeded", intent)
    monkeypatch.undo()
    assert crashed.status_code == 500
    # (nothing of it was kept, and the buyer never comes back to confirm)
    assert (await get_order(client, shop.buyer, order["id"]))["status"] == "pending_payment"
    assert await payments_of(db, order["id"]) == [("stripe", "requires_payment", 7980, intent_id)]
    assert await ledger_kinds(db, order["id"]) == []
    assert await event_count(db) == 0

    # When reconciliation runs
    run = reconcile(client)

    # Then the order is paid, with exactly one payment, posted once, and the run says so
    assert findings(run) == [("payment", "payment_not_applied", "applied")]
    assert (run.payments_seen, run.repaired, run.needs_attention) == (1, 1, 0)
    assert run.items[0].order_id == order["id"] and run.items[0].amount_fen == 7980
    shown = await get_order(client, shop.buyer, order["id"])
    assert (shown["status"], shown["paid_fen"]) == ("paid", 7980)
    assert await payments_of(db, order["id"]) == [("stripe", "succeeded", 7980, intent_id)]
    assert await ledger_kinds(db, order["id"]) == ["payment_received"]
    assert await balances(db) == {"cash:stripe": 7980, f"escrow:coop:{shop.cooperative['id']}": -7980}

    # And when Stripe retries the webhook and reconciliation runs again, nothing more happens
    retried = await deliver_event(client, fake_stripe, "payment_intent.succeeded", intent)
    again = reconcile(client)
    assert retried.json()["outcome"] == "already_applied"
    assert (findings(again), again.repaired) == ([], 0)
    assert await ledger_kinds(db, order["id"]) == ["payment_received"]


async def test_a_payment_we_never_recorded_is_recorded_and_applied(
    client: AsyncTestClient[Any],
    db: Database,
    shop: Shop,
    fake_stripe: FakeStripe,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a start whose unit of work died after Stripe created the intent (no payment row of ours)
    order = await place_stripe_order(client, shop)
    crash_when(monkeypatch, payments_service, "record_provider_payment")
    crashed = await start_payment(client, shop.buyer, order["id"])
    monkeypatch.undo()
    assert crashed.status_code == 500
    [intent_id] = list(fake_stripe.intents)
    assert await payments_of(db, order["id"]) == []
    # And the buyer paid it anyway (the app had the client secret from an earlier answer)
    fake_stripe.succeed(intent_id)

    # When reconciliation runs
    run = reconcile(client)

    # Then the payment is recorded from Stripe's metadata and the order is paid
    assert findings(run) == [("payment", "payment_not_recorded", "applied")]
    assert await payments_of(db, order["id"]) == [("stripe", "succeeded", 7980, intent_id)]
    assert (await get_order(client, shop.buyer, order["id"]))["status"] == "paid"


async def test_money_for_an_order_cancelled_meanwhile_is_held_and_refunded(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given an intent paid at Stripe, its order cancelled an hour later, and no webhook ever
    order = await place_stripe_order(client, shop)
    intent_id = await started_intent(client, shop, order["id"])
    fake_stripe.succeed(intent_id)
    stripe_time = clock.now()
    clock.advance(timedelta(hours=1))
    cancelled = await client.post(f"/api/v1/orders/{order['id']}/cancel", headers=shop.buyer.headers)
    assert cancelled.status_code == 200

    # When reconciliation runs
    run = reconcile(
        client, Window(since=stripe_time - timedelta(hours=1), until=stripe_time + timedelta(minutes=5))
    )

    # Then the money is held in suspense and refunded in full, as the webhook would have done
    assert findings(run) == [("payment", "payment_not_applied", "held_for_refund")]
    assert await ledger_kinds(db, order["id"]) == ["unmatched_payment", "refund"]
    assert [(r[1], r[2]) for r in await refunds_of(db, order["id"])] == [(7980, "pending")]


# ------------------------------------------------------------------ refunds


async def paid_and_cancelled(client: AsyncTestClient[Any], shop: Shop, fake: FakeStripe) -> dict[str, Any]:
    order = await place_stripe_order(client, shop)
    intent_id = await started_intent(client, shop, order["id"])
    await deliver_event(client, fake, "payment_intent.succeeded", fake.succeed(intent_id))
    cancelled = await client.post(f"/api/v1/orders/{order['id']}/cancel", headers=shop.buyer.headers)
    assert cancelled.status_code == 200
    return order


async def test_a_refund_outcome_we_never_heard_of_is_recorded(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given a refund Stripe took as pending and later paid, without a webhook reaching us
    order = await paid_and_cancelled(client, shop, fake_stripe)
    fake_stripe.refund_status = "pending"
    await send_pending_refunds(client)
    [stripe_refund] = fake_stripe.refunds.values()
    stripe_refund["status"] = "succeeded"

    # When reconciliation runs
    run = reconcile(client)

    # Then our refund is succeeded
    assert findings(run) == [("refund", "refund_outcome_missed", "marked_succeeded")]
    assert [(r[2], r[3]) for r in await refunds_of(db, order["id"])] == [("succeeded", stripe_refund["id"])]


async def test_a_refund_sent_before_a_crash_gets_its_reference_and_outcome(
    client: AsyncTestClient[Any],
    db: Database,
    shop: Shop,
    fake_stripe: FakeStripe,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a refund Stripe accepted, the sender dying before it stored Stripe's answer
    order = await paid_and_cancelled(client, shop, fake_stripe)
    crash_when(monkeypatch, payment_refunds, "store_refund_sent")
    with pytest.raises(RuntimeError):
        await send_pending_refunds(client)
    monkeypatch.undo()
    assert [(r[2], r[3]) for r in await refunds_of(db, order["id"])] == [("pending", None)]

    # When reconciliation runs
    run = reconcile(client)

    # Then the refund has Stripe's reference and outcome, and the sender sends nothing twice
    [stripe_refund] = fake_stripe.refunds.values()
    assert findings(run) == [("refund", "refund_outcome_missed", "marked_succeeded")]
    assert [(r[2], r[3]) for r in await refunds_of(db, order["id"])] == [("succeeded", stripe_refund["id"])]
    assert await send_pending_refunds(client) == 0
    assert len(fake_stripe.refunds) == 1


async def test_a_refund_failure_we_never_heard_of_is_reversed(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given a refund Stripe paid, then failed (the bank returned it), without a webhook reaching us
    order = await paid_and_cancelled(client, shop, fake_stripe)
    await send_pending_refunds(client)
    [stripe_refund] = fake_stripe.refunds.values()
    fake_stripe.fail_refund(stripe_refund["id"])

    # When reconciliation runs
    run = reconcile(client)

    # Then it is reversed and given back to the order, as the webhook would have done
    assert findings(run) == [("refund", "refund_failed_at_provider", "reversed")]
    assert [r[2] for r in await refunds_of(db, order["id"])] == ["failed"]
    assert await ledger_kinds(db, order["id"]) == ["payment_received", "refund", "refund_failed"]
    assert (await get_order(client, shop.buyer, order["id"]))["refunded_fen"] == 0


async def test_a_refund_made_outside_the_platform_is_left_for_a_person(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given a paid order, and someone refunding 1000 fen of it from Stripe's dashboard
    order = await place_stripe_order(client, shop)
    intent_id = await started_intent(client, shop, order["id"])
    await deliver_event(client, fake_stripe, "payment_intent.succeeded", fake_stripe.succeed(intent_id))
    outside = fake_stripe.refund_outside(intent_id, 1000)

    # When reconciliation runs
    run = reconcile(client)

    # Then it is reported for a person to look at, and nothing of ours changed
    assert findings(run) == [("refund", "refund_not_ours", "none")]
    assert (run.items[0].provider_ref, run.items[0].amount_fen, run.needs_attention) == (
        outside["id"],
        1000,
        1,
    )
    assert await refunds_of(db, order["id"]) == []
    assert (await get_order(client, shop.buyer, order["id"]))["refunded_fen"] == 0


async def test_nothing_to_repair_makes_an_empty_report(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    order = await paid_and_cancelled(client, shop, fake_stripe)
    await send_pending_refunds(client)

    run = reconcile(client)

    assert (run.payments_seen, run.refunds_seen, findings(run), run.repaired) == (1, 1, [], 0)
    assert await ledger_kinds(db, order["id"]) == ["payment_received", "refund"]


async def test_a_window_lists_only_what_stripe_created_in_it(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given two paid intents created a day apart at Stripe, neither applied here
    base = int(clock.now().timestamp())
    fake_stripe.clock = lambda: base - 86_400
    old = await place_stripe_order(client, shop)
    old_intent = await started_intent(client, shop, old["id"])
    fake_stripe.succeed(old_intent)
    fake_stripe.clock = lambda: base
    new = await place_stripe_order(client, shop)
    fake_stripe.succeed(await started_intent(client, shop, new["id"]))

    # When the last hour is reconciled
    run = reconcile(client)

    # Then only the new one is looked at and applied
    assert (run.payments_seen, findings(run)) == (1, [("payment", "payment_not_applied", "applied")])
    assert (await get_order(client, shop.buyer, new["id"]))["status"] == "paid"
    assert (await get_order(client, shop.buyer, old["id"]))["status"] == "pending_payment"


async def test_listing_pages_through_more_than_one_stripe_page(
    client: AsyncTestClient[Any],
    db: Database,
    shop: Shop,
    fake_stripe: FakeStripe,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given three intents that succeeded at Stripe, none applied, and pages of two
    monkeypatch.setattr(stripe_provider, "LIST_PAGE_SIZE", 2)
    orders = [await place_stripe_order(client, shop, quantity=1) for _ in range(3)]
    for order in orders:
        fake_stripe.succeed(await started_intent(client, shop, order["id"]))

    # When reconciliation runs
    run = reconcile(client)

    # Then all three were listed (two pages) and applied
    assert (run.payments_seen, run.repaired) == (3, 3)
    assert len(fake_stripe.seen("GET", "/v1/payment_intents")) == 2
    for order in orders:
        assert (await get_order(client, shop.buyer, order["id"]))["status"] == "paid"


# ------------------------------------------------------------------ the reports over HTTP


async def test_district_staff_read_the_runs_and_their_findings(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given a run that repaired a missed payment, and an empty one after it
    order = await place_stripe_order(client, shop)
    fake_stripe.succeed(await started_intent(client, shop, order["id"]))
    repaired = reconcile(client)
    empty = reconcile(client)

    # When district staff list the runs and open the first
    listed = await client.get(RUNS, headers=shop.staff.headers)
    opened = await client.get(f"{RUNS}/{repaired.id}", headers=shop.staff.headers)

    # Then the runs come newest first with their counts, and the run shows its finding
    assert listed.status_code == 200, listed.text
    assert [(r["id"], r["repaired"], r["items"]) for r in listed.json()["items"]] == [
        (empty.id, 0, None),
        (repaired.id, 1, None),
    ]
    body = opened.json()
    assert (body["provider"], body["trigger"], body["payments_seen"]) == ("stripe", "job", 1)
    [item] = body["items"]
    assert (item["kind"], item["finding"], item["action"], item["order_id"], item["amount_fen"]) == (
        "payment",
        "payment_not_applied",
        "applied",
        order["id"],
        7980,
    )
    assert (await client.get(RUNS, params={"provider": "offline"}, headers=shop.staff.headers)).json()[
        "items"
    ] == []


async def test_the_runs_are_for_district_staff_only(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    run = reconcile(client)
    street = await make_staff(client, db, role="street_staff", region_code="370704003")
    buyer = await register_buyer(client)

    for actor in (street, buyer, shop.manager):
        listed = await client.get(RUNS, headers=actor.headers)
        opened = await client.get(f"{RUNS}/{run.id}", headers=actor.headers)
        assert (listed.status_code, listed.json()["code"]) == (403, "forbidden_role")
        assert (opened.status_code, opened.json()["code"]) == (403, "forbidden_role")
    assert (await client.get(RUNS)).status_code == 401
    unknown = await client.get(f"{RUNS}/01NOSUCHRUN0000000000000000", headers=shop.staff.headers)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "reconciliation_run_not_found")


async def test_the_background_jobs_reconcile_stripe(client: AsyncTestClient[Any]) -> None:
    app = client.app
    jobs = background_jobs(app.state.db, app.state.settings, app.state.payment_providers, app.state.storage)
    assert "reconcile stripe" in [job.name for job in jobs]
    assert "reconcile offline" not in [job.name for job in jobs]
