"""Starting and resuming a Stripe payment: one PaymentIntent per order, created under the order's key."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from tests.factories import register_buyer
from tests.payments.builders import (
    Shop,
    build_shop,
    get_order,
    ledger_kinds,
    payments_of,
    place_stripe_order,
    start_payment,
    started_intent,
)
from tests.payments.fake_stripe import FakeStripe


@pytest.fixture
async def shop(client: AsyncTestClient[Any], db: Database) -> Shop:
    return await build_shop(client, db)


async def test_starting_creates_an_intent_for_the_order_total_in_cny_under_the_orders_key(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given an unpaid order of two units at 39.90 yuan
    order = await place_stripe_order(client, shop, quantity=2)

    # When its buyer starts paying
    response = await start_payment(client, shop.buyer, order["id"])

    # Then Stripe was asked once for 7980 fen in CNY, under the order's own idempotency key
    assert response.status_code == 200, response.text
    created = fake_stripe.seen("POST", "/v1/payment_intents")
    assert len(created) == 1
    assert created[0].idempotency_key == f"coopmarket-order-{order['id']}-pi-{order['total_fen']}"
    assert created[0].params == {"amount": "7980", "currency": "cny", "metadata": {"order_id": order["id"]}}
    intent_id = next(iter(fake_stripe.intents))
    body = response.json()
    assert body == {
        "provider": "stripe",
        "status": "requires_payment_method",
        "client_secret": fake_stripe.intents[intent_id]["client_secret"],
        "next_action": None,
        "amount_fen": 7980,
        "currency": "cny",
    }
    # And the payment is recorded against the intent
    assert await payments_of(db, order["id"]) == [("stripe", "requires_payment", 7980, intent_id)]


async def test_starting_again_with_a_new_idempotency_key_resumes_the_same_intent(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given a payment already started
    order = await place_stripe_order(client, shop)
    first = await start_payment(client, shop.buyer, order["id"])

    # When the buyer starts again with another Idempotency-Key
    second = await start_payment(client, shop.buyer, order["id"])

    # Then the same intent comes back and no second one was created
    assert second.status_code == 200, second.text
    assert second.json()["client_secret"] == first.json()["client_secret"]
    assert len(fake_stripe.seen("POST", "/v1/payment_intents")) == 1
    assert len(fake_stripe.intents) == 1
    assert len(await payments_of(db, order["id"])) == 1


async def test_another_buyer_cannot_start_payment_for_someone_elses_order(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given someone else's unpaid order
    order = await place_stripe_order(client, shop)
    stranger = await register_buyer(client, display_name="路人")

    # When another buyer tries to pay it
    response = await start_payment(client, stranger, order["id"])

    # Then the order does not exist for them, and nothing was asked of Stripe or recorded
    assert response.status_code == 404
    assert response.json()["code"] == "order_not_found"
    assert fake_stripe.requests == []
    assert await payments_of(db, order["id"]) == []


async def test_a_buyer_returning_after_paying_applies_the_payment_once(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given a payment started and then completed at Stripe, before any webhook
    order = await place_stripe_order(client, shop)
    intent_id = await started_intent(client, shop, order["id"])
    fake_stripe.succeed(intent_id)

    # When the buyer's app comes back and resumes the payment
    response = await start_payment(client, shop.buyer, order["id"])

    # Then the intent's success is applied: the order is paid in full, posted once
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "succeeded"
    paid = await get_order(client, shop.buyer, order["id"])
    assert (paid["status"], paid["paid_fen"]) == ("paid", order["total_fen"])
    assert await ledger_kinds(db, order["id"]) == ["payment_received"]
    assert await payments_of(db, order["id"]) == [("stripe", "succeeded", order["total_fen"], intent_id)]


async def test_starting_with_stripe_when_the_order_is_paid_says_it_succeeded(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given an order already paid through a returning buyer
    order = await place_stripe_order(client, shop)
    intent_id = await started_intent(client, shop, order["id"])
    fake_stripe.succeed(intent_id)
    await start_payment(client, shop.buyer, order["id"])

    # When the buyer starts paying once more
    response = await start_payment(client, shop.buyer, order["id"])

    # Then it answers that the payment succeeded and nothing more is posted
    assert response.status_code == 200
    assert response.json()["status"] == "succeeded"
    assert await ledger_kinds(db, order["id"]) == ["payment_received"]
