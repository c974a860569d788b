"""Double-entry ledger: append-only transactions and their postings.

Sign convention: a posting's ``amount_fen`` is positive for a debit and negative for a credit,
so every transaction's postings sum to zero. The ledger service refuses an unbalanced
transaction before writing; PostgreSQL re-checks at commit with a deferred constraint trigger;
both databases refuse UPDATE and DELETE on postings (see the migration).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index
from sqlmodel import Field, SQLModel

from coopmarket.core.models import id_field, money_field, ref_field, time_field


class LedgerTransaction(SQLModel, table=True):
    __tablename__ = "ledger_transaction"

    id: str = id_field()
    kind: str = Field(max_length=32, index=True)
    # One business event posts once: the unique key makes a second attempt fail at the database.
    dedupe_key: str = Field(max_length=128, unique=True)
    order_id: str | None = ref_field(nullable=True)
    cooperative_id: str | None = ref_field(nullable=True, index=False)
    memo: str | None = Field(default=None, max_length=500)
    occurred_at: datetime = time_field(index=True)


class LedgerPosting(SQLModel, table=True):
    __tablename__ = "ledger_posting"
    __table_args__ = (
        CheckConstraint("amount_fen <> 0", name="nonzero"),
        Index("ix_posting_account_time", "account", "occurred_at"),
    )

    id: str = id_field()
    transaction_id: str = ref_field(foreign_key="ledger_transaction.id")
    account: str = Field(max_length=128)
    amount_fen: int = money_field()
    occurred_at: datetime = time_field(default_now=False)
