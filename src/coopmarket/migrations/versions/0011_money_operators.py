"""Money operators and separation of duties: offline refunds handed back, failed refunds,
reconciliation runs, and related-party orders flagged on orders, parts and ledger transactions.

Revision ID: 0011_money_operators
Revises: 0003_idempotency_lease
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import coopmarket.core.types

revision: str = "0011_money_operators"
down_revision: str | None = "0003_idempotency_lease"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RELATED_PARTY_WHERE_PG = sa.text("is_related_party")
RELATED_PARTY_WHERE_SQLITE = sa.text("is_related_party = 1")
# Migration 0002's guards on ledger_transaction: SQLite's batch mode rebuilds the table to drop a
# column, and the rebuilt table has no triggers until they are made again.
SQLITE_TRANSACTION_GUARDS = [
    """CREATE TRIGGER ledger_transaction_no_update BEFORE UPDATE ON ledger_transaction
       BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only'); END""",
    """CREATE TRIGGER ledger_transaction_no_delete BEFORE DELETE ON ledger_transaction
       BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only'); END""",
]


def upgrade() -> None:
    for table in ("orders", "order_part", "ledger_transaction"):
        # A constant default lets SQLite add the column in place (a rebuilt table would lose
        # ledger_transaction's append-only triggers); '0' reads as false on both databases.
        op.add_column(table, sa.Column("is_related_party", sa.Boolean(), nullable=False, server_default="0"))
    op.create_index(
        "ix_ledger_transaction_related_party",
        "ledger_transaction",
        ["occurred_at"],
        unique=False,
        postgresql_where=RELATED_PARTY_WHERE_PG,
        sqlite_where=RELATED_PARTY_WHERE_SQLITE,
    )

    with op.batch_alter_table("payment_refund") as batch:
        batch.add_column(sa.Column("cooperative_id", sa.String(length=26), nullable=True))
        batch.add_column(sa.Column("region_code", sa.String(length=12), nullable=True))
        batch.add_column(sa.Column("handed_back_reference", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("handed_back_by", sa.String(length=26), nullable=True))
        batch.add_column(
            sa.Column("handed_back_at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("failed_at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("failure_reason", sa.String(length=500), nullable=True))
        batch.create_foreign_key(
            op.f("fk_payment_refund_handed_back_by_user_account"), "user_account", ["handed_back_by"], ["id"]
        )
        batch.create_index("ix_payment_refund_status", ["status", "id"], unique=False)

    op.create_table(
        "reconciliation_run",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("window_start", coopmarket.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("window_end", coopmarket.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("payments_seen", sa.Integer(), nullable=False),
        sa.Column("refunds_seen", sa.Integer(), nullable=False),
        sa.Column("repaired", sa.Integer(), nullable=False),
        sa.Column("needs_attention", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_run")),
    )
    op.create_index("ix_reconciliation_run_provider", "reconciliation_run", ["provider", "id"], unique=False)
    op.create_table(
        "reconciliation_item",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("run_id", sa.String(length=26), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("provider_ref", sa.String(length=255), nullable=False),
        sa.Column("order_id", sa.String(length=26), nullable=True),
        sa.Column("refund_id", sa.String(length=26), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("finding", sa.String(length=48), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["reconciliation_run.id"],
            name=op.f("fk_reconciliation_item_run_id_reconciliation_run"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_item")),
    )
    op.create_index(op.f("ix_reconciliation_item_run_id"), "reconciliation_item", ["run_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_reconciliation_item_run_id"), table_name="reconciliation_item")
    op.drop_table("reconciliation_item")
    op.drop_index("ix_reconciliation_run_provider", table_name="reconciliation_run")
    op.drop_table("reconciliation_run")
    with op.batch_alter_table("payment_refund") as batch:
        batch.drop_index("ix_payment_refund_status")
        batch.drop_constraint(op.f("fk_payment_refund_handed_back_by_user_account"), type_="foreignkey")
        for column in (
            "failure_reason",
            "failed_at",
            "handed_back_at",
            "handed_back_by",
            "handed_back_reference",
            "region_code",
            "cooperative_id",
        ):
            batch.drop_column(column)
    op.drop_index("ix_ledger_transaction_related_party", table_name="ledger_transaction")
    for table in ("ledger_transaction", "order_part", "orders"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("is_related_party")
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_TRANSACTION_GUARDS:
            op.execute(statement)
