"""Products and their SKUs (price in fen, stock that never goes below zero), every stock change,
and the search index of names and descriptions (one structure per database, see ``search.py``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    Computed,
    Index,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from coopmarket.core.models import ID_LENGTH, id_field, money_field, only_on, ref_field, time_field


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


# PostgreSQL: every one- and two-character substring of the name and of the description (Latin
# letters in lower case), computed by the database from the row itself whenever either changes
# (``coopmarket_search_grams``, migration 0006), under a GIN index. A column of the table but not of
# the ORM class: nothing reads it but the search condition, and it does not exist on SQLite.
SEARCH_GRAMS_SQL = "coopmarket_search_grams(name, description)"
_product_table = Product.metadata.tables["product"]
_product_table.append_column(
    only_on(Column("search_grams", ARRAY(Text), Computed(SEARCH_GRAMS_SQL, persisted=True)), "postgresql")
)
only_on(
    Index(
        "ix_product_search_grams",
        _product_table.c.search_grams,
        postgresql_using="gin",
        postgresql_with={"fastupdate": "off"},
    ),
    "postgresql",
)

# SQLite: the same substrings as rows (gram, product), written by triggers on ``product`` in the
# transaction that writes the product (migration 0006). Not used on PostgreSQL, where it does not exist.
product_search_gram = only_on(
    Table(
        "product_search_gram",
        SQLModel.metadata,
        Column("gram", String(2), nullable=False),
        Column("product_id", String(ID_LENGTH), nullable=False),
        PrimaryKeyConstraint("gram", "product_id", name="pk_product_search_gram"),
        sqlite_with_rowid=False,
    ),
    "sqlite",
)


class Sku(SQLModel, table=True):
    __tablename__ = "sku"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_nonneg"),
        CheckConstraint("price_fen > 0", name="price_positive"),
        CheckConstraint("low_stock_threshold >= 0", name="low_stock_threshold_nonneg"),
        UniqueConstraint("product_id", "code", name="uq_sku_product_code"),
    )

    id: str = id_field()
    product_id: str = ref_field(foreign_key="product.id")
    code: str = Field(max_length=64)
    spec: str = Field(max_length=100)
    price_fen: int = money_field()
    stock: int
    # The manager's "running low" mark: the SKU is listed as low while stock <= this.
    low_stock_threshold: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # How many stock changes the SKU has had: each one increments it in the same UPDATE that moves
    # the stock, and its history row takes the new value as ``seq`` (an exact order, even under
    # concurrency, where times can tie or arrive out of order).
    stock_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = time_field()


class StockAdjustment(SQLModel, table=True):
    """Every stock change of a SKU, in order (``seq``): manual adjustments, the stock a SKU was
    created or imported with, stock taken by orders and given back by cancellations, expiries and
    refunds. Stock is never changed without one, in the same transaction."""

    __tablename__ = "stock_adjustment"
    __table_args__ = (UniqueConstraint("sku_id", "seq", name="uq_stock_adjustment_sku_seq"),)

    id: str = id_field()
    sku_id: str = ref_field(foreign_key="sku.id", index=False)
    seq: int  # the SKU's stock_version after this change: 1, 2, 3, ...
    # adjustment | created | import | order | order_release
    kind: str = Field(default="adjustment", max_length=16, sa_column_kwargs={"server_default": "adjustment"})
    delta: int
    stock_after: int
    reason: str = Field(max_length=200)
    # Who made the change; None for the system (an unpaid order that expired).
    actor_id: str | None = ref_field(foreign_key="user_account.id", index=False, nullable=True)
    # The order that took or gave back the stock. Not a foreign key: checkout takes stock before
    # it writes the order row, in the same transaction.
    order_id: str | None = Field(default=None, max_length=ID_LENGTH, nullable=True)
    created_at: datetime = time_field()
