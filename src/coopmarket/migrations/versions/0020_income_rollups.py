"""Collective income per village, local month and category (a rollup of the ledger's postings to
``collective_income:{village}:{category}``), backfilled from the postings already there.

Revision ID: 0020_income_rollups
Revises: 0019_disclosures
"""

from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision: str = "0020_income_rollups"
down_revision: str | None = "0019_disclosures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# ledger.service.ROLLUP_TIMEZONE, frozen here as it was when this migration was written.
_ZONE = ZoneInfo("Asia/Shanghai")
_PREFIX = "collective_income:"
_CATEGORIES = {"operating_income", "contracting_income", "investment_income", "subsidy_income", "other_income"}


def _month(value: object) -> date:
    if isinstance(value, str):  # SQLite returns text for a raw select
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    if value.tzinfo is None:  # stored as UTC
        value = value.replace(tzinfo=ZoneInfo("UTC"))
    return value.astimezone(_ZONE).date().replace(day=1)


def upgrade() -> None:
    table = op.create_table(
        "collective_income_month",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("village_code", sa.String(length=12), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("related_party_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("month", "village_code", "category", name=op.f("pk_collective_income_month")),
    )
    # Backfill: the same sums ledger.service.post keeps from now on. A posting's month is its
    # local (Asia/Shanghai) month; only well-formed collective-income accounts count.
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT p.account, p.occurred_at, p.amount_fen, t.is_related_party"
            " FROM ledger_posting p JOIN ledger_transaction t ON t.id = p.transaction_id"
            " WHERE p.account LIKE 'collective_income:%'"
        )
    )
    sums: dict[tuple[date, str, str], list[int]] = {}
    for account, occurred_at, amount_fen, related in rows:
        village_code, sep, category = account[len(_PREFIX) :].partition(":")
        if not sep or len(village_code) != 12 or not village_code.isdigit() or category not in _CATEGORIES:
            continue
        key = (_month(occurred_at), village_code, category)
        total = sums.setdefault(key, [0, 0])
        total[0] -= int(amount_fen)
        if related:
            total[1] -= int(amount_fen)
    values = [
        {"month": m, "village_code": v, "category": c, "amount_fen": a, "related_party_fen": r}
        for (m, v, c), (a, r) in sorted(sums.items())
        if a or r
    ]
    for start in range(0, len(values), 1000):
        op.bulk_insert(table, values[start : start + 1000])


def downgrade() -> None:
    op.drop_table("collective_income_month")
