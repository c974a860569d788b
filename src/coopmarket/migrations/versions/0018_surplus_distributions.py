"""Surplus distributions (Art. 42-44): drafts and confirmed distributions with each member's part.

Revision ID: 0018_surplus_distributions
Revises: 0015_catalogue_versions
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import coopmarket.core.types

revision: str = "0018_surplus_distributions"
down_revision: str | None = "0015_catalogue_versions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "surplus_distribution",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("cooperative_id", sa.String(length=26), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("surplus_source", sa.String(length=16), nullable=False),
        sa.Column("surplus_reason", sa.String(length=500), nullable=True),
        sa.Column("surplus_fen", sa.BigInteger(), nullable=False),
        sa.Column("reserve_rate_bps", sa.Integer(), nullable=False),
        sa.Column("patronage_return_bps", sa.Integer(), nullable=False),
        sa.Column("reserve_fen", sa.BigInteger(), nullable=False),
        sa.Column("distributable_fen", sa.BigInteger(), nullable=False),
        sa.Column("patronage_pool_fen", sa.BigInteger(), nullable=False),
        sa.Column("capital_pool_fen", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=26), nullable=False),
        sa.Column("created_at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("confirmed_by", sa.String(length=26), nullable=True),
        sa.Column("confirmed_at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ledger_transaction_id", sa.String(length=26), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'confirmed')", name=op.f("ck_surplus_distribution_status_known")
        ),
        sa.CheckConstraint(
            "patronage_return_bps BETWEEN 6000 AND 10000", name=op.f("ck_surplus_distribution_patronage_min")
        ),
        sa.CheckConstraint(
            "reserve_rate_bps BETWEEN 0 AND 10000", name=op.f("ck_surplus_distribution_reserve_bps")
        ),
        sa.CheckConstraint("surplus_fen > 0", name=op.f("ck_surplus_distribution_surplus_positive")),
        sa.CheckConstraint(
            "reserve_fen + patronage_pool_fen + capital_pool_fen = surplus_fen",
            name=op.f("ck_surplus_distribution_pools_sum"),
        ),
        sa.ForeignKeyConstraint(
            ["cooperative_id"],
            ["cooperative.id"],
            name=op.f("fk_surplus_distribution_cooperative_id_cooperative"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["user_account.id"], name=op.f("fk_surplus_distribution_created_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["confirmed_by"],
            ["user_account.id"],
            name=op.f("fk_surplus_distribution_confirmed_by_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["ledger_transaction_id"],
            ["ledger_transaction.id"],
            name=op.f("fk_surplus_distribution_ledger_transaction_id_ledger_transaction"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surplus_distribution")),
    )
    op.create_index("ix_surplus_distribution_coop_year", "surplus_distribution", ["cooperative_id", "year"])
    op.create_index(
        "uq_surplus_distribution_confirmed_year",
        "surplus_distribution",
        ["cooperative_id", "year"],
        unique=True,
        sqlite_where=sa.text("status = 'confirmed'"),
        postgresql_where=sa.text("status = 'confirmed'"),
    )
    op.create_table(
        "surplus_distribution_line",
        sa.Column("distribution_id", sa.String(length=26), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=False),
        sa.Column("member_kind", sa.String(length=32), nullable=False),
        sa.Column("transaction_volume_fen", sa.BigInteger(), nullable=False),
        sa.Column("capital_basis_fen", sa.BigInteger(), nullable=False),
        sa.Column("patronage_return_fen", sa.BigInteger(), nullable=False),
        sa.Column("capital_return_fen", sa.BigInteger(), nullable=False),
        sa.Column("reserve_share_fen", sa.BigInteger(), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["distribution_id"],
            ["surplus_distribution.id"],
            name=op.f("fk_surplus_distribution_line_distribution_id_surplus_distribution"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["cooperative_member.id"],
            name=op.f("fk_surplus_distribution_line_member_id_cooperative_member"),
        ),
        sa.PrimaryKeyConstraint("distribution_id", "member_id", name=op.f("pk_surplus_distribution_line")),
    )


def downgrade() -> None:
    op.drop_table("surplus_distribution_line")
    op.drop_index("uq_surplus_distribution_confirmed_year", table_name="surplus_distribution")
    op.drop_index("ix_surplus_distribution_coop_year", table_name="surplus_distribution")
    op.drop_table("surplus_distribution")
