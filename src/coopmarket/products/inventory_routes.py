"""HTTP routes of what a manager needs day to day: the cooperative's own catalogue, stock history,
low stock, and bulk import and export of products and SKUs."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import FromPath, QueryParameter

from coopmarket.core.http import Caller, Db
from coopmarket.core.openapi import problems
from coopmarket.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from coopmarket.products import inventory
from coopmarket.products.schemas import (
    LowStockPage,
    StockHistoryPage,
)

Limit = Annotated[int, QueryParameter(name="limit", ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, QueryParameter(name="cursor", max_length=500)]


class CooperativeCatalogueController(Controller):
    path = "/api/v1/cooperatives/{cooperative_id:str}"
    tags = ["catalogue"]

    @get(
        "/low-stock",
        summary="SKUs at or below their low-stock threshold (its managers)",
        responses=problems(
            400, 401, codes={403: ["forbidden_role"], 404: ["cooperative_not_found"], 422: ["invalid_cursor"]}
        ),
    )
    async def low_stock(
        self,
        cooperative_id: FromPath[str],
        db: Db,
        principal: Caller,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> LowStockPage:
        """The cooperative's SKUs on sale whose stock is at or below their threshold, emptiest first."""
        async with db.read() as conn:
            return await inventory.low_stock(conn, principal, cooperative_id, limit=limit, cursor=cursor)


class SkuHistoryController(Controller):
    path = "/api/v1/skus"
    tags = ["catalogue"]

    @get(
        "/{sku_id:str}/stock-history",
        summary="Every change of a SKU's stock (its managers)",
        responses=problems(
            400, 401, codes={403: ["forbidden_role"], 404: ["sku_not_found"], 422: ["invalid_cursor"]}
        ),
    )
    async def stock_history(
        self, sku_id: FromPath[str], db: Db, principal: Caller, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
    ) -> StockHistoryPage:
        """Manual adjustments, opening and imported stock, orders and what cancellations gave back, newest first."""
        async with db.read() as conn:
            return await inventory.stock_history(conn, principal, sku_id, limit=limit, cursor=cursor)


routes = [CooperativeCatalogueController, SkuHistoryController]
