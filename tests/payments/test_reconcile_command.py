"""``coopmarket reconcile``: the same reconciliation by hand, for any window, printing what changed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.cli import EXIT_NEEDS_ATTENTION, main
from coopmarket.core import clock
from coopmarket.db import Database
from coopmarket.settings import Settings, get_settings
from tests.payments.builders import (
    Shop,
    build_shop,
    deliver_event,
    get_order,
    ledger_kinds,
    place_stripe_order,
    started_intent,
)
from tests.payments.fake_stripe import SECRET_KEY, WEBHOOK_SECRET, FakeStripe


@pytest.fixture
async def shop(client: AsyncTestClient[Any], db: Database) -> Shop:
    return await build_shop(client, db)


@pytest.fixture(autouse=True)
def _environment(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, fake_stripe: FakeStripe
) -> Iterator[None]:
    """The command reads COOPMARKET_* variables: the test's database and the fake Stripe."""
    values = {
        "ENVIRONMENT": "test",
        "DATABASE_URL": settings.database_url,
        "JWT_SECRET": settings.jwt_secret.get_secret_value(),
        "RUN_BACKGROUND_JOBS": "false",
        "PAYMENT_PROVIDERS": '["offline","stripe"]',
        "STRIPE_SECRET_KEY": SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": fake_stripe.url,
        "STORAGE_LOCAL_DIR": settings.storage_local_dir,
    }
    for name, value in values.items():
        monkeypatch.setenv(f"COOPMARKET_{name}", value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def run(*args: str) -> int:
    """The command, on a thread of its own (it runs its own event loop)."""
    return await asyncio.to_thread(main, ["reconcile", *args])


def window_args() -> list[str]:
    now = clock.now()
    return [
        "--since",
        (now - timedelta(hours=1)).isoformat(timespec="seconds"),
        "--until",
        (now + timedelta(minutes=1)).isoformat(timespec="seconds"),
    ]


async def test_the_command_repairs_a_missed_payment_and_prints_it(
    client: AsyncTestClient[Any],
    db: Database,
    shop: Shop,
    fake_stripe: FakeStripe,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a payment that succeeded at Stripe and never reached us
    order = await place_stripe_order(client, shop)
    intent_id = await started_intent(client, shop, order["id"])
    fake_stripe.succeed(intent_id)

    # When an operator reconciles the last hour
    status = await run("--provider", "stripe", *window_args())

    # Then the order is paid once, and the output says what changed
    out = capsys.readouterr().out
    assert status == 0, out
    assert "1 payment(s) and 0 refund(s) at stripe, 1 repaired, 0 need a person" in out
    assert f"applied            payment {intent_id} order {order['id']} 7980 fen: payment_not_applied" in out
    assert (await get_order(client, shop.buyer, order["id"]))["status"] == "paid"
    assert await ledger_kinds(db, order["id"]) == ["payment_received"]


async def test_a_difference_for_a_person_gives_its_own_exit_status(
    client: AsyncTestClient[Any], shop: Shop, fake_stripe: FakeStripe, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a paid order someone refunded in part from Stripe's dashboard
    order = await place_stripe_order(client, shop)
    intent_id = await started_intent(client, shop, order["id"])
    await deliver_event(client, fake_stripe, "payment_intent.succeeded", fake_stripe.succeed(intent_id))
    fake_stripe.refund_outside(intent_id, 500)

    status = await run("--provider", "stripe", *window_args())

    out = capsys.readouterr().out
    assert status == EXIT_NEEDS_ATTENTION, out
    assert "0 repaired, 1 need a person" in out
    assert "refund_not_ours" in out


async def test_offline_money_has_nothing_to_reconcile(capsys: pytest.CaptureFixture[str]) -> None:
    status = await run("--provider", "offline")

    assert status == 2
    assert "offline has no records to reconcile" in capsys.readouterr().err


async def test_a_window_that_ends_before_it_starts_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    status = await run("--provider", "stripe", "--since", "2026-04-02", "--until", "2026-04-01")

    assert status == 2
    assert "--since must be before --until" in capsys.readouterr().err


async def test_a_provider_not_enabled_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COOPMARKET_PAYMENT_PROVIDERS", '["offline"]')

    status = await run("--provider", "stripe")

    assert status == 2
    assert "stripe is not enabled" in capsys.readouterr().err
