"""The catalogue: products, their SKUs and stock.

Public reads (list, detail) are SQLAlchemy Core selects of the returned columns on a read
connection. Writes lock the product row first (``FOR UPDATE`` on PostgreSQL; SQLite write
transactions are ``BEGIN IMMEDIATE``), so ``min_price_fen`` can be recomputed from the SKUs in
Python and stay equal to the lowest SKU price. Stock only moves through conditional UPDATEs.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    or_,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from coopmarket.coops import licences
from coopmarket.coops import service as coops_service
from coopmarket.coops.errors import CooperativeNotFound
from coopmarket.coops.schemas import CooperativeBrief
from coopmarket.core import clock
from coopmarket.core.errors import FieldError, ValidationFailed
from coopmarket.core.pagination import decode_cursor, encode_cursor
from coopmarket.core.principal import Principal
from coopmarket.db import Database, fetch_all
from coopmarket.products import certifications as certification_service
from coopmarket.products import images, search
from coopmarket.products import stock as stock_moves
from coopmarket.products.access import managed_product_for_update, require_manager_role
from coopmarket.products.errors import (
    CooperativeNotApproved,
    InsufficientStock,
    InvalidProduct,
    ProductNotFound,
    SkuNotFound,
)
from coopmarket.products.models import Product, ProductBatch, Sku
from coopmarket.products.schemas import (
    MAX_SKUS,
    MAX_STOCK,
    CertificationOut,
    CooperativeRef,
    ListSort,
    ProductBrief,
    ProductImageOut,
    ProductIn,
    ProductListItem,
    ProductOut,
    ProductPage,
    ProductPatch,
    SkuChangeIn,
    SkuForOrder,
    SkuOut,
    StockAdjustmentIn,
    StockOut,
    VillageRef,
)
from coopmarket.regions import service as regions_service
from coopmarket.storage.base import ObjectStorage

log = logging.getLogger("coopmarket.products")

# Core columns (typed for mypy; the ORM classes are used where objects are loaded for writing).
_product_table = Product.metadata.tables["product"]
_sku_table = Sku.metadata.tables["sku"]
P = _product_table.c
S = _sku_table.c

ACTIVE = "active"
ARCHIVED = "archived"
APPROVED = "approved"
VILLAGE_LEVEL = "village"
VILLAGE_CODE_LENGTH = 12

_PRODUCT_COLUMNS = (
    P.id,
    P.name,
    P.category,
    P.description,
    P.unit,
    P.cooperative_id,
    P.origin_village_code,
    P.status,
    P.min_price_fen,
    P.created_at,
)
# The public list item's columns, read by position in ``_list_item``.
_LIST_COLUMNS = (
    P.id,
    P.name,
    P.category,
    P.unit,
    P.cooperative_id,
    P.origin_village_code,
    P.min_price_fen,
    P.created_at,
)
_ID, _PRICE = 0, 6  # positions the cursors read
# After the item's columns: is_branded, the cover's thumbnail key, then (sort=relevance) the rank.
_BRANDED, _COVER = len(_LIST_COLUMNS), len(_LIST_COLUMNS) + 1
_RANK = len(_LIST_COLUMNS) + 2
_SKU_COLUMNS = (
    S.id,
    S.code,
    S.spec,
    S.price_fen,
    S.stock,
    S.low_stock_threshold,
    S.supplier_member_id,
    S.batch_id,
)
_batch_table = ProductBatch.metadata.tables["product_batch"]
B = _batch_table.c


# --- validation helpers ----------------------------------------------------------------------


def _cleaned(value: str, field: str) -> str:
    text = value.strip()
    if not text:
        raise InvalidProduct("A required text is blank.", errors=[FieldError(field, "must not be blank")])
    return text


def _check_unique_codes(codes: Iterable[tuple[str, str]]) -> None:
    """``codes`` are (field, code) pairs; a code appears once per product."""
    seen: set[str] = set()
    for field, code in codes:
        if code in seen:
            raise InvalidProduct(
                f"SKU code {code} appears twice in this product.",
                code="duplicate_sku_code",
                errors=[FieldError(field, "duplicate SKU code within the product")],
            )
        seen.add(code)


async def _require_village(conn: AsyncSession | AsyncConnection, code: str) -> VillageRef:
    region = await regions_service.find_region(conn, code)
    if region is None or region.level != VILLAGE_LEVEL:
        raise InvalidProduct(
            f"{code} is not a village-level region of the district.",
            code="invalid_origin_village",
            errors=[FieldError("origin_village_code", "not a village-level region code")],
        )
    return VillageRef(code=region.code, name=region.name)


def _cooperative_ref(brief: CooperativeBrief | None) -> CooperativeRef | None:
    if brief is None:
        return None
    return CooperativeRef(id=brief.id, name=brief.name, village_code=brief.village_code)


def _sku_out(sku: Sku) -> SkuOut:
    return SkuOut(
        id=sku.id,
        code=sku.code,
        spec=sku.spec,
        price_fen=sku.price_fen,
        stock=sku.stock,
        low_stock_threshold=sku.low_stock_threshold,
        supplier_member_id=sku.supplier_member_id,
        batch_id=sku.batch_id,
    )


async def _check_attribution(
    conn: AsyncSession | AsyncConnection,
    cooperative_id: str,
    product_id: str,
    items: Iterable[tuple[str, str | None, str | None]],
) -> None:
    """Each (field prefix, supplier member, batch): the member belongs to the product's cooperative
    and the batch to the product itself (Art. 41: a line is attributed only to a real member)."""
    for where, member_id, batch_id in items:
        if member_id is not None and await coops_service.member_cooperative_id(conn, member_id) != cooperative_id:
            raise InvalidProduct(
                "The supplying member is not a member of this product's cooperative.",
                code="member_not_in_cooperative",
                errors=[FieldError(f"{where}.supplier_member_id", "not a member of the product's cooperative")],
            )
        if batch_id is not None:
            owner = (
                await conn.execute(select(B.product_id).where(B.id == batch_id))
            ).scalar_one_or_none()
            if owner != product_id:
                raise InvalidProduct(
                    "The batch is not a batch of this product.",
                    code="batch_not_of_product",
                    errors=[FieldError(f"{where}.batch_id", "not a batch of this product")],
                )


def _product_out(
    product: Any,
    skus: list[SkuOut],
    brief: CooperativeBrief | None,
    village: VillageRef | None,
    *,
    is_branded: bool = False,
    certifications: list[CertificationOut] | None = None,
    product_images: list[ProductImageOut] | None = None,
) -> ProductOut:
    """The full answer from a ``Product`` or a row with the same attribute names."""
    return ProductOut(
        id=product.id,
        name=product.name,
        category=product.category,
        description=product.description,
        unit=product.unit,
        cooperative_id=product.cooperative_id,
        origin_village_code=product.origin_village_code,
        is_branded=is_branded,
        status=product.status,
        min_price_fen=product.min_price_fen,
        skus=skus,
        images=product_images or [],
        certifications=certifications or [],
        created_at=product.created_at,
        cooperative=_cooperative_ref(brief),
        village=village,
    )


async def _village_ref(conn: AsyncSession | AsyncConnection, code: str) -> VillageRef | None:
    names = await regions_service.region_names(conn, [code])
    return VillageRef(code=code, name=names[code]) if code in names else None


# --- writes ----------------------------------------------------------------------------------


async def create_product(
    session: AsyncSession, principal: Principal, cooperative_id: str, data: ProductIn
) -> ProductOut:
    """Add a product with its SKUs to an approved cooperative the caller manages."""
    require_manager_role(principal)
    if not principal.manages(cooperative_id):
        raise CooperativeNotFound(f"No cooperative {cooperative_id}.")
    brief = await coops_service.get_cooperative_brief(session, cooperative_id)
    if brief is None:
        raise CooperativeNotFound(f"No cooperative {cooperative_id}.")
    if brief.status != APPROVED:
        raise CooperativeNotApproved("Only an approved cooperative may list products.")
    sku_codes = [(f"skus[{i}].code", _cleaned(s.code, f"skus[{i}].code")) for i, s in enumerate(data.skus)]
    _check_unique_codes(sku_codes)
    village = await _require_village(session, data.origin_village_code)
    now = clock.now()
    product = Product(
        cooperative_id=cooperative_id,
        name=_cleaned(data.name, "name"),
        category=data.category,
        description=data.description.strip(),
        unit=_cleaned(data.unit, "unit"),
        origin_village_code=village.code,
        status=ACTIVE,
        min_price_fen=min(s.price_fen for s in data.skus),
        created_at=now,
        updated_at=now,
    )
    skus = [
        Sku(
            product_id=product.id,
            code=code,
            spec=_cleaned(s.spec, f"skus[{i}].spec"),
            price_fen=s.price_fen,
            stock=s.stock,
            low_stock_threshold=s.low_stock_threshold,
            supplier_member_id=s.supplier_member_id,
            stock_version=stock_moves.initial_stock_version(s.stock),
            created_at=now,
        )
        for i, ((_, code), s) in enumerate(zip(sku_codes, data.skus, strict=True))
    ]
    await _check_attribution(
        session,
        cooperative_id,
        product.id,
        ((f"skus[{i}]", s.supplier_member_id, None) for i, s in enumerate(data.skus)),
    )
    session.add(product)
    await session.flush()
    session.add_all(skus)
    await session.flush()
    await _record_opening_stock(session, skus, principal, now)
    return _product_out(product, [_sku_out(s) for s in skus], brief, village)


async def _record_opening_stock(session: AsyncSession, skus: list[Sku], principal: Principal, now: Any) -> None:
    """The stock new SKUs start with is their first history entry (flush the SKUs first)."""
    rows = stock_moves.opening_history(
        ((s.id, s.stock) for s in skus),
        kind=stock_moves.CREATED,
        reason="SKU created",
        actor_id=principal.id,
        at=now,
    )
    await stock_moves.insert_history(session, rows)


def _apply_sku_changes(
    product_id: str, existing: list[Sku], changes: Sequence[SkuChangeIn], now: Any
) -> list[Sku]:
    """Price/spec changes to ``existing`` in place; returns the new SKUs to insert."""
    by_id = {s.id: s for s in existing}
    touched: set[str] = set()
    new_skus: list[Sku] = []
    for i, change in enumerate(changes):
        where = f"skus[{i}]"
        if change.id is not None:
            sku = by_id.get(change.id)
            if sku is None:
                raise InvalidProduct(
                    f"SKU {change.id} is not a SKU of this product.",
                    code="unknown_sku",
                    errors=[FieldError(f"{where}.id", "not a SKU of this product")],
                )
            if change.id in touched:
                raise InvalidProduct(
                    "A SKU is changed twice in one request.",
                    errors=[FieldError(f"{where}.id", "SKU listed twice")],
                )
            if change.code is not None or change.stock is not None:
                raise InvalidProduct(
                    "A SKU's code is fixed and its stock moves through stock adjustments.",
                    errors=[FieldError(f"{where}", "only price_fen and spec change on an existing SKU")],
                )
            if (
                change.price_fen is None
                and change.spec is None
                and change.low_stock_threshold is None
                and change.supplier_member_id is None
                and change.batch_id is None
            ):
                raise InvalidProduct(
                    "Nothing to change on this SKU.",
                    errors=[
                        FieldError(
                            f"{where}",
                            "send price_fen, spec, low_stock_threshold, supplier_member_id or batch_id",
                        )
                    ],
                )
            touched.add(change.id)
            if change.price_fen is not None:
                sku.price_fen = change.price_fen
            if change.spec is not None:
                sku.spec = _cleaned(change.spec, f"{where}.spec")
            if change.low_stock_threshold is not None:
                sku.low_stock_threshold = change.low_stock_threshold
            if change.supplier_member_id is not None:
                sku.supplier_member_id = change.supplier_member_id
            if change.batch_id is not None:
                sku.batch_id = change.batch_id
            continue
        missing = [name for name in ("code", "spec", "price_fen", "stock") if getattr(change, name) is None]
        if missing:
            raise InvalidProduct(
                "A new SKU needs code, spec, price_fen and stock.",
                errors=[FieldError(f"{where}.{name}", "required for a new SKU") for name in missing],
            )
        assert change.code is not None and change.spec is not None  # for the type checker
        assert change.price_fen is not None and change.stock is not None
        new_skus.append(
            Sku(
                product_id=product_id,
                code=_cleaned(change.code, f"{where}.code"),
                spec=_cleaned(change.spec, f"{where}.spec"),
                price_fen=change.price_fen,
                stock=change.stock,
                low_stock_threshold=change.low_stock_threshold or 0,
                supplier_member_id=change.supplier_member_id,
                batch_id=change.batch_id,
                stock_version=stock_moves.initial_stock_version(change.stock),
                created_at=now,
            )
        )
    codes = [(f"skus[{i}].code", s.code) for i, s in enumerate(existing)]
    codes += [(f"skus[{i}].code", s.code) for i, s in enumerate(new_skus)]
    _check_unique_codes(codes)
    if len(existing) + len(new_skus) > MAX_SKUS:
        raise InvalidProduct(
            f"A product has at most {MAX_SKUS} SKUs.",
            code="too_many_skus",
            errors=[FieldError("skus", f"at most {MAX_SKUS} SKUs per product")],
        )
    return new_skus


async def _provenance(conn: AsyncSession | AsyncConnection, product_id: str, today: date) -> dict[str, Any]:
    """``is_branded`` and ``certifications`` of a product answer, on ``today``."""
    return {
        "is_branded": await licences.is_branded(conn, product_id, today),
        "certifications": await certification_service.current_certifications(conn, product_id, today),
    }


async def update_product(
    session: AsyncSession,
    principal: Principal,
    product_id: str,
    data: ProductPatch,
    *,
    today: date,
    storage: ObjectStorage,
) -> ProductOut:
    """Change a product's fields, SKU prices or specs, or add SKUs; ``min_price_fen`` follows."""
    product = await managed_product_for_update(session, principal, product_id)
    now = clock.now()
    if data.name is not None:
        product.name = _cleaned(data.name, "name")
    if data.category is not None:
        product.category = data.category
    if data.description is not None:
        product.description = data.description.strip()
    if data.unit is not None:
        product.unit = _cleaned(data.unit, "unit")
    if data.origin_village_code is not None:
        product.origin_village_code = (await _require_village(session, data.origin_village_code)).code
    skus = list(
        (await session.execute(select(Sku).where(S.product_id == product.id).order_by(S.id))).scalars()
    )
    if data.skus:
        await _check_attribution(
            session,
            product.cooperative_id,
            product.id,
            ((f"skus[{i}]", c.supplier_member_id, c.batch_id) for i, c in enumerate(data.skus)),
        )
        new_skus = _apply_sku_changes(product.id, skus, data.skus, now)
        session.add_all(new_skus)
        skus.extend(new_skus)
        await session.flush()
        await _record_opening_stock(session, new_skus, principal, now)
    # The product row is locked and every price change goes through here, so this is the minimum.
    product.min_price_fen = min(s.price_fen for s in skus)
    product.updated_at = now
    brief = await coops_service.get_cooperative_brief(session, product.cooperative_id)
    village = await _village_ref(session, product.origin_village_code)
    provenance = await _provenance(session, product.id, today)
    product_images = await images.images_out(session, storage, product.id)
    return _product_out(product, [_sku_out(s) for s in skus], brief, village, product_images=product_images, **provenance)


