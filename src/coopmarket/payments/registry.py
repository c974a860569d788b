"""The app's payment providers: built from settings with their clients, closed at shut-down."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from coopmarket.payments.offline import OfflineProvider
from coopmarket.payments.providers import OFFLINE, STRIPE, WECHAT_PAY, PaymentProvider
from coopmarket.payments.stripe_provider import open_stripe
from coopmarket.payments.wechat_provider import open_wechat_pay
from coopmarket.settings import Settings


class PaymentProviders:
    """The app's enabled providers by name."""

    def __init__(self, providers: Mapping[str, PaymentProvider]) -> None:
        self._providers = dict(providers)

    def get(self, name: str) -> PaymentProvider | None:
        return self._providers.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._providers

    @property
    def names(self) -> list[str]:
        return sorted(self._providers)

    @property
    def keeping_records(self) -> list[str]:
        """Names of the providers with records of their own to reconcile ours with."""
        return sorted(name for name, p in self._providers.items() if p.keeps_records)

    @property
    def querying(self) -> list[str]:
        """Names of the providers queried one payment at a time (they cannot list by time)."""
        return sorted(name for name, p in self._providers.items() if p.can_query)

    @property
    def sending_refunds(self) -> list[str]:
        """Names of the providers whose refunds are sent through their API."""
        return sorted(name for name, p in self._providers.items() if p.sends_refunds)


@asynccontextmanager
async def open_providers(
    settings: Settings, *, stripe_http_client: Any = None, wechat_pay_transport: Any = None
) -> AsyncIterator[PaymentProviders]:
    """The providers ``settings`` enable, with their clients; the clients are closed on exit.

    ``stripe_http_client``: a stand-in transport for tests (then its owner closes it);
    ``wechat_pay_transport``: an ``httpx`` transport for tests (a fake WeChat Pay).
    """
    async with AsyncExitStack() as stack:
        enabled: dict[str, PaymentProvider] = {}
        for name in settings.payment_providers:
            if name == OFFLINE:
                enabled[name] = OfflineProvider()
            elif name == STRIPE:
                enabled[name] = await stack.enter_async_context(open_stripe(settings, stripe_http_client))
            elif name == WECHAT_PAY:
                enabled[name] = await stack.enter_async_context(open_wechat_pay(settings, wechat_pay_transport))
        yield PaymentProviders(enabled)
