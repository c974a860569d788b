"""When Stripe refuses or cannot be reached, starting a payment answers 503 and records nothing."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from tests.payments.builders import Shop, build_shop, payments_of, place_stripe_order, start_payment
from tests.payments.fake_stripe import WEBHOOK_SECRET, FakeStripe


@pytest.fixture
def settings_overrides(fake_stripe: FakeStripe) -> dict[str, Any]:
    """Stripe enabled with a key the fake refuses (as Stripe does a revoked key)."""
    return {
        "payment_providers": ["offline", "stripe"],
        "stripe_secret_key": "sk_live_revoked",
        "stripe_webhook_secret": WEBHOOK_SECRET,
        "stripe_api_base": fake_stripe.url,
    }


@pytest.fixture
async def shop(client: AsyncTestClient[Any], db: Database) -> Shop:
    return await build_shop(client, db)


async def test_a_refusing_provider_answers_503_and_records_no_payment(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given an unpaid order, and Stripe refusing our key
    order = await place_stripe_order(client, shop)

    # When the buyer starts paying
    response = await start_payment(client, shop.buyer, order["id"])

    # Then the provider's failure is reported and no payment is recorded
    assert response.status_code == 503
    assert response.json()["code"] == "payment_provider_unavailable"
    assert len(fake_stripe.seen("POST", "/v1/payment_intents")) == 1
    assert fake_stripe.intents == {}
    assert await payments_of(db, order["id"]) == []
