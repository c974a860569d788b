"""Double-entry ledger: append-only transactions and their postings.

Sign convention: a posting's ``amount_fen`` is positive for a debit and negative for a credit,
so every transaction's postings sum to zero. The ledger service refuses an unbalanced
transaction before writing; PostgreSQL re-checks at commit with a deferred constraint trigger;
both databases refuse UPDATE and DELETE on postings (see the migration).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Index, text
from sqlmodel import Field, SQLModel

from coopmarket.core.models import id_field, money_field, ref_field, time_field

# Transactions of related-party orders are rare: a partial index keeps the reports' look-up of
# them cheap without adding to every other posting.
# (SQLite stores booleans as 0/1 and uses a partial index only for a query term it matches.)
RELATED_PARTY_WHERE_PG = text("is_related_party")
RELATED_PARTY_WHERE_SQLITE = text("is_related_party = 1")


class LedgerTransaction(SQLModel, table=True):
    __tablename__ = "ledger_transaction"
    __table_args__ = (
        Index(
            "ix_ledger_transaction_related_party",
            "occurred_at",
            postgresql_where=RELATED_PARTY_WHERE_PG,
            sqlite_where=RELATED_PARTY_WHERE_SQLITE,
        ),
    )

    id: str = id_field()
    kind: str = Field(max_length=32, index=True)
    # One business event posts once: the unique key makes a second attempt fail at the database.
    dedupe_key: str = Field(max_length=128, unique=True)
    order_id: str | None = ref_field(nullable=True)
    cooperative_id: str | None = ref_field(nullable=True, index=False)
    memo: str | None = Field(default=None, max_length=500)
    occurred_at: datetime = time_field(index=True)
    # The business event concerns an order whose buyer manages the selling cooperative.
    is_related_party: bool = Field(default=False)


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


class CollectiveIncomeMonth(SQLModel, table=True):
    """Net collective income per village, local month and category: a rollup of the postings to
    ``collective_income:{village}:{category}``, kept by ``ledger.service.post`` in the same
    transaction as the postings it sums (an upsert), so the reports read a few rows per village
    and month instead of every posting. ``month`` is the first day of the month in
    ``ledger.service.ROLLUP_TIMEZONE``. Amounts are income (credits) as positive fen;
    ``related_party_fen`` is the part posted by related-party transactions."""

    __tablename__ = "collective_income_month"

    month: date = Field(primary_key=True)
    village_code: str = Field(primary_key=True, max_length=12)
    category: str = Field(primary_key=True, max_length=32)
    amount_fen: int = money_field(default=0)
    related_party_fen: int = money_field(default=0)
