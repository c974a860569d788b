"""Products and their SKUs (price in fen, stock that never goes below zero)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, UniqueConstraint
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
