"""Products and their SKUs (price in fen, stock that never goes below zero), every stock change,
the search index of names and descriptions (one structure per database, see ``search.py``),
certificates with their history, batches with trace codes, and photos."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Computed,
    Index,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
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
    # Member attribution (Farmers' Professional Cooperatives Law Art. 41-43): the member of the
    # cooperative who supplies this SKU, and the batch it is sold from now; a batch that names a
    # member overrides the SKU's. Checkout copies the result onto each order line.
    supplier_member_id: str | None = ref_field(foreign_key="cooperative_member.id", nullable=True, index=False)
    batch_id: str | None = ref_field(foreign_key="product_batch.id", nullable=True, index=False)
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


class CatalogueVersion(SQLModel, table=True):
    """The catalogue version is the sum of these shards' ``version``. Only database triggers
    (migration 0015) write it, in the transaction that changes the catalogue; the shared response
    cache (``products/public_cache.py``) keys on it."""

    __tablename__ = "catalogue_version"

    shard: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    version: int = Field(sa_type=BigInteger)
