"""Payments through a provider (offline or Stripe) and the provider events applied."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint
from sqlmodel import Field, SQLModel

from coopmarket.core.models import id_field, money_field, ref_field, time_field


class Payment(SQLModel, table=True):
    __tablename__ = "payment"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_positive"),)

    id: str = id_field()
    order_id: str = ref_field(foreign_key="orders.id")
    provider: str = Field(max_length=16)  # offline | stripe
    # requires_payment | processing | succeeded | canceled | failed
    status: str = Field(max_length=24)
    amount_fen: int = money_field()
    currency: str = Field(default="cny", max_length=3)
    provider_ref: str | None = Field(default=None, max_length=255, unique=True)
    reference: str | None = Field(default=None, max_length=255)  # offline: bank slip, receipt no.
    recorded_by: str | None = ref_field(foreign_key="user_account.id", nullable=True, index=False)
    created_at: datetime = time_field()
    succeeded_at: datetime | None = time_field(nullable=True)


class ProviderEvent(SQLModel, table=True):
    """A webhook event id seen once: the primary key makes each event apply exactly once."""

    __tablename__ = "provider_event"

    id: str = Field(primary_key=True, max_length=255)
    provider: str = Field(max_length=16)
    type: str = Field(max_length=64)
    received_at: datetime = time_field()


class PaymentRefund(SQLModel, table=True):
    __tablename__ = "payment_refund"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_positive"),)

    id: str = id_field()
    payment_id: str = ref_field(foreign_key="payment.id")
    order_id: str = ref_field(foreign_key="orders.id")
    part_id: str | None = ref_field(foreign_key="order_part.id", nullable=True, index=False)
    amount_fen: int = money_field()
    status: str = Field(max_length=24)  # pending | succeeded | failed
    provider_ref: str | None = Field(default=None, max_length=255)
    reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = time_field()
