"""Orders, one part per cooperative, and their lines (prices frozen at placement)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index
from sqlmodel import Field, SQLModel

from coopmarket.core.models import id_field, money_field, ref_field, time_field


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("total_fen > 0", name="total_positive"),
        CheckConstraint("paid_fen >= 0 AND refunded_fen >= 0 AND refunded_fen <= paid_fen", name="money"),
        Index("ix_orders_status_expires", "status", "expires_at"),
        Index("ix_orders_buyer_id", "buyer_id", "id"),
    )

    id: str = id_field()
    buyer_id: str = ref_field(foreign_key="user_account.id", index=False)
    status: str = Field(max_length=24)  # pending_payment | paid | completed | cancelled
    total_fen: int = money_field()
    paid_fen: int = money_field(default=0)
    refunded_fen: int = money_field(default=0)
    payment_method: str = Field(max_length=16)  # offline | stripe
    shipping_name: str = Field(max_length=64)
    shipping_phone: str = Field(max_length=20)
    shipping_detail: str = Field(max_length=500)
    shipping_region_code: str = Field(max_length=12, foreign_key="region.code")
    note: str | None = Field(default=None, max_length=500)
    expires_at: datetime = time_field(default_now=False)
    created_at: datetime = time_field()
    updated_at: datetime = time_field()
    paid_at: datetime | None = time_field(nullable=True)
    cancelled_at: datetime | None = time_field(nullable=True)
    cancel_reason: str | None = Field(default=None, max_length=500)
    # The buyer managed a cooperative selling in this order when it was placed (self-dealing risk).
    is_related_party: bool = Field(default=False)


class OrderPart(SQLModel, table=True):
    __tablename__ = "order_part"
    __table_args__ = (
        CheckConstraint("subtotal_fen > 0", name="subtotal_positive"),
        Index("ix_order_part_coop", "cooperative_id", "order_id"),
    )

    id: str = id_field()
    order_id: str = ref_field(foreign_key="orders.id")
    cooperative_id: str = ref_field(foreign_key="cooperative.id", index=False)
    status: str = Field(max_length=24)  # pending_payment | paid | shipped | received | cancelled | refunded
    subtotal_fen: int = money_field()
    refunded_fen: int = money_field(default=0)
    # What the part's settlement split when it was received (subtotal less earlier refunds).
    settled_fen: int = money_field(default=0)
    # Snapshots taken at placement, so that settlement is reproducible whatever changes later.
    village_code: str = Field(max_length=12)
    collective_sales_share_bps: int
    platform_fee_bps: int
    carrier: str | None = Field(default=None, max_length=64)
    tracking_number: str | None = Field(default=None, max_length=64)
    shipped_at: datetime | None = time_field(nullable=True)
    received_at: datetime | None = time_field(nullable=True)
    # The buyer managed this part's cooperative when the order was placed: its payment, receipt
    # and refunds are left to staff, and its postings are flagged for the income reports.
    is_related_party: bool = Field(default=False)


class OrderLine(SQLModel, table=True):
    __tablename__ = "order_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("line_total_fen = quantity * unit_price_fen", name="line_total"),
    )

    id: str = id_field()
    order_id: str = ref_field(foreign_key="orders.id")
    part_id: str = ref_field(foreign_key="order_part.id")
    sku_id: str = ref_field(foreign_key="sku.id")
    product_id: str = ref_field(index=False)
    product_name: str = Field(max_length=100)
    sku_spec: str = Field(max_length=100)
    category: str = Field(max_length=32)
    quantity: int
    unit_price_fen: int = money_field()
    line_total_fen: int = money_field()
    # The supplying member, copied at checkout from the SKU (or its batch); ``None`` is a
    # non-member transaction (Art. 41 keeps the two apart). The batch the line was sold from.
    member_id: str | None = ref_field(foreign_key="cooperative_member.id", nullable=True, index=False)
    batch_id: str | None = ref_field(foreign_key="product_batch.id", nullable=True, index=False)


class RefundRequest(SQLModel, table=True):
    """A refund of (part of) a paid order part: requested by the buyer, decided by its cooperative or staff.

    Its id is also the ``PaymentRefund``'s id and the ledger's dedupe key (``refund:{id}``).
    """

    __tablename__ = "refund_request"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        Index("ix_refund_request_part_status", "part_id", "status"),
    )

    id: str = id_field()
    order_id: str = ref_field(foreign_key="orders.id")
    part_id: str = ref_field(foreign_key="order_part.id", index=False)
    amount_fen: int = money_field()
    reason: str = Field(max_length=500)
    status: str = Field(max_length=16)  # requested | approved | rejected | failed
    requested_by: str = ref_field(foreign_key="user_account.id", index=False)
    decided_by: str | None = ref_field(foreign_key="user_account.id", nullable=True, index=False)
    decided_at: datetime | None = time_field(nullable=True)
    decision_reason: str | None = Field(default=None, max_length=500)
    # What an executed refund of a received part took back from each share of its settlement.
    reversed_fee_fen: int = money_field(default=0)
    reversed_collective_fen: int = money_field(default=0)
    reversed_coop_fen: int = money_field(default=0)
    created_at: datetime = time_field()