async def archive_product(
    session: AsyncSession, principal: Principal, product_id: str, *, today: date, storage: ObjectStorage
) -> ProductOut:
    """Take a product off the public catalogue (idempotent); its managers still see it."""
    return await _set_status(session, principal, product_id, ARCHIVED, today=today, storage=storage)


async def unarchive_product(
    session: AsyncSession, principal: Principal, product_id: str, *, today: date, storage: ObjectStorage
) -> ProductOut:
    """Bring an archived product back (idempotent); the public sees it while its cooperative is approved."""
    return await _set_status(session, principal, product_id, ACTIVE, today=today, storage=storage)


async def _set_status(
    session: AsyncSession,
    principal: Principal,
    product_id: str,
    status: str,
    *,
    today: date,
    storage: ObjectStorage,
) -> ProductOut:
    product = await managed_product_for_update(session, principal, product_id)
    if product.status != status:
        product.status = status
        product.updated_at = clock.now()
    skus = (
        await session.execute(select(*_SKU_COLUMNS).where(S.product_id == product.id).order_by(S.id))
    ).all()
    brief = await coops_service.get_cooperative_brief(session, product.cooperative_id)
    village = await _village_ref(session, product.origin_village_code)
    provenance = await _provenance(session, product.id, today)
    product_images = await images.images_out(session, storage, product.id)
    return _product_out(product, [_sku_row_out(r) for r in skus], brief, village, product_images=product_images, **provenance)


