"""HTTP routes of the products slice: the catalogue, SKUs and stock."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter

from coopmarket.core import conditional
from coopmarket.core.http import Caller, Db, MaybeCaller, Session, Today
from coopmarket.core.openapi import NO_TOKEN_NEEDED, TOKEN_OPTIONAL, problems
from coopmarket.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from coopmarket.core.response_cache import SharedCache
from coopmarket.products import (
    certification_routes,
    inventory,
    inventory_routes,
    public_cache,
    service,
    trace_routes,
)
from coopmarket.products.image_routes import ProductImageController
from coopmarket.products.inventory_routes import Cursor, Limit
from coopmarket.products.schemas import (
    MAX_PRICE_FEN,
    Category,
    ListSort,
    ManagedProductPage,
    ProductIn,
    ProductOut,
    ProductPage,
    ProductPatch,
    ProductStatusFilter,
    StockAdjustmentIn,
    StockOut,
)
from coopmarket.storage.deps import Storage


class CooperativeProductsController(Controller):
    path = "/api/v1/cooperatives/{cooperative_id:str}/products"
    tags = ["catalogue"]

    @post(
        "/",
        status_code=201,
        summary="Add a product to a cooperative (its manager)",
        responses=problems(
            400,
            401,
            413,
            codes={
                403: ["forbidden_role"],
                404: ["cooperative_not_found"],
                409: ["cooperative_not_approved"],
                422: ["invalid_product", "duplicate_sku_code", "invalid_origin_village"],
            },
        ),
    )
    async def create_product(
        self, cooperative_id: FromPath[str], data: JSONBody[ProductIn], session: Session, principal: Caller
    ) -> ProductOut:
        """Create a product with its SKUs for an approved cooperative the caller manages."""
        return await service.create_product(session, principal, cooperative_id, data)

    @get(
        "/",
        summary="The cooperative's own catalogue, archived products included (its managers, staff)",
        responses=problems(
            400, 401, codes={403: ["forbidden_role"], 404: ["cooperative_not_found"], 422: ["invalid_cursor"]}
        ),
    )
    async def list_cooperative_products(
        self,
        cooperative_id: FromPath[str],
        db: Db,
        principal: Caller,
        today: Today,
        status: Annotated[ProductStatusFilter, QueryParameter(name="status")] = "all",
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> ManagedProductPage:
        """Every product of the cooperative with its SKUs and stock, newest first."""
        async with db.read() as conn:
            return await inventory.list_cooperative_products(
                conn, principal, cooperative_id, status=status, limit=limit, cursor=cursor, today=today
            )


class ProductController(Controller):
    path = "/api/v1/products"
    tags = ["catalogue"]

    @get(
        "/",
        summary="Browse the catalogue",
        security=NO_TOKEN_NEEDED,
        responses=problems(400, codes={422: ["invalid_cursor"]}),
    )
    async def list_products(
        self,
        request: Request[Any, Any, Any],
        q: Annotated[str | None, QueryParameter(name="q", max_length=100)] = None,
        category: Annotated[Category | None, QueryParameter(name="category")] = None,
        region_code: Annotated[
            str | None, QueryParameter(name="region_code", pattern=r"^[0-9]{6,12}$")
        ] = None,
        cooperative_id: Annotated[str | None, QueryParameter(name="cooperative_id", max_length=26)] = None,
        branded: Annotated[bool | None, QueryParameter(name="branded")] = None,
        min_price_fen: Annotated[
            int | None, QueryParameter(name="min_price_fen", ge=0, le=MAX_PRICE_FEN)
        ] = None,
        max_price_fen: Annotated[
            int | None, QueryParameter(name="max_price_fen", ge=0, le=MAX_PRICE_FEN)
        ] = None,
        sort: Annotated[ListSort, QueryParameter(name="sort")] = "newest",
        limit: Annotated[int, QueryParameter(name="limit", ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, QueryParameter(name="cursor", max_length=500)] = None,
    ) -> Response[ProductPage]:
        """Active products of approved cooperatives; filters, sort orders and keyset cursors.
        Carries an ``ETag`` (a conditional GET answers 304) and ``Cache-Control: public, no-cache``."""
        # What ``PublicReads`` gives, straight from the app's state: no dependency to resolve per request.
        read = public_cache.provide_public_read(request.app.state)
        parts = (q, category, region_code, cooperative_id, branded, min_price_fen, max_price_fen, sort, limit, cursor)
        # Each statement on a pooled connection of its own: the version (when cached) is read first.
        return await public_cache.answer(
            request,
            read.cache,
            read.db,
            kind="list",
            parts=parts,
            today=read.today,
            produce=lambda: service.list_products(
                read.db,
                q=q,
                category=category,
                region_code=region_code,
                cooperative_id=cooperative_id,
                branded=branded,
                min_price_fen=min_price_fen,
                max_price_fen=max_price_fen,
                sort=sort,
                limit=limit,
                cursor=cursor,
                today=read.today,
                storage=read.storage,
            ),
        )

    @get(
        "/{product_id:str}",
        summary="One product",
        security=TOKEN_OPTIONAL,
        responses=problems(400, 401, codes={404: ["product_not_found"]}),
    )
    async def get_product(
        self,
        request: Request[Any, Any, Any],
        product_id: FromPath[str],
        db: Db,
        storage: Storage,
        maybe_principal: MaybeCaller,
        today: Today,
        cache: SharedCache,
    ) -> Response[ProductOut]:
        """A product with SKUs, certificates, cooperative and village (its managers also see it when hidden).
        Carries an ``ETag`` (a conditional GET answers 304); anonymous answers ``Cache-Control: public,
        no-cache``, signed-in ones ``no-store``."""
        anonymous = maybe_principal is None
        async with db.read() as conn:
            return await public_cache.answer(
                request,
                cache,
                conn,
                kind="detail",
                parts=(product_id,),
                today=today,
                produce=lambda: service.get_product(
                    conn, maybe_principal, product_id, today=today, storage=storage
                ),
                shared=anonymous,
                cache_control=conditional.PUBLIC_REVALIDATE if anonymous else None,
            )

    @patch(
        "/{product_id:str}",
        summary="Edit a product (its manager)",
        responses=problems(
            400,
            401,
            413,
            codes={
                403: ["forbidden_role"],
                404: ["product_not_found"],
                422: [
                    "invalid_product",
                    "unknown_sku",
                    "duplicate_sku_code",
                    "too_many_skus",
                    "invalid_origin_village",
                ],
            },
        ),
    )
    async def update_product(
        self,
        product_id: FromPath[str],
        data: JSONBody[ProductPatch],
        session: Session,
        principal: Caller,
        today: Today,
        storage: Storage,
    ) -> ProductOut:
        """Change a product's fields, SKU prices or specs, or add SKUs."""
        return await service.update_product(session, principal, product_id, data, today=today, storage=storage)

    @post(
        "/{product_id:str}/archive",
        status_code=200,
        summary="Archive a product (its manager)",
        responses=problems(400, 401, codes={403: ["forbidden_role"], 404: ["product_not_found"]}),
    )
    async def archive_product(
        self, product_id: FromPath[str], session: Session, principal: Caller, today: Today, storage: Storage
    ) -> ProductOut:
        """Take a product off the public catalogue."""
        return await service.archive_product(session, principal, product_id, today=today, storage=storage)

    @post(
        "/{product_id:str}/unarchive",
        status_code=200,
        summary="Bring an archived product back (its manager)",
        responses=problems(400, 401, codes={403: ["forbidden_role"], 404: ["product_not_found"]}),
    )
    async def unarchive_product(
        self, product_id: FromPath[str], session: Session, principal: Caller, today: Today, storage: Storage
    ) -> ProductOut:
        """Put an archived product back on the public catalogue."""
        return await service.unarchive_product(session, principal, product_id, today=today, storage=storage)


class SkuController(Controller):
    path = "/api/v1/skus"
    tags = ["catalogue"]

    @post(
        "/{sku_id:str}/stock-adjustments",
        status_code=200,
        summary="Adjust a SKU's stock (its manager)",
        responses=problems(
            400,
            401,
            413,
            codes={
                403: ["forbidden_role"],
                404: ["sku_not_found"],
                409: ["insufficient_stock"],
                422: ["stock_limit_exceeded"],
            },
        ),
    )
    async def adjust_stock(
        self, sku_id: FromPath[str], data: JSONBody[StockAdjustmentIn], session: Session, principal: Caller
    ) -> StockOut:
        """Add or remove stock; it never goes below zero (409 ``insufficient_stock``)."""
        return await service.adjust_stock(session, principal, sku_id, data)


routes = [
    CooperativeProductsController,
    ProductController,
    SkuController,
    *certification_routes.routes,
    *trace_routes.routes,
    ProductImageController,
    *inventory_routes.routes,
]
