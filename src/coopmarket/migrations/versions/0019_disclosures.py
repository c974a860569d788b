"""Frozen disclosures (village figures for a month or quarter) and the public's messages on them.

A disclosure row is never changed or removed: triggers on both databases refuse UPDATE and DELETE.

Revision ID: 0019_disclosures
Revises: 0018_surplus_distributions
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import coopmarket.core.types

revision: str = "0019_disclosures"
down_revision: str | None = "0018_surplus_distributions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PG_GUARDS = [
    """
    CREATE FUNCTION disclosure_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'published disclosures never change (% on %)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
    END $$
    """,
    """CREATE TRIGGER disclosure_frozen BEFORE UPDATE OR DELETE ON disclosure
       FOR EACH ROW EXECUTE FUNCTION disclosure_refuse_change()""",
]
SQLITE_GUARDS = [
    """CREATE TRIGGER disclosure_no_update BEFORE UPDATE ON disclosure
       BEGIN SELECT RAISE(ABORT, 'published disclosures never change'); END""",
    """CREATE TRIGGER disclosure_no_delete BEFORE DELETE ON disclosure
       BEGIN SELECT RAISE(ABORT, 'published disclosures never change'); END""",
]


def upgrade() -> None:
    op.create_table(
        "disclosure",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("village_code", sa.String(length=12), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("published_at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.String(length=26), nullable=False),
        sa.Column("corrects", sa.String(length=26), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("canonical", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("period_to >= period_from", name=op.f("ck_disclosure_period_order")),
        sa.ForeignKeyConstraint(["village_code"], ["region.code"], name=op.f("fk_disclosure_village_code_region")),
        sa.ForeignKeyConstraint(
            ["published_by"], ["user_account.id"], name=op.f("fk_disclosure_published_by_user_account")
        ),
        sa.ForeignKeyConstraint(["corrects"], ["disclosure.id"], name=op.f("fk_disclosure_corrects_disclosure")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure")),
        sa.UniqueConstraint("corrects", name=op.f("uq_disclosure_corrects")),
    )
    op.create_index("ix_disclosure_village", "disclosure", ["village_code", "published_at", "id"])
    op.create_index(
        "uq_disclosure_original",
        "disclosure",
        ["village_code", "period"],
        unique=True,
        sqlite_where=sa.text("corrects IS NULL"),
        postgresql_where=sa.text("corrects IS NULL"),
    )
    op.create_table(
        "disclosure_message",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("disclosure_id", sa.String(length=26), nullable=False),
        sa.Column("author_name", sa.String(length=40), nullable=False),
        sa.Column("text", sa.String(length=1000), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=26), nullable=True),
        sa.Column("decided_at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reject_reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected')", name=op.f("ck_disclosure_message_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["disclosure_id"], ["disclosure.id"], name=op.f("fk_disclosure_message_disclosure_id_disclosure")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["user_account.id"], name=op.f("fk_disclosure_message_decided_by_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_message")),
    )
    op.create_index(
        "ix_disclosure_message_disclosure", "disclosure_message", ["disclosure_id", "status", "id"]
    )
    guards = PG_GUARDS if op.get_bind().dialect.name == "postgresql" else SQLITE_GUARDS
    for statement in guards:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER disclosure_frozen ON disclosure")
        op.execute("DROP FUNCTION disclosure_refuse_change()")
    else:
        op.execute("DROP TRIGGER disclosure_no_update")
        op.execute("DROP TRIGGER disclosure_no_delete")
    op.drop_index("ix_disclosure_message_disclosure", table_name="disclosure_message")
    op.drop_table("disclosure_message")
    op.drop_index("uq_disclosure_original", table_name="disclosure")
    op.drop_index("ix_disclosure_village", table_name="disclosure")
    op.drop_table("disclosure")
