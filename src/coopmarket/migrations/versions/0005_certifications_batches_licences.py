"""Certificates with their history, batches with trace codes, brand licences with decisions and numbers.

Revision ID: 0005_certifications_batches_licences
Revises: 0008_audit_log
Create Date: 2026-12-03 07:55:57.632998
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import coopmarket.core.types

revision: str = "0005_certifications_batches_licences"
down_revision: str | None = "0008_audit_log"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Alembic creates its version column as VARCHAR(32) and this revision's id has 36 characters:
    # widen it first (SQLite does not enforce the length). Left wide on downgrade, where the row
    # still holds this id while the downgrade runs.
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "alembic_version",
            "version_num",
            type_=sa.String(length=64),
            existing_type=sa.String(length=32),
            existing_nullable=False,
        )
    op.create_table(
        "brand_licence_sequence",
        sa.Column("prefix", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last_value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("prefix", "year", name=op.f("pk_brand_licence_sequence")),
    )
    op.create_table(
        "brand_licence",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("brand", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("cooperative_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("applied_by", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("applied_at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("granted_at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('applied', 'granted', 'suspended', 'revoked')",
            name=op.f("ck_brand_licence_status_known"),
        ),
        sa.CheckConstraint("valid_from <= valid_to", name=op.f("ck_brand_licence_valid_term")),
        sa.ForeignKeyConstraint(
            ["applied_by"], ["user_account.id"], name=op.f("fk_brand_licence_applied_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["cooperative_id"], ["cooperative.id"], name=op.f("fk_brand_licence_cooperative_id_cooperative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brand_licence")),
        sa.UniqueConstraint("number", name=op.f("uq_brand_licence_number")),
    )
    with op.batch_alter_table("brand_licence", schema=None) as batch_op:
        batch_op.create_index("ix_brand_licence_cooperative", ["cooperative_id", "id"], unique=False)
        batch_op.create_index("ix_brand_licence_status_valid_to", ["status", "valid_to"], unique=False)

    op.create_table(
        "brand_licence_decision",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("licence_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("from_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("to_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("actor_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["user_account.id"], name=op.f("fk_brand_licence_decision_actor_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["licence_id"],
            ["brand_licence.id"],
            name=op.f("fk_brand_licence_decision_licence_id_brand_licence"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brand_licence_decision")),
    )
    with op.batch_alter_table("brand_licence_decision", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_brand_licence_decision_licence_id"), ["licence_id"], unique=False
        )

    op.create_table(
        "brand_licence_product",
        sa.Column("licence_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("product_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.ForeignKeyConstraint(
            ["licence_id"],
            ["brand_licence.id"],
            name=op.f("fk_brand_licence_product_licence_id_brand_licence"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["product.id"], name=op.f("fk_brand_licence_product_product_id_product")
        ),
        sa.PrimaryKeyConstraint("licence_id", "product_id", name=op.f("pk_brand_licence_product")),
    )
    with op.batch_alter_table("brand_licence_product", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_brand_licence_product_product_id"), ["product_id"], unique=False)

    op.create_table(
        "product_batch",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("product_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("trace_code", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("produced_on", sa.Date(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("unit", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("member_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=True),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("created_at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_product_batch_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["user_account.id"], name=op.f("fk_product_batch_created_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["cooperative_member.id"],
            name=op.f("fk_product_batch_member_id_cooperative_member"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["product.id"], name=op.f("fk_product_batch_product_id_product")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_batch")),
        sa.UniqueConstraint("trace_code", name=op.f("uq_product_batch_trace_code")),
    )
    with op.batch_alter_table("product_batch", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_product_batch_member_id"), ["member_id"], unique=False)
        batch_op.create_index("ix_product_batch_product_id_id", ["product_id", "id"], unique=False)

    op.create_table(
        "product_certification",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("product_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("issuer", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("created_at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'withdrawn')", name=op.f("ck_product_certification_status_known")
        ),
        sa.CheckConstraint("valid_from <= valid_to", name=op.f("ck_product_certification_valid_window")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["user_account.id"], name=op.f("fk_product_certification_created_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["product.id"], name=op.f("fk_product_certification_product_id_product")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_certification")),
    )
    with op.batch_alter_table("product_certification", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_product_certification_product_id"), ["product_id"], unique=False)
        batch_op.create_index(
            "uq_certification_active_number",
            ["product_id", "kind", "number"],
            unique=True,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )

    op.create_table(
        "certification_revision",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("certification_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("issuer", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("actor_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["user_account.id"], name=op.f("fk_certification_revision_actor_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["certification_id"],
            ["product_certification.id"],
            name=op.f("fk_certification_revision_certification_id_product_certification"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certification_revision")),
        sa.UniqueConstraint("certification_id", "version", name="uq_certification_revision_version"),
    )


def downgrade() -> None:
    op.drop_table("certification_revision")
    with op.batch_alter_table("product_certification", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_certification_active_number",
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )
        batch_op.drop_index(batch_op.f("ix_product_certification_product_id"))

    op.drop_table("product_certification")
    with op.batch_alter_table("product_batch", schema=None) as batch_op:
        batch_op.drop_index("ix_product_batch_product_id_id")
        batch_op.drop_index(batch_op.f("ix_product_batch_member_id"))

    op.drop_table("product_batch")
    with op.batch_alter_table("brand_licence_product", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_brand_licence_product_product_id"))

    op.drop_table("brand_licence_product")
    with op.batch_alter_table("brand_licence_decision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_brand_licence_decision_licence_id"))

    op.drop_table("brand_licence_decision")
    with op.batch_alter_table("brand_licence", schema=None) as batch_op:
        batch_op.drop_index("ix_brand_licence_status_valid_to")
        batch_op.drop_index("ix_brand_licence_cooperative")

    op.drop_table("brand_licence")
    op.drop_table("brand_licence_sequence")
