"""Member accounts (Farmers' Professional Cooperatives Law Art. 41-43): SKUs and batches name their
supplying member, order lines copy it at checkout (null: a non-member transaction); capital history
entries carry their delta and are append-only; members may record an ID number; the charter may cap
one member's share of capital; reserve shares and returns are credited to member accounts.

Revision ID: 0014_member_accounts
Revises: 0012_outbox_jobs
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import coopmarket.core.types

revision: str = "0014_member_accounts"
down_revision: str | None = "0012_outbox_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _attribution_columns(table: str, member_column: str) -> None:
    # Batch mode: SQLite adds a foreign key only by rebuilding the table (neither table has triggers).
    with op.batch_alter_table(table) as batch:
        batch.add_column(sa.Column(member_column, sa.String(length=26), nullable=True))
        batch.add_column(sa.Column("batch_id", sa.String(length=26), nullable=True))
        batch.create_foreign_key(
            op.f(f"fk_{table}_{member_column}_cooperative_member"), "cooperative_member", [member_column], ["id"]
        )
        batch.create_foreign_key(op.f(f"fk_{table}_batch_id_product_batch"), "product_batch", ["batch_id"], ["id"])


APPEND_ONLY = ("member_capital_change", "member_account_entry")


def _pg_guard(table: str) -> str:
    # audit_refuse_change() is migration 0008's: it refuses any UPDATE or DELETE.
    return (
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"
    )


def _sqlite_guards(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_no_{op_name.lower()} BEFORE {op_name} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} rows are append-only'); END"
        for op_name in ("UPDATE", "DELETE")
    ]


def upgrade() -> None:
    _attribution_columns("sku", "supplier_member_id")
    _attribution_columns("order_line", "member_id")

    op.add_column("cooperative", sa.Column("member_capital_cap_bps", sa.Integer(), nullable=True))
    op.add_column("cooperative_member", sa.Column("id_number", sa.String(length=18), nullable=True))
    # A constant default lets SQLite add the columns in place; existing entries get their delta.
    op.add_column(
        "member_capital_change", sa.Column("delta_fen", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.add_column("member_capital_change", sa.Column("reason", sa.String(length=500), nullable=True))
    op.execute("UPDATE member_capital_change SET delta_fen = new_capital_fen - old_capital_fen")

    op.create_table(
        "member_account_entry",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=False),
        sa.Column("cooperative_id", sa.String(length=26), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("source_id", sa.String(length=64), nullable=True),
        sa.Column("at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('reserve_share', 'return')", name=op.f("ck_member_account_entry_kind_known")),
        sa.ForeignKeyConstraint(
            ["member_id"], ["cooperative_member.id"], name=op.f("fk_member_account_entry_member_id_cooperative_member")
        ),
        sa.ForeignKeyConstraint(
            ["cooperative_id"], ["cooperative.id"], name=op.f("fk_member_account_entry_cooperative_id_cooperative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_account_entry")),
    )
    op.create_index("ix_member_account_entry_member", "member_account_entry", ["member_id", "kind", "at"])

    postgres = op.get_bind().dialect.name == "postgresql"
    for table in APPEND_ONLY:
        for statement in [_pg_guard(table)] if postgres else _sqlite_guards(table):
            op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in APPEND_ONLY:
        if postgres:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        else:
            op.execute(f"DROP TRIGGER {table}_no_update")
            op.execute(f"DROP TRIGGER {table}_no_delete")
    op.drop_index("ix_member_account_entry_member", table_name="member_account_entry")
    op.drop_table("member_account_entry")
    op.drop_column("member_capital_change", "reason")
    op.drop_column("member_capital_change", "delta_fen")
    op.drop_column("cooperative_member", "id_number")
    op.drop_column("cooperative", "member_capital_cap_bps")
    for table, member_column in (("order_line", "member_id"), ("sku", "supplier_member_id")):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"fk_{table}_batch_id_product_batch"), type_="foreignkey")
            batch.drop_constraint(op.f(f"fk_{table}_{member_column}_cooperative_member"), type_="foreignkey")
            batch.drop_column("batch_id")
            batch.drop_column(member_column)
