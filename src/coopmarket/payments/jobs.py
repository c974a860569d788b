"""Background jobs of the payments slice: the Stripe client's life and the refund sender."""

from __future__ import annotations

import asyncio
import logging

from coopmarket.core.jobs import every
from coopmarket.db import Database
from coopmarket.settings import Settings

log = logging.getLogger(__name__)


async def run_refund_sender(db: Database, settings: Settings) -> None:
    """Every few seconds, send pending Stripe refunds (safe on many workers: one key per refund)."""
    from coopmarket.payments import stripe_provider

    await every(
        settings.expiry_sweep_interval_seconds,
        "send Stripe refunds",
        lambda: stripe_provider.execute_pending_refunds(db, settings),
    )


def start_stripe(db: Database, settings: Settings, *, http_client: object = None) -> list[asyncio.Task[None]]:
    """Open the app's Stripe client and, when background jobs run, start the refund sender."""
    from coopmarket.payments import stripe_provider

    stripe_provider.open_client(settings, http_client)  # type: ignore[arg-type]
    if not settings.run_background_jobs:
        return []
    return [asyncio.create_task(run_refund_sender(db, settings))]


async def stop_stripe(settings: Settings) -> None:
    """Close the app's Stripe client (after its background tasks were cancelled)."""
    from coopmarket.payments import stripe_provider

    await stripe_provider.close_client(settings)
