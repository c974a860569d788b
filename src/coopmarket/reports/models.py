"""Village collective income recorded by staff (income that does not come from platform sales).

The money is in the ledger (``collective_income:{village}:{category}`` against
``collective_funds:{village}``); this row keeps what the ledger does not: the source, the
document, who recorded it, and its reversal. A record is never edited: the reversal columns are
set once (a conditional UPDATE), together with a reversing ledger entry.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Index
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
