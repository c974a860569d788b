"""Fixtures of the fault tests: the fake Stripe server of the payment tests."""

from __future__ import annotations

from tests.payments.conftest import fake_stripe, fake_stripe_server

__all__ = ["fake_stripe", "fake_stripe_server"]