async def adjust_stock(
    session: AsyncSession, principal: Principal, sku_id: str, data: StockAdjustmentIn
) -> StockOut:
    """Add or remove stock of a SKU the caller manages; stock never goes below zero."""
    require_manager_role(principal)
    owner = (
        await session.execute(
            select(P.cooperative_id)
            .join_from(_sku_table, _product_table, S.product_id == P.id)
            .where(S.id == sku_id)
        )
    ).one_or_none()
    if owner is None or not principal.manages(owner.cooperative_id):
        raise SkuNotFound(f"No SKU {sku_id}.")
    if data.delta == 0:
        raise ValidationFailed(
            "A stock adjustment moves at least one unit.",
            errors=[FieldError("delta", "must not be 0")],
        )
    change = await stock_moves.change_stock(
        session,
        sku_id,
        data.delta,
        guard=stock_moves.WITHIN_LIMITS,
        kind=stock_moves.ADJUSTMENT,
        reason=data.reason.strip(),
        actor_id=principal.id,
    )
    if change is None:
        if data.delta < 0:
            raise InsufficientStock("Not that much stock to remove.")
        raise InvalidProduct(
            f"Stock may not exceed {MAX_STOCK}.",
            code="stock_limit_exceeded",
            errors=[FieldError("delta", f"stock would exceed {MAX_STOCK}")],
        )
    log.info("stock adjusted sku=%s delta=%d stock=%d by=%s", sku_id, data.delta, change.stock, principal.id)
    return StockOut(sku_id=sku_id, stock=change.stock)


