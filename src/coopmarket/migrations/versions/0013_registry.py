"""The registry the district runs: registry and seller identity fields on cooperatives (E-commerce
Law Art. 27, with a re-verification date), brand licences suspended with their cooperative, and
rural communities grouping villages.

Revision ID: 0013_registry
Revises: 0014_member_accounts
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_registry"
down_revision: str | None = "0014_member_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COOPERATIVE_COLUMNS = (
    ("contact_phone", sa.String(length=20)),
    ("business_scope", sa.String(length=1000)),
    ("legal_representative", sa.String(length=64)),
    ("registered_address", sa.String(length=300)),
    ("administrative_licences", sa.String(length=1000)),
    ("identity_verified_on", sa.Date()),
    ("reverify_due_on", sa.Date()),
)


def upgrade() -> None:
    # Nullable columns (and a constant default) are added in place on SQLite: no table rebuild.
    for name, type_ in _COOPERATIVE_COLUMNS:
        op.add_column("cooperative", sa.Column(name, type_, nullable=True))
    op.create_index(op.f("ix_cooperative_reverify_due_on"), "cooperative", ["reverify_due_on"], unique=False)
    op.add_column(
        "brand_licence",
        sa.Column("suspended_with_cooperative", sa.Boolean(), nullable=False, server_default="0"),
    )
    op.add_column("region", sa.Column("community_code", sa.String(length=12), nullable=True))
    op.create_index(op.f("ix_region_community_code"), "region", ["community_code"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_region_community_code"), table_name="region")
    with op.batch_alter_table("region") as batch:
        batch.drop_column("community_code")
    with op.batch_alter_table("brand_licence") as batch:
        batch.drop_column("suspended_with_cooperative")
    op.drop_index(op.f("ix_cooperative_reverify_due_on"), table_name="cooperative")
    with op.batch_alter_table("cooperative") as batch:
        for name, _ in reversed(_COOPERATIVE_COLUMNS):
            batch.drop_column(name)
