"""The Stripe webhook: signature checked on the raw body, each event applied exactly once."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.core import clock
from coopmarket.db import Database
from coopmarket.orders import expiry
from tests.payments.builders import (
    ADDRESS,
    Shop,
    balances,
    build_shop,
    deliver,
    deliver_event,
    event_count,
    get_order,
    ledger_kinds,
    new_key,
    payments_of,
    place_stripe_order,
    refunds_at_stripe,
    refunds_of,
    send_pending_refunds,
    start_payment,
    started_intent,
    trial_balance,
)
from tests.payments.fake_stripe import FakeStripe


@pytest.fixture
async def shop(client: AsyncTestClient[Any], db: Database) -> Shop:
    return await build_shop(client, db)


async def paid_at_stripe(
    client: AsyncTestClient[Any], shop: Shop, fake: FakeStripe
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An order whose intent succeeded at Stripe, before anything told us: (order, intent)."""
    order = await place_stripe_order(client, shop)
    intent_id = await started_intent(client, shop, order["id"])
    return order, fake.succeed(intent_id)


async def test_a_success_event_pays_the_order_once(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given an order paid at Stripe
    order, intent = await paid_at_stripe(client, shop, fake_stripe)

    # When Stripe reports the success
    response = await deliver_event(client, fake_stripe, "payment_intent.succeeded", intent)

    # Then the order is paid in full with exactly one payment_received posting
    assert response.status_code == 200, response.text
    paid = await get_order(client, shop.buyer, order["id"])
    assert (paid["status"], paid["paid_fen"]) == ("paid", 7980)
    assert await ledger_kinds(db, order["id"]) == ["payment_received"]
    assert (await balances(db, "cash:"))["cash:stripe"] == 7980
    assert await payments_of(db, order["id"]) == [("stripe", "succeeded", 7980, intent["id"])]


async def test_a_duplicate_delivery_changes_nothing(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given a success event already delivered and applied
    order, intent = await paid_at_stripe(client, shop, fake_stripe)
    payload = fake_stripe.event("payment_intent.succeeded", intent)
    first = await deliver(client, payload, fake_stripe.sign(payload))
    assert first.status_code == 200, first.text

    # When Stripe delivers the same event again
    again = await deliver(client, payload, fake_stripe.sign(payload))

    # Then it is acknowledged and nothing more happens
    assert again.status_code == 200, again.text
    assert again.json()["outcome"] == "duplicate"
    assert await ledger_kinds(db, order["id"]) == ["payment_received"]
    assert await event_count(db) == 1
    assert (await balances(db, "cash:"))["cash:stripe"] == 7980


async def test_webhook_first_then_the_returning_buyer_applies_once(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given the webhook applied the payment
    order, intent = await paid_at_stripe(client, shop, fake_stripe)
    await deliver_event(client, fake_stripe, "payment_intent.succeeded", intent)

    # When the buyer's app comes back and resumes the payment
    response = await start_payment(client, shop.buyer, order["id"])

    # Then it is told the order is paid, and the payment was applied only once
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["client_secret"]) == ("succeeded", None)
    assert await ledger_kinds(db, order["id"]) == ["payment_received"]
    assert (await get_order(client, shop.buyer, order["id"]))["paid_fen"] == 7980


async def test_returning_buyer_first_then_the_webhook_applies_once(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given the returning buyer's resume applied the payment
    order, intent = await paid_at_stripe(client, shop, fake_stripe)
    resumed = await start_payment(client, shop.buyer, order["id"])
    assert resumed.json()["status"] == "succeeded"

    # When Stripe's webhook arrives afterwards (a new event)
    response = await deliver_event(client, fake_stripe, "payment_intent.succeeded", intent)

    # Then it is acknowledged as already applied and nothing is posted twice
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "already_applied"
    assert await ledger_kinds(db, order["id"]) == ["payment_received"]
    assert (await balances(db, "cash:"))["cash:stripe"] == 7980


async def test_a_bad_signature_is_refused_and_changes_nothing(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given an order paid at Stripe
    order, intent = await paid_at_stripe(client, shop, fake_stripe)
    payload = fake_stripe.event("payment_intent.succeeded", intent)

    # When someone posts the event signed with another secret
    response = await deliver(client, payload, fake_stripe.sign(payload, secret="whsec_not_ours"))

    # Then it is refused and the order is still unpaid
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_signature"
    assert (await get_order(client, shop.buyer, order["id"]))["status"] == "pending_payment"
    assert await ledger_kinds(db, order["id"]) == []
    assert await event_count(db) == 0


async def test_a_tampered_body_is_refused(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given a correctly signed event whose body is changed after signing
    order, intent = await paid_at_stripe(client, shop, fake_stripe)
    payload = fake_stripe.event("payment_intent.succeeded", intent)
    signature = fake_stripe.sign(payload)

    # When it is delivered
    response = await deliver(client, payload.replace(b'"amount": 7980', b'"amount": 1'), signature)

    # Then it is refused and nothing changed
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_signature"
    assert await ledger_kinds(db, order["id"]) == []
    assert await event_count(db) == 0


async def test_a_stale_signature_is_refused(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given an event signed ten minutes ago (tolerance is five)
    order, intent = await paid_at_stripe(client, shop, fake_stripe)
    payload = fake_stripe.event("payment_intent.succeeded", intent)
    signature = fake_stripe.sign(payload, timestamp=int(time.time()) - 600)

    # When it is delivered (a replay)
    response = await deliver(client, payload, signature)

    # Then it is refused and nothing changed
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_signature"
    assert (await get_order(client, shop.buyer, order["id"]))["status"] == "pending_payment"
    assert await event_count(db) == 0


async def test_a_missing_signature_is_refused(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given an event without a Stripe-Signature header
    order, intent = await paid_at_stripe(client, shop, fake_stripe)
    payload = fake_stripe.event("payment_intent.succeeded", intent)

    # When it is delivered
    response = await client.post(
        "/api/v1/payments/stripe/webhook", content=payload, headers={"Content-Type": "application/json"}
    )

    # Then it is refused and nothing changed
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_signature"
    assert await ledger_kinds(db, order["id"]) == []


async def test_a_failed_payment_marks_the_payment_failed_and_leaves_the_order_unpaid(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given a started payment whose card is declined
    order = await place_stripe_order(client, shop)
    intent_id = await started_intent(client, shop, order["id"])
    intent = fake_stripe.fail(intent_id)

    # When Stripe reports the failure
    response = await deliver_event(client, fake_stripe, "payment_intent.payment_failed", intent)

    # Then our payment is failed and the order still awaits payment
    assert response.status_code == 200, response.text
    assert await payments_of(db, order["id"]) == [("stripe", "failed", 7980, intent_id)]
    assert (await get_order(client, shop.buyer, order["id"]))["status"] == "pending_payment"
    assert await ledger_kinds(db, order["id"]) == []


async def test_an_unknown_event_type_is_acknowledged(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given an event type we do not handle
    payload = fake_stripe.event("customer.created", {"id": "cus_1", "object": "customer"})

    # When Stripe delivers it
    response = await deliver(client, payload, fake_stripe.sign(payload))

    # Then it is acknowledged (Stripe stops retrying) and recorded as seen
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "ignored"
    assert await event_count(db) == 1


async def test_money_for_an_order_that_expired_meanwhile_is_refunded_in_full(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given a started payment, and the order expired and cancelled before the money arrived
    order = await place_stripe_order(client, shop)
    intent_id = await started_intent(client, shop, order["id"])
    clock.advance(timedelta(hours=1))
    assert await expiry.expire_overdue_orders(db) == 1
    intent = fake_stripe.succeed(intent_id)

    # When Stripe reports the success and the pending refunds are sent
    response = await deliver_event(client, fake_stripe, "payment_intent.succeeded", intent)
    sent = await send_pending_refunds(client)

    # Then the order stays cancelled and the full amount went back through Stripe, under the refund's key
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "unmatched"
    assert (await get_order(client, shop.buyer, order["id"]))["status"] == "cancelled"
    assert sent == 1
    [(refund_id, amount, status, provider_ref)] = await refunds_of(db, order["id"])
    assert refunds_at_stripe(fake_stripe) == [(intent_id, 7980, refund_id)]
    assert {c.idempotency_key for c in fake_stripe.seen("POST", "/v1/refunds")} == {
        f"coopmarket-refund-{refund_id}"
    }
    assert (amount, status, provider_ref) == (7980, "succeeded", next(iter(fake_stripe.refunds)))


async def test_money_for_an_expired_order_passes_through_suspense(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given money arriving for an order that expired and was cancelled
    order = await place_stripe_order(client, shop)
    intent_id = await started_intent(client, shop, order["id"])
    clock.advance(timedelta(hours=1))
    await expiry.expire_overdue_orders(db)
    intent = fake_stripe.succeed(intent_id)

    # When Stripe reports the success
    await deliver_event(client, fake_stripe, "payment_intent.succeeded", intent)

    # Then it is held in suspense and refunded: nothing reaches the cooperative, the books balance
    assert await ledger_kinds(db, order["id"]) == ["unmatched_payment", "refund"]
    assert await balances(db) == {"cash:stripe": 0, "suspense:unmatched_payments": 0}
    assert await trial_balance(db) == 0
    assert await payments_of(db, order["id"]) == [("stripe", "refunded", 7980, intent_id)]


async def test_a_payment_of_the_wrong_amount_is_refunded_and_the_order_stays_unpaid(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given an intent that received less than the order's total
    order = await place_stripe_order(client, shop)
    intent_id = await started_intent(client, shop, order["id"])
    intent = fake_stripe.succeed(intent_id, amount_received=7000)

    # When Stripe reports the success
    response = await deliver_event(client, fake_stripe, "payment_intent.succeeded", intent)

    # Then the order is not paid and the 7000 fen received are to be refunded in full
    assert response.json()["outcome"] == "unmatched"
    assert (await get_order(client, shop.buyer, order["id"]))["status"] == "pending_payment"
    assert [(r[1], r[2]) for r in await refunds_of(db, order["id"])] == [(7000, "pending")]
    assert await balances(db) == {"cash:stripe": 0, "suspense:unmatched_payments": 0}


async def test_a_related_party_order_paid_through_stripe_is_audited(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given the cooperative's manager buying from their own cooperative, paying with Stripe
    response = await client.post(
        "/api/v1/orders",
        json={
            "lines": [{"sku_id": shop.sku["id"], "quantity": 1}],
            "shipping_address": ADDRESS,
            "payment_method": "stripe",
        },
        headers={**shop.manager.headers, "Idempotency-Key": new_key()},
    )
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["is_related_party"] is True
    started = await start_payment(client, shop.manager, order["id"])
    intent_id = started.json()["client_secret"].split("_secret_")[0]

    # When Stripe reports the success
    await deliver_event(client, fake_stripe, "payment_intent.succeeded", fake_stripe.succeed(intent_id))

    # Then the audit log records the payment of a related-party order, by no person (Stripe's callback)
    audit = await client.get(
        "/api/v1/audit", params={"entity": "order", "id": order["id"]}, headers=shop.staff.headers
    )
    [paid, placed] = audit.json()["items"]
    assert (paid["action"], paid["actor_id"], paid["after"]["provider"]) == (
        "order.related_party_paid",
        None,
        "stripe",
    )
    assert placed["action"] == "order.related_party_placed"