# --- reads -----------------------------------------------------------------------------------


def _sku_row_out(row: Any) -> SkuOut:
    return SkuOut(
        id=row.id,
        code=row.code,
        spec=row.spec,
        price_fen=row.price_fen,
        stock=row.stock,
        low_stock_threshold=row.low_stock_threshold,
        supplier_member_id=row.supplier_member_id,
        batch_id=row.batch_id,
    )


async def get_product(
    conn: AsyncConnection, principal: Principal | None, product_id: str, *, today: date, storage: ObjectStorage
) -> ProductOut:
    """One product with SKUs, certificates, cooperative and village, branded or not on ``today``;
    hidden unless public or the caller manages it."""
    row = (
        await conn.execute(
            select(
                *_PRODUCT_COLUMNS, P.id.in_(licences.branded_product_ids(today)).label("is_branded")
            ).where(P.id == product_id)
        )
    ).one_or_none()
    if row is None:
        raise ProductNotFound(f"No product {product_id}.")
    brief = await coops_service.get_cooperative_brief(conn, row.cooperative_id)
    is_public = row.status == ACTIVE and brief is not None and brief.status == APPROVED
    if not is_public and not (principal is not None and principal.manages(row.cooperative_id)):
        raise ProductNotFound(f"No product {product_id}.")
    skus = (await conn.execute(select(*_SKU_COLUMNS).where(S.product_id == product_id).order_by(S.id))).all()
    village = await _village_ref(conn, row.origin_village_code)
    return _product_out(
        row,
        [_sku_row_out(r) for r in skus],
        brief,
        village,
        is_branded=bool(row.is_branded),
        certifications=await certification_service.current_certifications(conn, product_id, today),
        product_images=await images.images_out(conn, storage, product_id),
    )


