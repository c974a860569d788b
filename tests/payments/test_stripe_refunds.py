"""Refunds of Stripe payments: recorded with the cancellation, sent to Stripe after commit, once."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from tests.payments.builders import (
    Shop,
    balances,
    build_shop,
    deliver_event,
    ledger_kinds,
    place_stripe_order,
    refunds_at_stripe,
    refunds_of,
    send_pending_refunds,
    started_intent,
    trial_balance,
)
from tests.payments.fake_stripe import FakeStripe


@pytest.fixture
async def shop(client: AsyncTestClient[Any], db: Database) -> Shop:
    return await build_shop(client, db)


async def paid_with_stripe(
    client: AsyncTestClient[Any], shop: Shop, fake: FakeStripe
) -> tuple[dict[str, Any], str]:
    """An order paid with Stripe and applied through the webhook: (order, intent id)."""
    order = await place_stripe_order(client, shop)
    intent_id = await started_intent(client, shop, order["id"])
    response = await deliver_event(client, fake, "payment_intent.succeeded", fake.succeed(intent_id))
    assert response.json()["outcome"] == "applied", response.text
    return order, intent_id


async def cancel(client: AsyncTestClient[Any], shop: Shop, order_id: str) -> None:
    response = await client.post(
        f"/api/v1/orders/{order_id}/cancel", json={"reason": "买错了"}, headers=shop.buyer.headers
    )
    assert response.status_code == 200, response.text


async def test_cancelling_a_paid_stripe_order_records_a_pending_refund_not_yet_sent(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given an order paid with Stripe
    order, _intent_id = await paid_with_stripe(client, shop, fake_stripe)

    # When the buyer cancels it
    await cancel(client, shop, order["id"])

    # Then a refund of the whole order waits to be sent, and Stripe has not been asked yet
    assert [(r[1], r[2], r[3]) for r in await refunds_of(db, order["id"])] == [(7980, "pending", None)]
    assert fake_stripe.seen("POST", "/v1/refunds") == []


async def test_the_refund_sender_sends_a_pending_refund_under_its_own_key(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given a cancelled paid Stripe order with its refund pending
    order, intent_id = await paid_with_stripe(client, shop, fake_stripe)
    await cancel(client, shop, order["id"])
    [(refund_id, *_rest)] = await refunds_of(db, order["id"])

    # When the refund sender runs
    sent = await send_pending_refunds(client)

    # Then Stripe refunded the whole intent under the refund's deterministic key
    assert sent == 1
    assert refunds_at_stripe(fake_stripe) == [(intent_id, 7980, refund_id)]
    assert {c.idempotency_key for c in fake_stripe.seen("POST", "/v1/refunds")} == {
        f"coopmarket-refund-{refund_id}"
    }
    stripe_refund_id = next(iter(fake_stripe.refunds))
    assert await refunds_of(db, order["id"]) == [(refund_id, 7980, "succeeded", stripe_refund_id)]


async def test_running_the_refund_sender_again_sends_nothing_more(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given a refund already sent
    order, _intent_id = await paid_with_stripe(client, shop, fake_stripe)
    await cancel(client, shop, order["id"])
    assert await send_pending_refunds(client) == 1

    # When the sender runs again
    sent = await send_pending_refunds(client)

    # Then nothing is sent twice
    assert sent == 0
    assert len(fake_stripe.refunds) == 1


async def test_the_books_balance_after_a_stripe_payment_and_its_refund(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given an order paid with Stripe
    order, _intent_id = await paid_with_stripe(client, shop, fake_stripe)

    # When it is cancelled and refunded through Stripe
    await cancel(client, shop, order["id"])
    await send_pending_refunds(client)

    # Then the payment and the refund are posted, and every account is back to zero
    assert await ledger_kinds(db, order["id"]) == ["payment_received", "refund"]
    assert await balances(db) == {"cash:stripe": 0, f"escrow:coop:{shop.cooperative['id']}": 0}
    assert await trial_balance(db) == 0


async def test_an_offline_refund_is_left_for_people_to_hand_back(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given an order paid offline and then cancelled
    order = await place_stripe_order(client, shop)
    response = await client.post(
        f"/api/v1/orders/{order['id']}/offline-payments",
        json={"reference": "BANK-0001", "amount_fen": order["total_fen"]},
        headers=shop.staff.headers,
    )
    assert response.status_code == 201, response.text
    await cancel(client, shop, order["id"])

    # When the refund sender runs
    sent = await send_pending_refunds(client)

    # Then Stripe is not asked and the refund stays pending
    assert sent == 0
    assert fake_stripe.requests == []
    assert [(r[1], r[2]) for r in await refunds_of(db, order["id"])] == [(7980, "pending")]


async def test_a_refund_confirmed_later_by_webhook_is_marked_succeeded(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given a refund Stripe accepted as pending
    order, _intent_id = await paid_with_stripe(client, shop, fake_stripe)
    await cancel(client, shop, order["id"])
    fake_stripe.refund_status = "pending"
    await send_pending_refunds(client)
    [stripe_refund] = fake_stripe.refunds.values()
    assert [r[2] for r in await refunds_of(db, order["id"])] == ["pending"]

    # When Stripe reports it succeeded
    response = await deliver_event(
        client, fake_stripe, "refund.updated", {**stripe_refund, "status": "succeeded"}
    )

    # Then our refund is succeeded
    assert response.status_code == 200, response.text
    assert [(r[2], r[3]) for r in await refunds_of(db, order["id"])] == [("succeeded", stripe_refund["id"])]


async def test_a_refund_reported_failed_is_marked_failed(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given a refund Stripe accepted as pending
    order, _intent_id = await paid_with_stripe(client, shop, fake_stripe)
    await cancel(client, shop, order["id"])
    fake_stripe.refund_status = "pending"
    await send_pending_refunds(client)
    [stripe_refund] = fake_stripe.refunds.values()

    # When Stripe reports that it failed
    response = await deliver_event(
        client, fake_stripe, "refund.failed", {**stripe_refund, "status": "failed"}
    )

    # Then our refund is failed (for a person to hand back)
    assert response.status_code == 200, response.text
    assert [r[2] for r in await refunds_of(db, order["id"])] == ["failed"]
