"""What a manager reads day to day: the cooperative's own catalogue (archived and hidden products
included), each SKU's stock history, and the SKUs running low. Core selects on a read connection.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import Integer, String, bindparam, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from coopmarket.coops import licences
from coopmarket.coops import service as coops_service
from coopmarket.coops.errors import CooperativeNotFound
from coopmarket.core.errors import FieldError, PermissionDenied, ValidationFailed
from coopmarket.core.pagination import decode_cursor, encode_cursor
from coopmarket.core.principal import COOP_MANAGER, Principal
from coopmarket.products.errors import SkuNotFound
from coopmarket.products.models import Product, Sku, StockAdjustment
from coopmarket.products.schemas import (
    LowStockItem,
    LowStockPage,
    ManagedProductItem,
    ManagedProductPage,
    ProductStatusFilter,
    SkuOut,
    StockChangeOut,
    StockHistoryPage,
)

P = Product.metadata.tables["product"].c
S = Sku.metadata.tables["sku"].c
H = StockAdjustment.metadata.tables["stock_adjustment"].c
_product_table = Product.metadata.tables["product"]
_sku_table = Sku.metadata.tables["sku"]

ACTIVE = "active"


def _invalid_cursor() -> ValidationFailed:
    return ValidationFailed(
        "The cursor does not fit this listing.",
        code="invalid_cursor",
        errors=[FieldError("cursor", "cursor from another listing")],
    )


def _require_manager_role(principal: Principal) -> None:
    if principal.role != COOP_MANAGER:
        raise PermissionDenied("Only cooperative managers do this.", code="forbidden_role")


def require_managed_cooperative(principal: Principal, cooperative_id: str) -> None:
    """403 unless a cooperative manager; 404 unless one of theirs."""
    _require_manager_role(principal)
    if not principal.manages(cooperative_id):
        raise CooperativeNotFound(f"No cooperative {cooperative_id}.")


async def _require_manager_or_staff(conn: AsyncConnection, principal: Principal, cooperative_id: str) -> None:
    """Its managers, and staff whose region holds its village; 403 for other roles, 404 otherwise."""
    if principal.role == COOP_MANAGER:
        if principal.manages(cooperative_id):
            return
        raise CooperativeNotFound(f"No cooperative {cooperative_id}.")
    if not principal.is_staff:
        raise PermissionDenied(
            "Only its managers and staff see a cooperative's catalogue.", code="forbidden_role"
        )
    brief = await coops_service.get_cooperative_brief(conn, cooperative_id)
    if brief is None or not principal.covers_region(brief.village_code):
        raise CooperativeNotFound(f"No cooperative {cooperative_id}.")


# --- the cooperative's own catalogue ------------------------------------------------------------

_MANAGED_COLUMNS = (
    P.id,
    P.name,
    P.category,
    P.unit,
    P.status,
    P.origin_village_code,
    P.min_price_fen,
    P.created_at,
    P.updated_at,
)
_SKU_COLUMNS = (
    S.product_id,
    S.id,
    S.code,
    S.spec,
    S.price_fen,
    S.stock,
    S.low_stock_threshold,
    S.supplier_member_id,
    S.batch_id,
)


async def list_cooperative_products(
    conn: AsyncConnection,
    principal: Principal,
    cooperative_id: str,
    *,
    status: ProductStatusFilter = "all",
    limit: int = 20,
    cursor: str | None = None,
    today: date,
) -> ManagedProductPage:
    """The cooperative's products, newest first, with their SKUs and stock; archived ones and those
    the public cannot see (a suspended cooperative's) included, each branded or not on ``today``.
    Its managers and staff in scope."""
    await _require_manager_or_staff(conn, principal, cooperative_id)
    after = decode_cursor(cursor, 1)
    if after is not None and not isinstance(after[0], str):
        raise _invalid_cursor()
    conditions = [P.cooperative_id == cooperative_id]
    if status != "all":
        conditions.append(P.status == status)
    if after is not None:
        conditions.append(P.id < after[0])
    rows = (
        await conn.execute(
            select(*_MANAGED_COLUMNS, P.id.in_(licences.branded_product_ids(today)).label("is_branded"))
            .where(*conditions)
            .order_by(P.id.desc())
            .limit(limit + 1)
        )
    ).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor([rows[-1].id])
    skus: dict[str, list[SkuOut]] = defaultdict(list)
    if rows:
        for r in (
            await conn.execute(
                select(*_SKU_COLUMNS).where(S.product_id.in_([p.id for p in rows])).order_by(S.id)
            )
        ).all():
            skus[r.product_id].append(
                SkuOut(
                    id=r.id,
                    code=r.code,
                    spec=r.spec,
                    price_fen=r.price_fen,
                    stock=r.stock,
                    low_stock_threshold=r.low_stock_threshold,
                    supplier_member_id=r.supplier_member_id,
                    batch_id=r.batch_id,
                )
            )
    items = [
        ManagedProductItem(
            id=p.id,
            name=p.name,
            category=p.category,
            unit=p.unit,
            status=p.status,
            origin_village_code=p.origin_village_code,
            is_branded=bool(p.is_branded),
            price_fen=p.min_price_fen,
            skus=skus[p.id],
            created_at=p.created_at,
            updated_at=p.updated_at,
        )
        for p in rows
    ]
    return ManagedProductPage(items=items, next_cursor=next_cursor)


# --- stock history ------------------------------------------------------------------------------

_HISTORY_COLUMNS = (H.seq, H.created_at, H.kind, H.delta, H.stock_after, H.reason, H.actor_id, H.order_id)
_HISTORY = (
    select(*_HISTORY_COLUMNS)
    .where(H.sku_id == bindparam("sku_id"), H.seq < bindparam("before_seq", type_=Integer))
    .order_by(H.seq.desc())
    .limit(bindparam("limit", type_=Integer))
)
_SKU_OWNER = (
    select(P.cooperative_id)
    .join_from(_sku_table, _product_table, S.product_id == P.id)
    .where(S.id == bindparam("sku_id", type_=String))
)


async def stock_history(
    conn: AsyncConnection, principal: Principal, sku_id: str, *, limit: int = 20, cursor: str | None = None
) -> StockHistoryPage:
    """Every change of a SKU's stock, newest first, with its reason, who made it and the order
    behind it. Its cooperative's managers only."""
    _require_manager_role(principal)
    owner = (await conn.execute(_SKU_OWNER, {"sku_id": sku_id})).one_or_none()
    if owner is None or not principal.manages(owner.cooperative_id):
        raise SkuNotFound(f"No SKU {sku_id}.")
    after = decode_cursor(cursor, 1)
    if after is not None and (not isinstance(after[0], int) or isinstance(after[0], bool)):
        raise _invalid_cursor()
    before_seq = after[0] if after is not None else 2**31 - 1
    rows = (
        await conn.execute(_HISTORY, {"sku_id": sku_id, "before_seq": before_seq, "limit": limit + 1})
    ).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor([rows[-1].seq])
    items = [
        StockChangeOut(
            seq=r.seq,
            at=r.created_at,
            kind=r.kind,
            delta=r.delta,
            stock_after=r.stock_after,
            reason=r.reason,
            actor_id=r.actor_id,
            order_id=r.order_id,
        )
        for r in rows
    ]
    return StockHistoryPage(items=items, next_cursor=next_cursor)


# --- low stock ----------------------------------------------------------------------------------


async def low_stock(
    conn: AsyncConnection,
    principal: Principal,
    cooperative_id: str,
    *,
    limit: int = 20,
    cursor: str | None = None,
) -> LowStockPage:
    """The cooperative's SKUs whose stock is at or below their ``low_stock_threshold`` (sold-out
    ones included; archived products left out), the emptiest first. Its managers only."""
    require_managed_cooperative(principal, cooperative_id)
    after = decode_cursor(cursor, 2)
    if after is not None and (
        not isinstance(after[0], int) or isinstance(after[0], bool) or not isinstance(after[1], str)
    ):
        raise _invalid_cursor()
    conditions: list[Any] = [
        P.cooperative_id == cooperative_id,
        P.status == ACTIVE,
        S.stock <= S.low_stock_threshold,
    ]
    if after is not None:
        after_key = tuple_(bindparam("after_stock", after[0], type_=Integer), bindparam("after_id", after[1]))
        conditions.append(tuple_(S.stock, S.id) > after_key)
    rows = (
        await conn.execute(
            select(S.id, S.code, S.spec, S.stock, S.low_stock_threshold, P.id.label("product_id"), P.name)
            .join_from(_sku_table, _product_table, S.product_id == P.id)
            .where(*conditions)
            .order_by(S.stock.asc(), S.id.asc())
            .limit(limit + 1)
        )
    ).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor([rows[-1].stock, rows[-1].id])
    items = [
        LowStockItem(
            sku_id=r.id,
            sku_code=r.code,
            spec=r.spec,
            stock=r.stock,
            low_stock_threshold=r.low_stock_threshold,
            product_id=r.product_id,
            product_name=r.name,
        )
        for r in rows
    ]
    return LowStockPage(items=items, next_cursor=next_cursor)
