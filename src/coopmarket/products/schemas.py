"""Request and response shapes for the catalogue."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from coopmarket.core.text import MultilineText, Name, Text

CATEGORIES = (
    "fruit",
    "vegetables",
    "grain_oil",
    "tea",
    "livestock_poultry",
    "eggs",
    "aquatic",
    "processed",
    "handicraft",
)
Category = Literal[
    "fruit",
    "vegetables",
    "grain_oil",
    "tea",
    "livestock_poultry",
    "eggs",
    "aquatic",
    "processed",
    "handicraft",
]
ListSort = Literal["newest", "price_asc", "price_desc", "relevance"]

MAX_SKUS = 50
# A ceiling that keeps a line total (price × quantity) far inside 64 bits: 10 million yuan.
MAX_PRICE_FEN = 1_000_000_000
MAX_STOCK = 10_000_000

ProductName = Annotated[Name, Meta(min_length=1, max_length=100)]
Description = Annotated[MultilineText, Meta(max_length=5000)]
Unit = Annotated[Text, Meta(min_length=1, max_length=32, description="Selling unit, e.g. box, jin, bottle")]
VillageCode = Annotated[str, Meta(pattern=r"^[0-9]{12}$", description="A village-level region code")]
SkuCode = Annotated[Text, Meta(min_length=1, max_length=64)]
SkuSpec = Annotated[Text, Meta(min_length=1, max_length=100)]
PriceFen = Annotated[int, Meta(ge=1, le=MAX_PRICE_FEN, description="Price in fen (1/100 yuan)")]
Stock = Annotated[int, Meta(ge=0, le=MAX_STOCK)]


class SkuIn(msgspec.Struct, forbid_unknown_fields=True):
    code: SkuCode
    spec: SkuSpec
    price_fen: PriceFen
    stock: Stock


class ProductIn(msgspec.Struct, forbid_unknown_fields=True):
    name: ProductName
    category: Category
    unit: Unit
    origin_village_code: VillageCode
    skus: Annotated[list[SkuIn], Meta(min_length=1, max_length=MAX_SKUS)]
    description: Description = ""


class SkuChangeIn(msgspec.Struct, forbid_unknown_fields=True):
    """With ``id``: change that SKU's price or spec. Without: a new SKU (code, spec, price, stock)."""

    id: Annotated[Text, Meta(min_length=1, max_length=26)] | None = None
    code: SkuCode | None = None
    spec: SkuSpec | None = None
    price_fen: PriceFen | None = None
    stock: Stock | None = None


class ProductPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields sent change. Stock moves through stock adjustments, not here."""

    name: ProductName | None = None
    category: Category | None = None
    description: Description | None = None
    unit: Unit | None = None
    origin_village_code: VillageCode | None = None
    skus: Annotated[list[SkuChangeIn], Meta(max_length=MAX_SKUS)] | None = None


class StockAdjustmentIn(msgspec.Struct, forbid_unknown_fields=True):
    delta: Annotated[
        int,
        Meta(
            ge=-MAX_STOCK,
            le=MAX_STOCK,
            description="Units added (negative: removed); never 0",
            extra_json_schema={"extra": {"not": {"const": 0}}},
        ),
    ]
    reason: Annotated[Text, Meta(min_length=1, max_length=200)]


class StockOut(msgspec.Struct):
    sku_id: str
    stock: int


class SkuOut(msgspec.Struct):
    id: str
    code: str
    spec: str
    price_fen: int
    stock: int


class ProductImageOut(msgspec.Struct):
    id: str
    url: str
    is_cover: bool
    position: int


class CertificationOut(msgspec.Struct):
    id: str
    kind: str
    number: str
    issuer: str
    valid_from: date
    valid_to: date
    is_valid: bool


class CooperativeRef(msgspec.Struct):
    id: str
    name: str
    village_code: str


class VillageRef(msgspec.Struct):
    code: str
    name: str


class ProductOut(msgspec.Struct):
    """The full product answer (create, detail, patch, archive)."""

    id: str
    name: str
    category: str
    description: str
    unit: str
    cooperative_id: str
    origin_village_code: str
    is_branded: bool
    status: str
    min_price_fen: int
    skus: list[SkuOut]
    images: list[ProductImageOut]
    certifications: list[CertificationOut]
    created_at: datetime
    cooperative: CooperativeRef | None
    village: VillageRef | None


class ProductListItem(msgspec.Struct):
    id: str
    name: str
    category: str
    unit: str
    cooperative_id: str
    origin_village_code: str
    is_branded: bool
    price_fen: int  # the lowest SKU price
    cover_image_url: str | None
    created_at: datetime


class ProductPage(msgspec.Struct):
    items: list[ProductListItem]
    next_cursor: str | None


class SkuForOrder(msgspec.Struct, frozen=True):
    """What checkout needs to know about a SKU (prices come from here, never from the client)."""

    sku_id: str
    product_id: str
    product_name: str
    spec: str
    category: str
    unit: str
    price_fen: int
    cooperative_id: str
    is_sellable: bool  # product active and its cooperative approved
