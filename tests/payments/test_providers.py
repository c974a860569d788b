"""The payment providers are built with their clients in the app's lifespan and closed at shut-down."""

from __future__ import annotations

from typing import Any

import pytest
import stripe
from litestar.testing import AsyncTestClient

from coopmarket.app import create_app
from coopmarket.payments.offline import OfflineProvider
from coopmarket.payments.stripe_provider import StripeProvider
from coopmarket.settings import Settings


async def test_the_app_opens_one_stripe_client_and_closes_it_when_it_stops(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[Any] = []
    closed: list[Any] = []

    class RecordingHttpClient(stripe.HTTPXClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            opened.append(self)

        async def close_async(self) -> None:
            closed.append(self)
            await super().close_async()

    monkeypatch.setattr(stripe, "HTTPXClient", RecordingHttpClient)
    app = create_app(settings)

    # Given the app running with Stripe enabled (tests/payments/conftest.py)
    async with AsyncTestClient(app=app):
        providers = app.state.payment_providers
        # Then each enabled provider is there once, Stripe with the one client opened at start-up
        assert providers.names == ["offline", "stripe"]
        assert isinstance(providers.get("offline"), OfflineProvider)
        assert isinstance(providers.get("stripe"), StripeProvider)
        assert providers.sending_refunds == ["stripe"]
        assert len(opened) == 1 and closed == []

    # And when it stops, that client is closed
    assert closed == opened
