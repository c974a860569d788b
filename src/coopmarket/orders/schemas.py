"""Request and response shapes for orders."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from coopmarket.core.phone import PHONE_PATTERN
from coopmarket.core.text import MultilineText, Name, Text

PaymentMethod = Literal["offline", "stripe", "wechat_pay"]


class OrderLineIn(msgspec.Struct, forbid_unknown_fields=True):
    sku_id: Annotated[Text, Meta(min_length=1, max_length=26)]
    quantity: Annotated[int, Meta(ge=1, le=10_000)]


class ShippingAddressIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[Name, Meta(min_length=1, max_length=64)]
    phone: Annotated[str, Meta(pattern=PHONE_PATTERN)]
    detail: Annotated[Text, Meta(min_length=1, max_length=500)]
    region_code: Annotated[Text, Meta(min_length=6, max_length=12)]


class PlaceOrderIn(msgspec.Struct, forbid_unknown_fields=True):
    lines: Annotated[list[OrderLineIn], Meta(min_length=1, max_length=50)]
    shipping_address: ShippingAddressIn
    payment_method: PaymentMethod = "offline"
    note: Annotated[MultilineText, Meta(max_length=500)] | None = None


class ShipIn(msgspec.Struct, forbid_unknown_fields=True):
    carrier: Annotated[Text, Meta(min_length=1, max_length=64)]
    tracking_number: Annotated[Text, Meta(min_length=1, max_length=64)]


class CancelIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[MultilineText, Meta(max_length=500)] | None = None


class OrderLineOut(msgspec.Struct):
    sku_id: str
    product_id: str
    product_name: str
    sku_spec: str
    quantity: int
    unit_price_fen: int
    line_total_fen: int
    member_id: Annotated[
        str | None, Meta(description="The supplying member of the cooperative; null: a non-member transaction (Art. 41)")
    ] = None


class OrderPartOut(msgspec.Struct):
    id: str
    cooperative_id: str
    status: str
    subtotal_fen: int
    refunded_fen: int
    carrier: str | None
    tracking_number: str | None
    shipped_at: datetime | None
    received_at: datetime | None
    lines: list[OrderLineOut]
    # The buyer managed this part's cooperative when ordering: its payment, receipt and refunds are staff's.
    is_related_party: bool = False


class ShippingAddressOut(msgspec.Struct):
    name: str
    phone: str
    detail: str
    region_code: str


class PaymentSummary(msgspec.Struct):
    provider: str
    status: str
    amount_fen: int
    succeeded_at: datetime | None = None


class OrderOut(msgspec.Struct):
    id: str
    status: str
    total_fen: int
    paid_fen: int
    refunded_fen: int
    payment_method: str
    expires_at: datetime
    created_at: datetime
    parts: list[OrderPartOut]
    payment: PaymentSummary | None
    shipping_address: ShippingAddressOut | None
    note: str | None
    cancel_reason: str | None = None
    # The buyer managed a cooperative selling in this order when it was placed (see ``orders.duties``).
    is_related_party: bool = False


class OrderList(msgspec.Struct):
    items: list[OrderOut]
    next_cursor: str | None


class OrderForPayment(msgspec.Struct, frozen=True):
    """What the payments slice needs to know about an order."""

    id: str
    buyer_id: str
    status: str
    total_fen: int
    paid_fen: int
    payment_method: str
    expires_at: datetime
    cooperative_ids: tuple[str, ...]
    village_codes: tuple[str, ...]
    is_related_party: bool = False
    # Each part's id and related-party flag, in the order of ``cooperative_ids``.
    part_ids: tuple[str, ...] = ()
    related_parts: tuple[bool, ...] = ()


MAX_REFUND_FEN = 10**12
# ``failed``: approved, but the provider could not pay it back; the amount can be refunded again.
RefundStatus = Literal["requested", "approved", "rejected", "failed"]


class RefundIn(msgspec.Struct, forbid_unknown_fields=True):
    part_id: Annotated[Text, Meta(min_length=1, max_length=26)]
    amount_fen: Annotated[int, Meta(ge=1, le=MAX_REFUND_FEN)]
    reason: Annotated[MultilineText, Meta(min_length=1, max_length=500)]


class RejectRefundIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[MultilineText, Meta(min_length=1, max_length=500)]


class RefundOut(msgspec.Struct):
    id: str
    order_id: str
    part_id: str
    amount_fen: int
    reason: str
    status: RefundStatus
    requested_by: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None


class RefundList(msgspec.Struct):
    items: list[RefundOut]


JsonDict = dict[str, Any]


class PhoneRevealOut(msgspec.Struct):
    """The buyer's full shipping phone for a courier waybill (PIPL: each reveal is audited)."""

    order_id: str
    part_id: str
    shipping_name: str
    shipping_phone: str
    revealed_at: datetime
