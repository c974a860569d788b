"""Request and response shapes for payments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from coopmarket.core.text import Text

ProviderName = Literal["offline", "stripe", "wechat_pay"]


class StartPaymentIn(msgspec.Struct, forbid_unknown_fields=True):
    """Which provider to pay with (``method``, API.md's name, or ``provider``); the order's own when omitted.

    ``wechat_pay`` answers ``next_action.request_payment``: the ``wx.requestPayment`` parameters.
    """

    method: ProviderName | None = None
    provider: ProviderName | None = None

    @property
    def chosen(self) -> str | None:
        return self.method or self.provider


class PaymentStartOut(msgspec.Struct):
    provider: str
    status: str
    client_secret: str | None
    next_action: dict[str, Any] | None
    amount_fen: int
    currency: str = "cny"


# Far above any order total (10 million yuan per SKU line), far inside 64 bits.
MAX_PAYMENT_FEN = 10**12


class OfflinePaymentIn(msgspec.Struct, forbid_unknown_fields=True):
    reference: Annotated[
        Text, Meta(min_length=1, max_length=128, description="Bank slip, receipt or voucher number")
    ]
    amount_fen: Annotated[int, Meta(ge=1, le=MAX_PAYMENT_FEN)]
    hold_for_refund: Annotated[
        bool,
        Meta(
            description="The money really arrived, but for an order that expired (or was cancelled): "
            "record it, hold it in suspense and refund it in full (an outstanding offline refund). "
            "Without it such a payment is refused (409 `order_expired`, `order_not_payable`)."
        ),
    ] = False


class PaymentOut(msgspec.Struct):
    id: str
    order_id: str
    provider: str
    status: str
    amount_fen: int
    reference: str | None
    created_at: datetime
    order_status: str
    # With ``hold_for_refund``: the outstanding offline refund of the money held.
    refund_id: str | None = None


class HandedBackIn(msgspec.Struct, forbid_unknown_fields=True):
    reference: Annotated[
        Text,
        Meta(min_length=1, max_length=128, description="Bank transfer, receipt or voucher number of the pay-back"),
    ]


RefundListState = Literal["outstanding", "failed"]


class PaymentRefundOut(msgspec.Struct):
    """Money going back to a buyer, as the payments slice holds it.

    ``status``: ``pending`` (offline: not handed back yet; provider: not confirmed yet),
    ``succeeded`` (handed back, or confirmed by the provider) or ``failed`` (the provider could
    not pay it; its posting was reversed and the amount can be refunded again).
    """

    id: str
    order_id: str
    part_id: str | None
    cooperative_id: str | None
    provider: str
    amount_fen: int
    status: str
    reason: str | None
    created_at: datetime
    provider_ref: str | None = None
    handed_back_reference: str | None = None
    handed_back_by: str | None = None
    handed_back_at: datetime | None = None
    failed_at: datetime | None = None
    failure_reason: str | None = None


class PaymentRefundList(msgspec.Struct):
    items: list[PaymentRefundOut]
    next_cursor: str | None


class ReconciliationItemOut(msgspec.Struct):
    """One finding: ``action`` says what the run changed (``none``: a person must look)."""

    id: str
    kind: str
    provider_ref: str
    order_id: str | None
    refund_id: str | None
    amount_fen: int
    finding: str
    action: str
    detail: str | None


class ReconciliationRunOut(msgspec.Struct):
    id: str
    provider: str
    trigger: str
    window_start: datetime
    window_end: datetime
    started_at: datetime
    finished_at: datetime
    payments_seen: int
    refunds_seen: int
    repaired: int
    needs_attention: int
    items: list[ReconciliationItemOut] | None = None


class ReconciliationRunList(msgspec.Struct):
    items: list[ReconciliationRunOut]
    next_cursor: str | None


MerchantNumber = Annotated[
    str, Meta(pattern=r"^[0-9]{8,32}(?!\n)$", description="A WeChat Pay merchant number (digits)")
]


class SubMerchantIn(msgspec.Struct, forbid_unknown_fields=True):
    """WeChat Pay partner mode: the cooperative's sub-merchant and what it authorised.

    ``collective_mchid`` null: the village collective has no merchant number, its share stays
    payable on the ledger.
    """

    sub_mchid: MerchantNumber
    max_ratio_bps: Annotated[int, Meta(ge=0, le=10_000, description="The profit-sharing ratio it authorised (bps)")]
    collective_mchid: MerchantNumber | None = None


class SubMerchantOut(msgspec.Struct):
    cooperative_id: str
    sub_mchid: str
    max_ratio_bps: int
    collective_mchid: str | None
    updated_at: datetime
