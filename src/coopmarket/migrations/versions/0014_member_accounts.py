"""Member accounts (Farmers' Professional Cooperatives Law Art. 41-43): SKUs and batches name their
supplying member, order lines copy it at checkout (null: a non-member transaction).

Revision ID: 0014_member_accounts
Revises: 0011_money_operators
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_member_accounts"
down_revision: str | None = "0011_money_operators"
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


def upgrade() -> None:
    _attribution_columns("sku", "supplier_member_id")
    _attribution_columns("order_line", "member_id")


def downgrade() -> None:
    for table, member_column in (("order_line", "member_id"), ("sku", "supplier_member_id")):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"fk_{table}_batch_id_product_batch"), type_="foreignkey")
            batch.drop_constraint(op.f(f"fk_{table}_{member_column}_cooperative_member"), type_="foreignkey")
            batch.drop_column("batch_id")
            batch.drop_column(member_column)