# --- the public list ---------------------------------------------------------------------------
#
# One statement per shape (database, sort, cursor or not, which filters), built once and cached;
# values are bound at execution. Each optional filter is one entry of ``_LIST_FILTERS``: its
# condition, built from bind parameters, and ``_bind_list_filters`` binding a request's values to
# them. The item's columns are ``_LIST_COLUMNS`` (above), read by position in ``_list_item``
# (positions are several times cheaper than names per row on this hot path).


def _list_item(r: Any, storage: ObjectStorage) -> ProductListItem:
    return ProductListItem(
        id=r[0],
        name=r[1],
        category=r[2],
        unit=r[3],
        cooperative_id=r[4],
        origin_village_code=r[5],
        is_branded=bool(r[_BRANDED]),
        price_fen=r[6],
        cover_image_url=images.cover_url(storage, r[_COVER]),
        created_at=r[7],
    )


def _branded_condition() -> ColumnElement[bool]:
    """Products a granted brand licence covers on ``:brand_today`` (``coops.licences``): a sub-select
    that is not correlated, so the database evaluates it once per statement, from the licence indexes."""
    return P.id.in_(licences.branded_product_ids())


def _region_condition() -> ColumnElement[bool]:
    # Codes are fixed-length digit strings that nest by prefix, so "starts with" is a range
    # (index-friendly under any collation, unlike LIKE 'prefix%' on PostgreSQL).
    return P.origin_village_code.between(bindparam("region_low"), bindparam("region_high"))


