"""The outbox of domain events, webhook subscriptions and their deliveries.

Revision ID: 0012_outbox_jobs
Revises: 0010_wechat_pay
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import coopmarket.core.types

revision: str = "0012_outbox_jobs"
down_revision: str | None = "0010_wechat_pay"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox_event",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("occurred_at", coopmarket.core.types.UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_event")),
    )
    op.create_index(op.f("ix_outbox_event_occurred_at"), "outbox_event", ["occurred_at"], unique=False)
    op.create_index(op.f("ix_outbox_event_kind"), "outbox_event", ["kind"], unique=False)
    op.create_index("ix_outbox_event_entity", "outbox_event", ["entity", "entity_id", "id"], unique=False)

    op.create_table(
        "webhook_subscription",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("kinds", sa.String(length=1024), nullable=False),
        sa.Column("secret_sealed", sa.String(length=512), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=26), nullable=False),
        sa.Column("created_at", coopmarket.core.types.UTCDateTime(), nullable=False),
        sa.Column("deleted_at", coopmarket.core.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscription")),
    )

    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("subscription_id", sa.String(length=26), nullable=False),
        sa.Column("event_id", sa.String(length=26), nullable=False),
        sa.Column("entity_key", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", coopmarket.core.types.UTCDateTime(), nullable=False),
        sa.Column("lease_token", sa.String(length=26), nullable=True),
        sa.Column("lease_until", coopmarket.core.types.UTCDateTime(), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("delivered_at", coopmarket.core.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", coopmarket.core.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_delivery")),
        sa.UniqueConstraint("subscription_id", "event_id", name="uq_webhook_delivery_subscription_event"),
    )
    op.create_index("ix_webhook_delivery_due", "webhook_delivery", ["status", "next_attempt_at"], unique=False)
    op.create_index(
        "ix_webhook_delivery_entity",
        "webhook_delivery",
        ["subscription_id", "entity_key", "event_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("webhook_delivery")
    op.drop_table("webhook_subscription")
    op.drop_table("outbox_event")
