"""Offline payments: bank transfer, or cash at delivery or pickup, recorded by a manager or staff.

A real provider, not a stand-in: starting a payment gives the buyer instructions; the money is
recorded when it arrives (``flows.payment.record_offline_payment``); refunds are handed back by
the cooperative or staff, so they stay ``pending`` here and are never sent anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from coopmarket.payments.errors import ProviderNotEnabled
from coopmarket.payments.providers import (
    OFFLINE,
    ListedPayment,
    ListedRefund,
    NoQueries,
    ProviderEvent,
    RefundOrder,
    RefundSent,
    Started,
    StartRequest,
    Window,
)

INSTRUCTIONS = (
    "Pay the cooperative by bank transfer, or in cash at delivery or pickup; "
    "the cooperative or district staff then record the payment."
)


class OfflineProvider(NoQueries):
    """Money received outside the platform."""

    name = OFFLINE
    sends_refunds = False
    keeps_records = False

    async def start(self, request: StartRequest) -> Started:
        """Instructions for paying; nothing is recorded until the money arrives."""
        return Started(
            provider=OFFLINE,
            provider_ref=None,
            status=None,
            amount_fen=request.amount_fen,
            received_fen=0,
            client_status="requires_offline_payment",
            client_secret=None,
            next_action={
                "type": "offline_payment",
                "amount_fen": request.amount_fen,
                "reference": request.order_id,
                "pay_before": request.pay_before.isoformat(),
                "instructions": INSTRUCTIONS,
            },
        )

    async def refund(self, request: RefundOrder) -> RefundSent:
        """Never called (``sends_refunds`` is false): people hand offline money back."""
        raise NotImplementedError("offline refunds are handed back by the cooperative or staff")

    def parse_event(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """Offline money sends no callbacks."""
        raise ProviderNotEnabled("Offline payments have no callbacks.")

    async def list_payments(self, window: Window) -> Sequence[ListedPayment]:
        """Nothing to list: offline money is known only from what people recorded."""
        return ()

    async def list_refunds(self, window: Window) -> Sequence[ListedRefund]:
        """Nothing to list: offline refunds are handed back by people."""
        return ()
