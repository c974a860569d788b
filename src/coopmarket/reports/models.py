"""Village collective income recorded by staff (income that does not come from platform sales).

The money is in the ledger (``collective_income:{village}:{category}`` against
``collective_funds:{village}``); this row keeps what the ledger does not: the source, the
document, who recorded it, and its reversal. A record is never edited: the reversal columns are
set once (a conditional UPDATE), together with a reversing ledger entry.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Column, Index, LargeBinary, text
from sqlmodel import Field, SQLModel

from coopmarket.core.models import id_field, money_field, ref_field, time_field


class CollectiveIncomeRecord(SQLModel, table=True):
    __tablename__ = "collective_income_record"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        Index("ix_collective_income_record_village", "village_code", "occurred_on", "id"),
    )

    id: str = id_field()
    village_code: str = Field(max_length=12, foreign_key="region.code", index=False)
    category: str = Field(max_length=32)
    amount_fen: int = money_field()
    occurred_on: date
    source: str = Field(max_length=100)
    document_ref: str = Field(max_length=100)
    ledger_transaction_id: str = ref_field(foreign_key="ledger_transaction.id", index=False)
    recorded_by: str = ref_field(foreign_key="user_account.id", index=False)
    recorded_at: datetime = time_field()
    reversal_transaction_id: str | None = ref_field(
        foreign_key="ledger_transaction.id", nullable=True, index=False
    )
    reversal_reason: str | None = Field(default=None, max_length=500)
    reversed_by: str | None = ref_field(foreign_key="user_account.id", nullable=True, index=False)
    reversed_at: datetime | None = time_field(nullable=True)


class SurplusDistribution(SQLModel, table=True):
    """A cooperative's surplus distribution for a year (Art. 42-44): drafted by its managers, then
    confirmed once (posted to the ledger, member accounts credited). A confirmed one is never
    changed; one confirmed distribution per cooperative and year (a partial unique index)."""

    __tablename__ = "surplus_distribution"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'confirmed')", name="status_known"),
        CheckConstraint("patronage_return_bps BETWEEN 6000 AND 10000", name="patronage_min"),
        CheckConstraint("reserve_rate_bps BETWEEN 0 AND 10000", name="reserve_bps"),
        CheckConstraint("surplus_fen > 0", name="surplus_positive"),
        CheckConstraint(
            "reserve_fen + patronage_pool_fen + capital_pool_fen = surplus_fen", name="pools_sum"
        ),
        Index("ix_surplus_distribution_coop_year", "cooperative_id", "year"),
        Index(
            "uq_surplus_distribution_confirmed_year",
            "cooperative_id",
            "year",
            unique=True,
            sqlite_where=text("status = 'confirmed'"),
            postgresql_where=text("status = 'confirmed'"),
        ),
    )

    id: str = id_field()
    cooperative_id: str = ref_field(foreign_key="cooperative.id", index=False)
    year: int
    status: str = Field(max_length=16)
    surplus_source: str = Field(max_length=16)  # ledger | entered
    surplus_reason: str | None = Field(default=None, max_length=500)
    surplus_fen: int = money_field()
    reserve_rate_bps: int
    patronage_return_bps: int
    reserve_fen: int = money_field()
    distributable_fen: int = money_field()
    patronage_pool_fen: int = money_field()
    capital_pool_fen: int = money_field()
    created_by: str = ref_field(foreign_key="user_account.id", index=False)
    created_at: datetime = time_field()
    confirmed_by: str | None = ref_field(foreign_key="user_account.id", nullable=True, index=False)
    confirmed_at: datetime | None = time_field(nullable=True)
    ledger_transaction_id: str | None = ref_field(
        foreign_key="ledger_transaction.id", nullable=True, index=False
    )


class SurplusDistributionLine(SQLModel, table=True):
    """One member's part of a distribution, fixed when drafted."""

    __tablename__ = "surplus_distribution_line"

    distribution_id: str = Field(primary_key=True, max_length=26, foreign_key="surplus_distribution.id")
    member_id: str = Field(primary_key=True, max_length=26, foreign_key="cooperative_member.id")
    member_kind: str = Field(max_length=32)
    transaction_volume_fen: int = money_field()
    capital_basis_fen: int = money_field()
    patronage_return_fen: int = money_field()
    capital_return_fen: int = money_field()
    reserve_share_fen: int = money_field()
    total_fen: int = money_field()


class Disclosure(SQLModel, table=True):
    """A village's figures for a month or quarter, frozen when published (村务公开, Art. 30).

    ``canonical`` holds the figures as canonical JSON bytes and ``content_hash`` their SHA-256.
    The database refuses UPDATE and DELETE of a row (triggers of migration 0019), so a published
    disclosure never changes; a correction is a new row naming the one it corrects (``corrects``,
    unique: each is corrected at most once). One original per village and period (a partial
    unique index)."""

    __tablename__ = "disclosure"
    __table_args__ = (
        CheckConstraint("period_to >= period_from", name="period_order"),
        Index("ix_disclosure_village", "village_code", "published_at", "id"),
        Index(
            "uq_disclosure_original",
            "village_code",
            "period",
            unique=True,
            sqlite_where=text("corrects IS NULL"),
            postgresql_where=text("corrects IS NULL"),
        ),
    )

    id: str = id_field()
    village_code: str = Field(max_length=12, foreign_key="region.code", index=False)
    period: str = Field(max_length=7)  # 2026-10 or 2026-Q3
    period_from: date
    period_to: date
    published_at: datetime = time_field()
    published_by: str = ref_field(foreign_key="user_account.id", index=False)
    corrects: str | None = Field(
        default=None, max_length=26, foreign_key="disclosure.id", unique=True, nullable=True
    )
    content_hash: str = Field(max_length=64)
    canonical: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))


class DisclosureMessage(SQLModel, table=True):
    """A message the public leaves on a disclosure: shown once village or street staff approve it.
    Decided once (a conditional UPDATE from ``pending``)."""

    __tablename__ = "disclosure_message"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status_known"),
        Index("ix_disclosure_message_disclosure", "disclosure_id", "status", "id"),
    )

    id: str = id_field()
    disclosure_id: str = ref_field(foreign_key="disclosure.id", index=False)
    author_name: str = Field(max_length=40)
    text: str = Field(max_length=1000)
    status: str = Field(max_length=16)
    created_at: datetime = time_field()
    decided_by: str | None = ref_field(foreign_key="user_account.id", nullable=True, index=False)
    decided_at: datetime | None = time_field(nullable=True)
    reject_reason: str | None = Field(default=None, max_length=500)
