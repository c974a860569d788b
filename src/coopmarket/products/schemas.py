"""Request and response shapes for the catalogue."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from coopmarket.core.text import MultilineText, Name, Text
from coopmarket.products.certification_rules import CertificationKind

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
LowStockThreshold = Annotated[
    int, Meta(ge=0, le=MAX_STOCK, description="The SKU counts as low on stock while its stock is at or below this")
]
SupplierMemberId = Annotated[
    Text,
    Meta(
        min_length=1,
        max_length=26,
        description="The member of the cooperative who supplies this SKU (Art. 41); unset: a non-member transaction",
    ),
]
CurrentBatchId = Annotated[
    Text,
    Meta(
        min_length=1,
        max_length=26,
        description="The product's batch this SKU is sold from now; a batch naming a member overrides the SKU's member",
    ),
]


class SkuIn(msgspec.Struct, forbid_unknown_fields=True):
    code: SkuCode
    spec: SkuSpec
    price_fen: PriceFen
    stock: Stock
    low_stock_threshold: LowStockThreshold = 0
    supplier_member_id: SupplierMemberId | None = None


class ProductIn(msgspec.Struct, forbid_unknown_fields=True):
    name: ProductName
    category: Category
    unit: Unit
    origin_village_code: VillageCode
    skus: Annotated[list[SkuIn], Meta(min_length=1, max_length=MAX_SKUS)]
    description: Description = ""


class SkuChangeIn(msgspec.Struct, forbid_unknown_fields=True):
    """With ``id``: change that SKU's price, spec or low-stock threshold. Without: a new SKU (code,
    spec, price, stock; threshold optional)."""

    id: Annotated[Text, Meta(min_length=1, max_length=26)] | None = None
    code: SkuCode | None = None
    spec: SkuSpec | None = None
    price_fen: PriceFen | None = None
    stock: Stock | None = None
    low_stock_threshold: LowStockThreshold | None = None
    supplier_member_id: SupplierMemberId | None = None
    batch_id: CurrentBatchId | None = None


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
    low_stock_threshold: int
    supplier_member_id: str | None = None
    batch_id: str | None = None


class ProductImageOut(msgspec.Struct):
    id: str
    url: Annotated[str, Meta(description="The photo as uploaded (signed URL, or under the public base URL)")]
    thumb_url: Annotated[str, Meta(description="The list-size variant (at most the thumbnail width wide)")]
    is_cover: bool
    position: Annotated[int, Meta(description="1 is shown first")]
    width: int
    height: int


class ImageUploadIn(msgspec.Struct, forbid_unknown_fields=True):
    """What the client is about to upload; the server checks the stored object itself afterwards."""

    filename: Annotated[Text, Meta(min_length=1, max_length=255, description="Informative only")]
    content_type: Annotated[
        Text, Meta(min_length=1, max_length=100, description="`image/jpeg`, `image/png` or `image/webp`")
    ]
    size: Annotated[int, Meta(ge=1, le=2**31 - 1, description="Bytes; at most the configured limit")]


class UploadTargetOut(msgspec.Struct):
    method: Annotated[str, Meta(description="`POST`: multipart form data, every entry of `fields`, then `file`")]
    url: str
    fields: dict[str, str]
    headers: dict[str, str]
    expires_at: datetime


class ImageUploadOut(msgspec.Struct):
    key: Annotated[str, Meta(description="Send it to `POST /products/{id}/images` once uploaded")]
    upload: UploadTargetOut


class ImageAttachIn(msgspec.Struct, forbid_unknown_fields=True):
    key: Annotated[Text, Meta(min_length=1, max_length=300)]


class ImagePatch(msgspec.Struct, forbid_unknown_fields=True):
    """Move an image (``position`` 1 is first; the others keep their order) or make it the cover."""

    position: Annotated[int, Meta(ge=1, le=1000)] | None = None
    is_cover: bool | None = None


class CertificationOut(msgspec.Struct):
    id: str
    kind: str
    number: str
    issuer: str
    valid_from: date
    valid_to: date
    is_valid: bool


CertificationNumber = Annotated[
    Text,
    Meta(
        min_length=1,
        max_length=100,
        description="As printed; normalised (full-width, dashes, spaces, case) and checked loosely per kind",
    ),
]
Issuer = Annotated[Name, Meta(min_length=1, max_length=200, description="Who issued the certificate")]
ChangeReason = Annotated[MultilineText, Meta(min_length=1, max_length=500)]


class CertificationIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: CertificationKind
    number: CertificationNumber
    issuer: Issuer
    valid_from: date
    valid_to: date


class CertificationPatch(msgspec.Struct, forbid_unknown_fields=True):
    """A correction: the fields sent change, the kind does not; ``reason`` is kept in the history."""

    reason: ChangeReason
    number: CertificationNumber | UnsetType = UNSET
    issuer: Issuer | UnsetType = UNSET
    valid_from: date | UnsetType = UNSET
    valid_to: date | UnsetType = UNSET


class WithdrawIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: ChangeReason


class CertificationRevisionOut(msgspec.Struct):
    """One version of a certificate as it was recorded."""

    version: int
    action: str  # created | corrected | withdrawn
    number: str
    issuer: str
    valid_from: date
    valid_to: date
    status: str
    reason: str | None
    actor_id: str
    at: datetime


class CertificationRecordOut(msgspec.Struct):
    """A certificate with its history (its managers and staff). ``suspended_licence_ids`` (only in
    the answer to a correction or withdrawal) names the brand licences it left uncovered."""

    id: str
    product_id: str
    kind: str
    number: str
    issuer: str
    valid_from: date
    valid_to: date
    is_valid: bool
    status: str  # active | withdrawn
    version: int
    history: list[CertificationRevisionOut]
    suspended_licence_ids: list[str] | UnsetType = UNSET


class CertificationList(msgspec.Struct):
    items: list[CertificationRecordOut]


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


class ProductBrief(msgspec.Struct, frozen=True):
    """What other slices need to know about a product (brand licences)."""

    id: str
    name: str
    cooperative_id: str
    status: str


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
    member_id: str | None = None  # the supplying member: the current batch's, else the SKU's
    batch_id: str | None = None


# --- batches and trace codes -----------------------------------------------------------------

MAX_BATCH_QUANTITY = 10**12


class BatchIn(msgspec.Struct, forbid_unknown_fields=True):
    produced_on: Annotated[date, Meta(description="Harvest or production date; not in the future")]
    quantity: Annotated[int, Meta(ge=1, le=MAX_BATCH_QUANTITY, description="Whole units of `unit`")]
    unit: Annotated[Text, Meta(min_length=1, max_length=16, description="e.g. kg, 斤, box")]
    member_id: (
        Annotated[Text, Meta(max_length=26, description="The supplying member of the cooperative, if known")]
        | None
    ) = None


class BatchOut(msgspec.Struct):
    id: str
    product_id: str
    trace_code: str  # grouped for labels, e.g. 7K3M-Q9XD-2F8P-WT4H
    trace_url: str
    qr_url: str
    produced_on: date
    quantity: int
    unit: str
    member_id: str | None
    created_at: datetime


class BatchPage(msgspec.Struct):
    items: list[BatchOut]
    next_cursor: str | None


class TraceProduct(msgspec.Struct):
    id: str
    name: str
    category: str
    unit: str


class TraceCooperative(msgspec.Struct):
    id: str
    name: str
    village: VillageRef | None


class TraceBatch(msgspec.Struct):
    produced_on: date
    quantity: int
    unit: str
    supplied_by_member: bool


class TraceOut(msgspec.Struct):
    """The public answer for a trace code: no buyer or member personal data."""

    trace_code: str
    trace_url: str
    product: TraceProduct
    cooperative: TraceCooperative
    village: VillageRef | None  # where the product comes from
    batch: TraceBatch
    certifications: list[CertificationOut]  # those valid on the batch date
    is_branded: bool  # today
    brand: str | None
    # The product is withdrawn from sale: its cooperative is suspended (or no longer approved).
    withdrawn: bool = False


# --- what a manager sees: the cooperative's own catalogue, stock history, low stock ----------------

ProductStatusFilter = Literal["active", "archived", "all"]
StockChangeKind = Literal["adjustment", "created", "import", "order", "order_release"]


class ManagedProductItem(msgspec.Struct):
    """One product of the cooperative's own catalogue, archived or hidden ones included."""

    id: str
    name: str
    category: str
    unit: str
    status: str
    origin_village_code: str
    is_branded: bool
    price_fen: int  # the lowest SKU price
    skus: list[SkuOut]
    created_at: datetime
    updated_at: datetime


