"""Products and their SKUs (price in fen, stock that never goes below zero)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, UniqueConstraint, text
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