# Filter shape -> its condition for a database ("postgresql" or "sqlite").
_LIST_FILTERS: dict[str, Callable[[str], ColumnElement[bool]]] = {
    "q_exact": lambda dialect: search.match_condition(dialect, search.EXACT),
    "q_checked": lambda dialect: search.match_condition(dialect, search.CHECKED),
    "category": lambda _: P.category == bindparam("category"),
    "region": lambda _: _region_condition(),
    "cooperative": lambda _: P.cooperative_id == bindparam("cooperative_id"),
    "branded": lambda _: _branded_condition(),
    "min_price": lambda _: P.min_price_fen >= bindparam("min_price"),
    "max_price": lambda _: P.min_price_fen <= bindparam("max_price"),
}


def _bind_list_filters(
    *,
    q: str | None,
    category: str | None,
    region_code: str | None,
    cooperative_id: str | None,
    branded: bool | None,
    min_price_fen: int | None,
    max_price_fen: int | None,
) -> tuple[frozenset[str], dict[str, Any]]:
    """The filter shapes a request uses and their bind parameters."""
    shapes: set[str] = set()
    params: dict[str, Any] = {}
    if q:
        shapes.add(f"q_{search.shape(q)}")
        params.update(search.parameters(q))
    if category is not None:
        shapes.add("category")
        params["category"] = category
    if region_code:
        shapes.add("region")
        params["region_low"] = region_code.ljust(VILLAGE_CODE_LENGTH, "0")
        params["region_high"] = region_code.ljust(VILLAGE_CODE_LENGTH, "9")
    if cooperative_id is not None:
        shapes.add("cooperative")
        params["cooperative_id"] = cooperative_id
    if branded:  # branded=false filters nothing out
        shapes.add("branded")
    if min_price_fen is not None:
        shapes.add("min_price")
        params["min_price"] = min_price_fen
    if max_price_fen is not None:
        shapes.add("max_price")
        params["max_price"] = max_price_fen
    return frozenset(shapes), params


def _invalid_cursor() -> ValidationFailed:
    return ValidationFailed(
        "The cursor does not fit this listing.",
        code="invalid_cursor",
        errors=[FieldError("cursor", "cursor from another listing or sort order")],
    )


def _cursor_values(cursor: str | None, sort: str) -> list[Any] | None:
    """The keyset after the sort tag, type-checked (a cursor is client input)."""
    arity = 2 if sort == "newest" else 3
    values = decode_cursor(cursor, arity)
    if values is None:
        return None
    if values[0] != sort or not isinstance(values[-1], str):
        raise _invalid_cursor()
    if arity == 3 and (not isinstance(values[1], int) or isinstance(values[1], bool)):
        raise _invalid_cursor()
    return values[1:]


