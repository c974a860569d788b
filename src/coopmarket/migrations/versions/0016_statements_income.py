"""Village collective income recorded by staff (non-sales income categories).

Revision ID: 0016_statements_income
Revises: 0011_money_operators
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import coopmarket.core.types

revision: str = "0016_statements_income"
down_revision: str | None = "0011_money_operators"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "collective_income_record",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("village_code", sa.String(length=12), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("document_ref", sa.String(length=100), nullable=False),
        sa.Column("ledger_transaction_id", sa.String(length=26), nullable=False),
        sa.Column("recorded_by", sa.String(length=26), nullable=False),
        sa.Column("recorded_at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reversal_transaction_id", sa.String(length=26), nullable=True),
        sa.Column("reversal_reason", sa.String(length=500), nullable=True),
        sa.Column("reversed_by", sa.String(length=26), nullable=True),
        sa.Column("reversed_at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_collective_income_record_amount_positive")),
        sa.ForeignKeyConstraint(
            ["ledger_transaction_id"],
            ["ledger_transaction.id"],
            name=op.f("fk_collective_income_record_ledger_transaction_id_ledger_transaction"),
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["user_account.id"],
            name=op.f("fk_collective_income_record_recorded_by_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["reversal_transaction_id"],
            ["ledger_transaction.id"],
            name=op.f("fk_collective_income_record_reversal_transaction_id_ledger_transaction"),
        ),
        sa.ForeignKeyConstraint(
            ["reversed_by"],
            ["user_account.id"],
            name=op.f("fk_collective_income_record_reversed_by_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["village_code"], ["region.code"], name=op.f("fk_collective_income_record_village_code_region")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collective_income_record")),
    )
    op.create_index(
        "ix_collective_income_record_village",
        "collective_income_record",
        ["village_code", "occurred_on", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_collective_income_record_village", table_name="collective_income_record")
    op.drop_table("collective_income_record")
