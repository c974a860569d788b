"""Stripe timing out: each call is retried with the same idempotency key, the buyer is told to retry
(503), and however many times the request reached Stripe, the order has one PaymentIntent and is
never charged twice."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from tests.faults.flaky_proxy import FlakyProxy
from tests.payments.builders import build_shop, payments_of, place_stripe_order
from tests.payments.fake_stripe import SECRET_KEY, WEBHOOK_SECRET, FakeStripe

TIMEOUT = 0.5


@pytest.fixture
def stripe_proxy(fake_stripe: FakeStripe) -> Iterator[FlakyProxy]:
    proxy = FlakyProxy(fake_stripe.url).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def settings_overrides(stripe_proxy: FlakyProxy) -> dict[str, Any]:
    """Stripe through the proxy, with a short timeout and two retries per call."""
    return {
        "payment_providers": ["offline", "stripe"],
        "stripe_secret_key": SECRET_KEY,
        "stripe_webhook_secret": WEBHOOK_SECRET,
        "stripe_api_base": stripe_proxy.url,
        "stripe_timeout_seconds": TIMEOUT,
        "stripe_max_network_retries": 2,
    }


async def test_stripe_timing_out_is_retried_with_the_same_key_and_never_charges_twice(
    client: AsyncTestClient[Any], db: Database, fake_stripe: FakeStripe, stripe_proxy: FlakyProxy
) -> None:
    # Given an unpaid order, and Stripe answering only after the client gave up waiting
    shop = await build_shop(client, db)
    order = await place_stripe_order(client, shop)
    stripe_proxy.delay_seconds = TIMEOUT * 3
    headers = {**shop.buyer.headers, "Idempotency-Key": "start-pay-timeout-1"}

    # When the buyer starts paying
    slow = await client.post(f"/api/v1/orders/{order['id']}/payments", json={}, headers=headers)

    # Then the call was tried three times (the first and two retries) and the buyer is told to retry
    assert stripe_proxy.requests == 3
    assert slow.status_code == 503, slow.text
    assert slow.json()["code"] == "payment_provider_unavailable"
    assert await payments_of(db, order["id"]) == []

    # When Stripe answers in time again and the buyer retries with the same key
    stripe_proxy.delay_seconds = 0
    retry = await client.post(f"/api/v1/orders/{order['id']}/payments", json={}, headers=headers)

    # Then the payment starts, on the one PaymentIntent every attempt named: Stripe holds exactly one
    assert retry.status_code == 200, retry.text
    assert retry.json()["client_secret"]
    intents = [i for i in fake_stripe.intents.values() if i["metadata"].get("order_id") == order["id"]]
    assert len(intents) == 1, intents
    [payment] = await payments_of(db, order["id"])
    assert payment[2] == order["total_fen"]
