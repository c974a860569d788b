"""Idempotency claims carry a lease, so a key whose owner died can be taken over.

Revision ID: 0003_idempotency_lease
Revises: 0009_village_assets_contracts
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import coopmarket.core.types

revision: str = "0003_idempotency_lease"
down_revision: str | None = "0009_village_assets_contracts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Claims in progress before this revision have no lease: they count as expired (their process
    # is gone: the service was restarted to deploy this).
    with op.batch_alter_table("idempotency_key", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("claim_token", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=True)
        )
        batch_op.add_column(
            sa.Column("lease_expires_at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("idempotency_key", schema=None) as batch_op:
        batch_op.drop_column("lease_expires_at")
        batch_op.drop_column("claim_token")
