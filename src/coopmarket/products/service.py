"""The catalogue: products, their SKUs and stock.

Public reads (list, detail) are SQLAlchemy Core selects of the returned columns on a read
connection. Writes lock the product row first (``FOR UPDATE`` on PostgreSQL; SQLite write
transactions are ``BEGIN IMMEDIATE``), so ``min_price_fen`` can be recomputed from the SKUs in
Python and stay equal to the lowest SKU price. Stock only moves through conditional UPDATEs.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Sequence
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
    or_,
    select,
    tuple_,
    update,
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
from coopmarket.products import certifications as certification_service
from coopmarket.products import images
from coopmarket.products.access import managed_product_for_update, require_manager_role
from coopmarket.products.errors import (
    CooperativeNotApproved,
    InsufficientStock,
    InvalidProduct,
    ProductNotFound,
    SkuNotFound,
)
from coopmarket.products.models import Product, Sku, StockAdjustment
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
_SKU_COLUMNS = (S.id, S.code, S.spec, S.price_fen, S.stock)


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
    return SkuOut(id=sku.id, code=sku.code, spec=sku.spec, price_fen=sku.price_fen, stock=sku.stock)


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
            created_at=now,
        )
        for i, ((_, code), s) in enumerate(zip(sku_codes, data.skus, strict=True))
    ]
    session.add(product)
    await session.flush()
    session.add_all(skus)
    return _product_out(product, [_sku_out(s) for s in skus], brief, village)


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
            if change.price_fen is None and change.spec is None:
                raise InvalidProduct(
                    "Nothing to change on this SKU.",
                    errors=[FieldError(f"{where}", "send price_fen or spec")],
                )
            touched.add(change.id)
            if change.price_fen is not None:
                sku.price_fen = change.price_fen
            if change.spec is not None:
                sku.spec = _cleaned(change.spec, f"{where}.spec")
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
        new_skus = _apply_sku_changes(product.id, skus, data.skus, now)
        session.add_all(new_skus)
        skus.extend(new_skus)
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
    product = await managed_product_for_update(session, principal, product_id)
    if product.status != ARCHIVED:
        product.status = ARCHIVED
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
    new_stock = S.stock + data.delta
    stock = (
        await session.execute(
            update(_sku_table)
            .where(S.id == sku_id, new_stock >= 0, new_stock <= MAX_STOCK)
            .values(stock=new_stock)
            .returning(S.stock)
        )
    ).scalar_one_or_none()
    if stock is None:
        if data.delta < 0:
            raise InsufficientStock("Not that much stock to remove.")
        raise InvalidProduct(
            f"Stock may not exceed {MAX_STOCK}.",
            code="stock_limit_exceeded",
            errors=[FieldError("delta", f"stock would exceed {MAX_STOCK}")],
        )
    session.add(
        StockAdjustment(
            sku_id=sku_id,
            delta=data.delta,
            stock_after=stock,
            reason=data.reason.strip(),
            actor_id=principal.id,
        )
    )
    log.info("stock adjusted sku=%s delta=%d stock=%d by=%s", sku_id, data.delta, stock, principal.id)
    return StockOut(sku_id=sku_id, stock=stock)


# --- reads -----------------------------------------------------------------------------------


def _sku_row_out(row: Any) -> SkuOut:
    return SkuOut(id=row.id, code=row.code, spec=row.spec, price_fen=row.price_fen, stock=row.stock)


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


def _like_pattern(text: str) -> str:
    """``%text%`` with LIKE's wildcards in ``text`` taken literally (escape character ``\\``)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


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


def _branding_columns(conditions: list[ColumnElement[bool]], filters: frozenset[str]) -> list[Any]:
    """Brand licences in the listing: the ``is_branded`` column, and with ``branded`` in ``filters``
    the filter on it (added to ``conditions``). Both are ``product.id IN (granted licences' products
    on :brand_today)``, from ``coops.licences.branded_product_ids``; the caller binds ``brand_today``."""
    branded_ids = licences.branded_product_ids()
    if "branded" in filters:
        conditions.append(P.id.in_(branded_ids))
    return [P.id.in_(branded_ids).label("is_branded")]


@functools.cache
def _list_statement(sort: str, has_after: bool, filters: frozenset[str]) -> Select[Any]:
    """The listing's SELECT for one shape (sort, cursor, which filters), built once; values are
    bound at execution (``q_name``, ``q_description``, ``category``, ``region_low``/``_high``,
    ``cooperative_id``, ``min_price``, ``max_price``, ``after_*``, ``limit``, ``brand_today``)."""
    conditions: list[ColumnElement[bool]] = [
        P.status == ACTIVE,
        P.cooperative_id.in_(coops_service.approved_cooperative_ids()),
    ]
    rank: ColumnElement[int] | None = None
    if "q" in filters:
        name_matches = P.name.ilike(bindparam("q_name"), escape="\\")
        conditions.append(or_(name_matches, P.description.ilike(bindparam("q_description"), escape="\\")))
        rank = case((name_matches, 0), else_=1)
    if "category" in filters:
        conditions.append(P.category == bindparam("category"))
    if "region" in filters:
        # Codes are fixed-length digit strings that nest by prefix, so "starts with" is a range
        # (index-friendly under any collation, unlike LIKE 'prefix%' on PostgreSQL).
        conditions.append(P.origin_village_code.between(bindparam("region_low"), bindparam("region_high")))
    if "cooperative" in filters:
        conditions.append(P.cooperative_id == bindparam("cooperative_id"))
    if "min_price" in filters:
        conditions.append(P.min_price_fen >= bindparam("min_price"))
    if "max_price" in filters:
        conditions.append(P.min_price_fen <= bindparam("max_price"))

    columns: list[Any] = [*_LIST_COLUMNS, *_branding_columns(conditions, filters)]
    if sort in ("price_asc", "price_desc"):
        after_key = tuple_(bindparam("after_price", type_=Integer), bindparam("after_id", type_=String))
        if sort == "price_asc":
            order_by = [P.min_price_fen.asc(), P.id.asc()]
            if has_after:
                conditions.append(tuple_(P.min_price_fen, P.id) > after_key)
        else:
            order_by = [P.min_price_fen.desc(), P.id.desc()]
            if has_after:
                conditions.append(tuple_(P.min_price_fen, P.id) < after_key)
    elif sort == "relevance":
        assert rank is not None
        rank = rank.label("rank")
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
        select(*columns, images.COVER_THUMB_KEY)  # the cover last: r[-1] (images.with_cover)
        .select_from(images.with_cover(_product_table))
        .where(*conditions)
        .order_by(*order_by)
        .limit(bindparam("limit", type_=Integer))
    )