@functools.cache
def _list_statement(dialect: str, sort: str, has_after: bool, filters: frozenset[str]) -> Select[Any]:
    """The listing's SELECT for one shape, built once; values are bound at execution (the filters'
    parameters, ``after_*`` and ``limit``)."""
    conditions: list[ColumnElement[bool]] = [
        P.status == ACTIVE,
        P.cooperative_id.in_(coops_service.approved_cooperative_ids()),
    ]
    conditions += [_LIST_FILTERS[name](dialect) for name in sorted(filters)]

    # The item's columns, then is_branded and the cover's thumbnail (an outer join on the one cover).
    columns: list[Any] = [*_LIST_COLUMNS, _branded_condition().label("is_branded"), images.COVER_THUMB_KEY]
    if sort in ("price_asc", "price_desc"):
        after_key = tuple_(bindparam("after_price", type_=Integer), bindparam("after_id", type_=String))
        price: ColumnElement[int] = P.min_price_fen
        if dialect == "postgresql" and filters & {"q_exact", "q_checked"}:
            # Searching: sort the matches (found through the search index) rather than walk the
            # price index until 20 match. PostgreSQL's planner assumes matches are spread evenly
            # over prices; when they cluster (woodcut prints are all dear) that walk reads most of
            # the catalogue (160 ms on 50,000 products, against 6 ms for the sort).
            price = P.min_price_fen + literal_column("0")
        if sort == "price_asc":
            order_by = [price.asc(), P.id.asc()]
            if has_after:
                conditions.append(tuple_(P.min_price_fen, P.id) > after_key)
        else:
            order_by = [price.desc(), P.id.desc()]
            if has_after:
                conditions.append(tuple_(P.min_price_fen, P.id) < after_key)
    elif sort == "relevance":
        rank = search.rank_expression().label("rank")
        columns.append(rank)
        order_by = [rank.asc(), P.id.desc()]
        if has_after:
            conditions.append(
                or_(
                    rank > bindparam("after_rank", type_=Integer),
                    and_(rank == bindparam("after_rank_eq", type_=Integer), P.id < bindparam("after_id")),
                )
            )
    else:  # newest: ids are time ordered
        order_by = [P.id.desc()]
        if has_after:
            conditions.append(P.id < bindparam("after_id"))
    return (
        select(*columns)
        .select_from(images.with_cover(_product_table))
        .where(*conditions)
        .order_by(*order_by)
        .limit(bindparam("limit", type_=Integer))
    )


async def list_products(
    db: Database,
    *,
    q: str | None = None,
    category: str | None = None,
    region_code: str | None = None,
    cooperative_id: str | None = None,
    branded: bool | None = None,
    min_price_fen: int | None = None,
    max_price_fen: int | None = None,
    sort: ListSort = "newest",
    limit: int = 20,
    cursor: str | None = None,
    today: date,
    storage: ObjectStorage,
) -> ProductPage:
    """Active products of approved cooperatives, searched, filtered, sorted and keyset-paginated;
    branded or not on ``today`` (a granted licence covers them that day). One statement, on a
    pooled connection of its own (``Database.read_rows``)."""
    q = q.strip() if q else None
    effective_sort: str = sort
    if sort == "relevance" and not q:
        effective_sort = "newest"
    after = _cursor_values(cursor, effective_sort)
    filters, params = _bind_list_filters(
        q=q,
        category=category,
        region_code=region_code,
        cooperative_id=cooperative_id,
        branded=branded,
        min_price_fen=min_price_fen,
        max_price_fen=max_price_fen,
    )
    params["limit"] = limit + 1
    params[licences.BRAND_TODAY] = today
    if after is not None:
        if effective_sort == "newest":
            params["after_id"] = after[0]
        elif effective_sort == "relevance":
            params["after_rank"] = params["after_rank_eq"] = after[0]
            params["after_id"] = after[1]
        else:
            params["after_price"], params["after_id"] = after[0], after[1]

    stmt = _list_statement(db.dialect, effective_sort, after is not None, filters)
    rows = await db.read_rows(stmt, params)
    next_cursor: str | None = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        if effective_sort == "newest":
            next_cursor = encode_cursor(["newest", last[_ID]])
        elif effective_sort == "relevance":
            next_cursor = encode_cursor(["relevance", last[_RANK], last[_ID]])
        else:
            next_cursor = encode_cursor([effective_sort, last[_PRICE], last[_ID]])
    return ProductPage(items=[_list_item(r, storage) for r in rows], next_cursor=next_cursor)


# --- for other slices (join the caller's transaction, never commit) --------------------------


