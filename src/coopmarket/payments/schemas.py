"""Request and response shapes for payments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from coopmarket.core.text import Text


class StartPaymentIn(msgspec.Struct, forbid_unknown_fields=True):
    """Which provider to pay with; the order's own method when omitted."""

    provider: Literal["offline", "stripe"] | None = None


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


class PaymentOut(msgspec.Struct):
    id: str
    order_id: str
    provider: str
    status: str
    amount_fen: int
    reference: str | None
    created_at: datetime
    order_status: str