async def list_products(
    conn: AsyncConnection,
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
    """Active products of approved cooperatives, filtered, sorted and keyset-paginated; branded or
    not on ``today`` (a granted licence covers them that day)."""
    q = q.strip() if q else None
    effective_sort: str = sort
    if sort == "relevance" and not q:
        effective_sort = "newest"
    after = _cursor_values(cursor, effective_sort)
    filters: set[str] = set()
    params: dict[str, Any] = {"limit": limit + 1, licences.BRAND_TODAY: today}
    if branded:
        filters.add("branded")
    if q:
        pattern = _like_pattern(q)
        params["q_name"] = params["q_description"] = pattern
        filters.add("q")
    if category is not None:
        params["category"] = category
        filters.add("category")
    if region_code:
        params["region_low"] = region_code.ljust(VILLAGE_CODE_LENGTH, "0")
        params["region_high"] = region_code.ljust(VILLAGE_CODE_LENGTH, "9")
        filters.add("region")
    if cooperative_id is not None:
        params["cooperative_id"] = cooperative_id
        filters.add("cooperative")
    if min_price_fen is not None:
        params["min_price"] = min_price_fen
        filters.add("min_price")
    if max_price_fen is not None:
        params["max_price"] = max_price_fen
        filters.add("max_price")
    if after is not None:
        if effective_sort == "newest":
            params["after_id"] = after[0]
        elif effective_sort == "relevance":
            params["after_rank"] = params["after_rank_eq"] = after[0]
            params["after_id"] = after[1]
        else:
            params["after_price"], params["after_id"] = after[0], after[1]

    stmt = _list_statement(effective_sort, after is not None, frozenset(filters))
    rows = (await conn.execute(stmt, params)).all()
    next_cursor: str | None = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        if effective_sort == "newest":
            next_cursor = encode_cursor(["newest", last[0]])
        elif effective_sort == "relevance":
            next_cursor = encode_cursor(["relevance", last.rank, last[0]])
        else:
            next_cursor = encode_cursor([effective_sort, last[6], last[0]])
    items = [
        ProductListItem(
            id=r[0],
            name=r[1],
            category=r[2],
            unit=r[3],
            cooperative_id=r[4],
            origin_village_code=r[5],
            is_branded=bool(r.is_branded),
            price_fen=r[6],
            cover_image_url=images.cover_url(storage, r[-1]),
            created_at=r[7],
        )
        for r in rows
    ]
    return ProductPage(items=items, next_cursor=next_cursor)


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
    )
    .join_from(_sku_table, _product_table, S.product_id == P.id)
    .where(S.id.in_(bindparam("sku_ids", expanding=True)))
)
_TAKE_STOCK = (
    update(_sku_table)
    .where(S.id == bindparam("take_sku_id"), S.stock >= bindparam("take_min_stock"))
    .values(stock=S.stock - bindparam("take_quantity", type_=Integer))
)


async def skus_for_order(
    session: AsyncSession | AsyncConnection, sku_ids: list[str]
) -> dict[str, SkuForOrder]:
    """Checkout's view of the given SKUs (unknown ids are absent), in one query. Joins the caller's
    transaction."""
    if not sku_ids:
        return {}
    rows = (await session.execute(_SKUS_FOR_ORDER, {"sku_ids": sorted(set(sku_ids))})).all()
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
        )
        for r in rows
    }


async def take_stock(session: AsyncSession | AsyncConnection, sku_id: str, quantity: int) -> bool:
    """Take ``quantity`` units if that many are in stock (one conditional UPDATE); True when taken.
    Joins the caller's transaction."""
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    result = await session.execute(
        _TAKE_STOCK, {"take_sku_id": sku_id, "take_min_stock": quantity, "take_quantity": quantity}
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def release_stock(session: AsyncSession | AsyncConnection, quantities: dict[str, int]) -> None:
    """Give stock back (in SKU id order, so concurrent releases lock rows alike). Joins the caller's
    transaction."""
    for sku_id in sorted(quantities):
        quantity = quantities[sku_id]
        if quantity < 0:
            raise ValueError("quantity must not be negative")
        if quantity == 0:
            continue
        await session.execute(update(_sku_table).where(S.id == sku_id).values(stock=S.stock + quantity))


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
