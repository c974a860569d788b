"""Payments through a provider (offline or Stripe), the provider events applied, refunds, and the
reconciliation runs that compare a provider's records with ours."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index
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
    """Money going back to a buyer: ``pending`` until the provider confirms (or, offline, until a
    person records that it was handed back), then ``succeeded``; ``failed`` when the provider could
    not pay it (its ledger posting is then reversed, see ``refunds.reverse_failed_refund``)."""

    __tablename__ = "payment_refund"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        Index("ix_payment_refund_status", "status", "id"),
    )

    id: str = id_field()
    payment_id: str = ref_field(foreign_key="payment.id")
    order_id: str = ref_field(foreign_key="orders.id")
    part_id: str | None = ref_field(foreign_key="order_part.id", nullable=True, index=False)
    amount_fen: int = money_field()
    status: str = Field(max_length=24)  # pending | succeeded | failed
    provider_ref: str | None = Field(default=None, max_length=255)
    reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = time_field()
    # The part's cooperative and village when the refund was recorded (scope of its audit entries).
    cooperative_id: str | None = ref_field(nullable=True, index=False)
    region_code: str | None = Field(default=None, max_length=12)
    # An offline refund handed back to the buyer: by whom, when, with which slip or receipt.
    handed_back_reference: str | None = Field(default=None, max_length=128)
    handed_back_by: str | None = ref_field(foreign_key="user_account.id", nullable=True, index=False)
    handed_back_at: datetime | None = time_field(nullable=True)
    # A provider refund that failed (its posting reversed): when, and what the provider said.
    failed_at: datetime | None = time_field(nullable=True)
    failure_reason: str | None = Field(default=None, max_length=500)


class ReconciliationRun(SQLModel, table=True):
    """One comparison of a provider's payments and refunds created in ``[window_start, window_end)``
    with ours: what it looked at, what it repaired, and what a person must look at."""

    __tablename__ = "reconciliation_run"
    __table_args__ = (Index("ix_reconciliation_run_provider", "provider", "id"),)

    id: str = id_field()
    provider: str = Field(max_length=16)
    trigger: str = Field(max_length=16)  # job | cli
    window_start: datetime = time_field(default_now=False)
    window_end: datetime = time_field(default_now=False)
    started_at: datetime = time_field()
    finished_at: datetime = time_field()
    payments_seen: int = 0
    refunds_seen: int = 0
    repaired: int = 0
    needs_attention: int = 0


class ReconciliationItem(SQLModel, table=True):
    """One finding of a run: a payment or refund whose state differed, and what the run did about it."""

    __tablename__ = "reconciliation_item"

    id: str = id_field()
    run_id: str = ref_field(foreign_key="reconciliation_run.id")
    kind: str = Field(max_length=16)  # payment | refund
    provider_ref: str = Field(max_length=255)
    order_id: str | None = ref_field(nullable=True, index=False)
    refund_id: str | None = ref_field(nullable=True, index=False)
    amount_fen: int = money_field(default=0)
    finding: str = Field(max_length=48)
    action: str = Field(max_length=32)  # what changed; ``none`` when a person must look
    detail: str | None = Field(default=None, max_length=500)


class WechatSubMerchant(SQLModel, table=True):
    """WeChat Pay partner mode: a cooperative's sub-merchant number, the profit-sharing ratio it
    authorised, and its village collective's merchant number (none: its share stays payable)."""

    __tablename__ = "wechat_sub_merchant"

    cooperative_id: str = Field(primary_key=True, max_length=26, foreign_key="cooperative.id")
    sub_mchid: str = Field(max_length=32)
    max_ratio_bps: int = Field(default=3000, ge=0, le=10_000)
    collective_mchid: str | None = Field(default=None, max_length=32)
    updated_by: str | None = ref_field(foreign_key="user_account.id", nullable=True, index=False)
    updated_at: datetime = time_field()


class ProfitSharing(SQLModel, table=True):
    """One settled part's profit-sharing order (``out_order_no`` unique: sent once), and what it sent."""

    __tablename__ = "profit_sharing"

    id: str = id_field()
    part_id: str = Field(max_length=26, unique=True, foreign_key="order_part.id")
    payment_id: str = ref_field(foreign_key="payment.id")
    out_order_no: str = Field(max_length=64, unique=True)
    sub_mchid: str = Field(max_length=32)
    settled_fen: int = money_field(default=0)
    platform_fen: int = money_field(default=0)
    collective_fen: int = money_field(default=0)
    sent_fen: int = money_field(default=0)
    kept_payable_fen: int = money_field(default=0)
    # Each receiver's account and amount as sent (the claw-back of a later refund works from them).
    platform_mchid: str | None = Field(default=None, max_length=32)
    platform_sent_fen: int = money_field(default=0)
    collective_mchid: str | None = Field(default=None, max_length=32)
    collective_sent_fen: int = money_field(default=0)
    status: str = Field(max_length=16)  # pending | sent
    wechat_order_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = time_field()
    sent_at: datetime | None = time_field(nullable=True)


class ProfitSharingReturn(SQLModel, table=True):
    """A claw-back from one receiver of a part's profit sharing, for a refund after settlement."""

    __tablename__ = "profit_sharing_return"

    out_return_no: str = Field(primary_key=True, max_length=64)
    refund_id: str = ref_field(foreign_key="payment_refund.id")
    part_id: str = ref_field(foreign_key="order_part.id", index=False)
    account: str = Field(max_length=32)
    amount_fen: int = money_field()
    result: str = Field(max_length=16)  # pending | PROCESSING | SUCCESS | FAILED
    created_at: datetime = time_field()