class ManagedProductPage(msgspec.Struct):
    items: list[ManagedProductItem]
    next_cursor: str | None


class StockChangeOut(msgspec.Struct):
    """One change of a SKU's stock."""

    seq: Annotated[int, Meta(description="Its place in the SKU's history: 1, 2, 3, … (exact order)")]
    at: datetime
    kind: Annotated[
        StockChangeKind,
        Meta(
            description="`adjustment` (manual), `created` (opening stock), `import`, `order` (taken by an"
            " order), `order_release` (given back: cancellation, expiry, refund)"
        ),
    ]
    delta: int
    stock_after: int
    reason: str
    actor_id: Annotated[str | None, Meta(description="Who made it; null for the system (an order that expired)")]
    order_id: str | None


class StockHistoryPage(msgspec.Struct):
    items: list[StockChangeOut]
    next_cursor: str | None


class LowStockItem(msgspec.Struct):
    sku_id: str
    sku_code: str
    spec: str
    stock: int
    low_stock_threshold: int
    product_id: str
    product_name: str


class LowStockPage(msgspec.Struct):
    items: list[LowStockItem]
    next_cursor: str | None


ExportFormat = Literal["csv", "xlsx"]


class ImportResult(msgspec.Struct):
    """What an import changed; every row was valid, so all of it was applied in one transaction."""

    rows: Annotated[int, Meta(description="Data rows read (the header and blank rows not counted)")]
    created_products: int
    updated_products: int
    unchanged_products: int
    created_skus: int
    updated_skus: int
    unchanged_skus: int
    product_ids: Annotated[list[str], Meta(description="The products the file names, in file order")]
