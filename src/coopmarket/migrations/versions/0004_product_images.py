"""Product photos: checked images (position, one cover) and the upload targets issued for them.

Revision ID: 0004_product_images
Revises: 0005_certifications_batches_licences
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import coopmarket.core.types

revision: str = "0004_product_images"
down_revision: str | None = "0005_certifications_batches_licences"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "product_image",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("product_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("thumb_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("content_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("is_cover", sa.Boolean(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("created_at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("position >= 1", name=op.f("ck_product_image_position_positive")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["user_account.id"], name=op.f("fk_product_image_created_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["product.id"], name=op.f("fk_product_image_product_id_product")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_image")),
        sa.UniqueConstraint("key", name=op.f("uq_product_image_key")),
        sa.UniqueConstraint("product_id", "position", name="uq_product_image_position"),
        sa.UniqueConstraint("thumb_key", name=op.f("uq_product_image_thumb_key")),
    )
    # At most one cover per product (a partial unique index, on SQLite and PostgreSQL alike).
    with op.batch_alter_table("product_image", schema=None) as batch_op:
        batch_op.create_index(
            "uq_product_image_cover",
            ["product_id"],
            unique=True,
            sqlite_where=sa.text("is_cover"),
            postgresql_where=sa.text("is_cover"),
        )

    op.create_table(
        "product_image_upload",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("product_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("content_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("issued_by", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("expires_at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", coopmarket.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["issued_by"], ["user_account.id"], name=op.f("fk_product_image_upload_issued_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["product.id"], name=op.f("fk_product_image_upload_product_id_product")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_image_upload")),
        sa.UniqueConstraint("key", name=op.f("uq_product_image_upload_key")),
    )
    with op.batch_alter_table("product_image_upload", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_product_image_upload_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_product_image_upload_product_id"), ["product_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("product_image_upload", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_image_upload_product_id"))
        batch_op.drop_index(batch_op.f("ix_product_image_upload_expires_at"))
    op.drop_table("product_image_upload")
    with op.batch_alter_table("product_image", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_product_image_cover", sqlite_where=sa.text("is_cover"), postgresql_where=sa.text("is_cover")
        )
    op.drop_table("product_image")
