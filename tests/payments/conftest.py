"""Fixtures of the payment tests: a local fake Stripe server and an app with Stripe enabled."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.payments.fake_stripe import SECRET_KEY, WEBHOOK_SECRET, FakeStripe


@pytest.fixture(scope="session")
def fake_stripe_server() -> Iterator[FakeStripe]:
    """One fake Stripe server on 127.0.0.1 for the whole session."""
    fake = FakeStripe().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_stripe(fake_stripe_server: FakeStripe) -> FakeStripe:
    """The fake, emptied for this test."""
    fake_stripe_server.reset()
    return fake_stripe_server


@pytest.fixture
def settings_overrides(fake_stripe: FakeStripe) -> dict[str, Any]:
    """Stripe enabled next to offline payments, pointed at the fake."""
    return {
        "payment_providers": ["offline", "stripe"],
        "stripe_secret_key": SECRET_KEY,
        "stripe_webhook_secret": WEBHOOK_SECRET,
        "stripe_api_base": fake_stripe.url,
    }
