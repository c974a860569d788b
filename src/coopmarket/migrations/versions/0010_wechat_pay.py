"""WeChat Pay partner mode: each cooperative's sub-merchant, and the profit sharing of settled parts.

Revision ID: 0010_wechat_pay
Revises: 0016_statements_income
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import coopmarket.core.types

revision: str = "0010_wechat_pay"
down_revision: str | None = "0016_statements_income"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wechat_sub_merchant",
        sa.Column("cooperative_id", sa.String(length=26), nullable=False),
        sa.Column("sub_mchid", sa.String(length=32), nullable=False),
        sa.Column("max_ratio_bps", sa.Integer(), nullable=False),
        sa.Column("collective_mchid", sa.String(length=32), nullable=True),
        sa.Column("updated_by", sa.String(length=26), nullable=True),
        sa.Column("updated_at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cooperative_id"], ["cooperative.id"], name=op.f("fk_wechat_sub_merchant_cooperative_id_cooperative")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["user_account.id"], name=op.f("fk_wechat_sub_merchant_updated_by_user_account")
        ),
        sa.PrimaryKeyConstraint("cooperative_id", name=op.f("pk_wechat_sub_merchant")),
    )
    op.create_table(
        "profit_sharing",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("part_id", sa.String(length=26), nullable=False),
        sa.Column("payment_id", sa.String(length=26), nullable=False),
        sa.Column("out_order_no", sa.String(length=64), nullable=False),
        sa.Column("sub_mchid", sa.String(length=32), nullable=False),
        sa.Column("settled_fen", sa.BigInteger(), nullable=False),
        sa.Column("platform_fen", sa.BigInteger(), nullable=False),
        sa.Column("collective_fen", sa.BigInteger(), nullable=False),
        sa.Column("sent_fen", sa.BigInteger(), nullable=False),
        sa.Column("kept_payable_fen", sa.BigInteger(), nullable=False),
        sa.Column("platform_mchid", sa.String(length=32), nullable=True),
        sa.Column("platform_sent_fen", sa.BigInteger(), nullable=False),
        sa.Column("collective_mchid", sa.String(length=32), nullable=True),
        sa.Column("collective_sent_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("wechat_order_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["part_id"], ["order_part.id"], name=op.f("fk_profit_sharing_part_id_order_part")),
        sa.ForeignKeyConstraint(["payment_id"], ["payment.id"], name=op.f("fk_profit_sharing_payment_id_payment")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profit_sharing")),
        sa.UniqueConstraint("part_id", name=op.f("uq_profit_sharing_part_id")),
        sa.UniqueConstraint("out_order_no", name=op.f("uq_profit_sharing_out_order_no")),
    )
    op.create_index(op.f("ix_profit_sharing_payment_id"), "profit_sharing", ["payment_id"], unique=False)
    op.create_table(
        "profit_sharing_return",
        sa.Column("out_return_no", sa.String(length=64), nullable=False),
        sa.Column("refund_id", sa.String(length=26), nullable=False),
        sa.Column("part_id", sa.String(length=26), nullable=False),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("created_at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["refund_id"], ["payment_refund.id"], name=op.f("fk_profit_sharing_return_refund_id_payment_refund")
        ),
        sa.ForeignKeyConstraint(
            ["part_id"], ["order_part.id"], name=op.f("fk_profit_sharing_return_part_id_order_part")
        ),
        sa.PrimaryKeyConstraint("out_return_no", name=op.f("pk_profit_sharing_return")),
    )
    op.create_index(
        op.f("ix_profit_sharing_return_refund_id"), "profit_sharing_return", ["refund_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_profit_sharing_return_refund_id"), table_name="profit_sharing_return")
    op.drop_table("profit_sharing_return")
    op.drop_index(op.f("ix_profit_sharing_payment_id"), table_name="profit_sharing")
    op.drop_table("profit_sharing")
    op.drop_table("wechat_sub_merchant")