_SKUS_FOR_ORDER = (
    select(
        S.id,
        S.product_id,
        P.name,
        S.spec,
        P.category,
        P.unit,
        S.price_fen,
        P.cooperative_id,
        case(
            (and_(P.status == ACTIVE, P.cooperative_id.in_(coops_service.approved_cooperative_ids())), True),
            else_=False,
        ).label("is_sellable"),
        # A batch that names its member overrides the SKU's supplying member.
        func.coalesce(B.member_id, S.supplier_member_id).label("member_id"),
        S.batch_id,
    )
    .join_from(_sku_table, _product_table, S.product_id == P.id)
    .outerjoin(_batch_table, B.id == S.batch_id)
    .where(S.id.in_(bindparam("sku_ids", expanding=True)))
)
async def skus_for_order(
    session: AsyncSession | AsyncConnection, sku_ids: list[str]
) -> dict[str, SkuForOrder]:
    """Checkout's view of the given SKUs (unknown ids are absent), in one query. Joins the caller's
    transaction."""
    if not sku_ids:
        return {}
    rows = await fetch_all(session, _SKUS_FOR_ORDER, {"sku_ids": sorted(set(sku_ids))})
    return {
        r[0]: SkuForOrder(
            sku_id=r[0],
            product_id=r[1],
            product_name=r[2],
            spec=r[3],
            category=r[4],
            unit=r[5],
            price_fen=r[6],
            cooperative_id=r[7],
            is_sellable=bool(r[8]),
            member_id=r[9],
            batch_id=r[10],
        )
        for r in rows
    }


async def take_stock(
    session: AsyncSession | AsyncConnection,
    sku_id: str,
    quantity: int,
    *,
    order_id: str,
    actor_id: str | None,
    reason: str = "order placed",
) -> bool:
    """Take ``quantity`` units for an order if that many are in stock (one conditional UPDATE, the
    history row in the same statement on PostgreSQL); True when taken. Joins the caller's
    transaction."""
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    change = await stock_moves.change_stock(
        session,
        sku_id,
        -quantity,
        guard=stock_moves.ENOUGH_STOCK,
        kind=stock_moves.ORDER,
        reason=reason,
        actor_id=actor_id,
        order_id=order_id,
    )
    return change is not None


async def release_stock(
    session: AsyncSession | AsyncConnection,
    quantities: dict[str, int],
    *,
    order_id: str,
    actor_id: str | None,
    reason: str,
) -> None:
    """Give an order's stock back (in SKU id order, so concurrent releases lock rows alike), each
    change recorded with ``reason``, the order and who did it (``None``: the system). Joins the
    caller's transaction."""
    for sku_id in sorted(quantities):
        quantity = quantities[sku_id]
        if quantity < 0:
            raise ValueError("quantity must not be negative")
        if quantity == 0:
            continue
        await stock_moves.change_stock(
            session,
            sku_id,
            quantity,
            guard=stock_moves.UNGUARDED,
            kind=stock_moves.ORDER_RELEASE,
            reason=reason,
            actor_id=actor_id,
            order_id=order_id,
        )


async def lock_products(session: AsyncSession, product_ids: Sequence[str]) -> dict[str, str]:
    """Lock the given products' rows in id order (as certificate changes do) and return their
    cooperative ids (unknown ids are absent). Joins the caller's transaction."""
    if not product_ids:
        return {}
    rows = (
        await session.execute(
            select(P.id, P.cooperative_id)
            .where(P.id.in_(sorted(set(product_ids))))
            .order_by(P.id)
            .with_for_update()
        )
    ).all()
    return {r.id: r.cooperative_id for r in rows}


async def product_briefs(
    conn: AsyncSession | AsyncConnection, product_ids: Sequence[str]
) -> dict[str, ProductBrief]:
    """``{id: ProductBrief}`` of the given products (unknown ids are absent). Joins the caller's
    transaction."""
    if not product_ids:
        return {}
    rows = (
        await conn.execute(
            select(P.id, P.name, P.cooperative_id, P.status).where(P.id.in_(sorted(set(product_ids))))
        )
    ).all()
    return {
        r.id: ProductBrief(id=r.id, name=r.name, cooperative_id=r.cooperative_id, status=r.status)
        for r in rows
    }
