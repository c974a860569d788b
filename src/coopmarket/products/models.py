"""Products and their SKUs (price in fen, stock that never goes below zero), certificates with
their history, and batches with trace codes."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from coopmarket.core.models import id_field, money_field, ref_field, time_field


class Product(SQLModel, table=True):
    __tablename__ = "product"
    __table_args__ = (
        Index("ix_product_status_id", "status", "id"),
        Index("ix_product_status_price", "status", "min_price_fen", "id"),
        Index("ix_product_coop_status", "cooperative_id", "status"),
    )

    id: str = id_field()
    cooperative_id: str = ref_field(foreign_key="cooperative.id", index=False)
    name: str = Field(max_length=100)
    category: str = Field(max_length=32, index=True)
    description: str = Field(default="", max_length=5000)
    unit: str = Field(max_length=32)
    origin_village_code: str = Field(max_length=12, foreign_key="region.code", index=True)
    status: str = Field(default="active", max_length=16)  # active | archived
    # Lowest SKU price, kept in step with the SKUs by the products service (list sort and filter).
    min_price_fen: int = money_field(default=0)
    created_at: datetime = time_field()
    updated_at: datetime = time_field()


class Sku(SQLModel, table=True):
    __tablename__ = "sku"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_nonneg"),
        CheckConstraint("price_fen > 0", name="price_positive"),
        UniqueConstraint("product_id", "code", name="uq_sku_product_code"),
    )

    id: str = id_field()
    product_id: str = ref_field(foreign_key="product.id")
    code: str = Field(max_length=64)
    spec: str = Field(max_length=100)
    price_fen: int = money_field()
    stock: int
    created_at: datetime = time_field()


class StockAdjustment(SQLModel, table=True):
    """Every manual stock change with its reason and who made it (stock is never edited silently)."""

    __tablename__ = "stock_adjustment"

    id: str = id_field()
    sku_id: str = ref_field(foreign_key="sku.id")
    delta: int
    stock_after: int
    reason: str = Field(max_length=200)
    actor_id: str = ref_field(foreign_key="user_account.id", index=False)
    created_at: datetime = time_field()


class ProductCertification(SQLModel, table=True):
    """A product's certificate as it stands now. A correction or withdrawal changes this row and
    appends the new version to ``certification_revision``, so every version is kept."""

    __tablename__ = "product_certification"
    __table_args__ = (
        CheckConstraint("valid_from <= valid_to", name="valid_window"),
        CheckConstraint("status IN ('active', 'withdrawn')", name="status_known"),
        # The same certificate is recorded once per product while it stands (the index decides races).
        Index(
            "uq_certification_active_number",
            "product_id",
            "kind",
            "number",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: str = id_field()
    product_id: str = ref_field(foreign_key="product.id")
    # green_food | organic | geographical_indication | compliance_certificate
    kind: str = Field(max_length=32)
    number: str = Field(max_length=64)
    issuer: str = Field(max_length=200)
    valid_from: date
    valid_to: date
    status: str = Field(default="active", max_length=16)  # active | withdrawn
    version: int = Field(default=1)
    created_by: str = ref_field(foreign_key="user_account.id", index=False)
    created_at: datetime = time_field()
    updated_at: datetime = time_field()


class CertificationRevision(SQLModel, table=True):
    """Append-only: every version of every certificate, with who made it, when and why."""

    __tablename__ = "certification_revision"
    __table_args__ = (
        UniqueConstraint("certification_id", "version", name="uq_certification_revision_version"),
    )

    id: str = id_field()
    certification_id: str = ref_field(foreign_key="product_certification.id", index=False)
    version: int
    action: str = Field(max_length=16)  # created | corrected | withdrawn
    kind: str = Field(max_length=32)
    number: str = Field(max_length=64)
    issuer: str = Field(max_length=200)
    valid_from: date
    valid_to: date
    status: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=500)
    actor_id: str = ref_field(foreign_key="user_account.id", index=False)
    at: datetime = time_field()


class ProductBatch(SQLModel, table=True):
    """A harvest or production batch and its public trace code (16 Crockford base32 characters)."""

    __tablename__ = "product_batch"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_product_batch_product_id_id", "product_id", "id"),
    )

    id: str = id_field()
    product_id: str = ref_field(foreign_key="product.id", index=False)
    trace_code: str = Field(max_length=16, unique=True)
    produced_on: date
    quantity: int = Field(sa_type=BigInteger)
    unit: str = Field(max_length=16)
    member_id: str | None = ref_field(foreign_key="cooperative_member.id", nullable=True)
    created_by: str = ref_field(foreign_key="user_account.id", index=False)
    created_at: datetime = time_field()


class ProductImage(SQLModel, table=True):
    """A checked photo of a product: the original (re-stored as read) and its list-size variant.

    Positions are 1..n without gaps; exactly one image of a product with images is its cover
    (the partial unique index allows at most one; the images module keeps one)."""

    __tablename__ = "product_image"
    __table_args__ = (
        UniqueConstraint("product_id", "position", name="uq_product_image_position"),
        Index(
            "uq_product_image_cover",
            "product_id",
            unique=True,
            sqlite_where=text("is_cover"),
            postgresql_where=text("is_cover"),
        ),
        CheckConstraint("position >= 1", name="position_positive"),
    )

    id: str = id_field()
    product_id: str = ref_field(foreign_key="product.id", index=False)
    key: str = Field(max_length=200, unique=True)
    thumb_key: str = Field(max_length=200, unique=True)
    content_type: str = Field(max_length=32)
    size_bytes: int
    width: int
    height: int
    position: int
    is_cover: bool = False
    created_by: str = ref_field(foreign_key="user_account.id", index=False)
    created_at: datetime = time_field()


class ProductImageUpload(SQLModel, table=True):
    """An upload target issued to a product's manager: only a key recorded here can be attached
    (so nobody attaches an object they did not upload for this product). Removed when attached or
    refused; expired ones are swept with their objects."""

    __tablename__ = "product_image_upload"

    id: str = id_field()
    product_id: str = ref_field(foreign_key="product.id")
    key: str = Field(max_length=200, unique=True)
    content_type: str = Field(max_length=32)
    issued_by: str = ref_field(foreign_key="user_account.id", index=False)
    expires_at: datetime = time_field(index=True, default_now=False)
    created_at: datetime = time_field()
