"""HTTP routes of batches and trace codes: record and list batches (managers), the public trace
answer, its QR code, and the printable trace page the QR code leads to."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter

from coopmarket.core.http import AppSettings, Caller, Db, Session, Today
from coopmarket.core.openapi import NO_TOKEN_NEEDED, problems
from coopmarket.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from coopmarket.products import public_cache, trace_page
from coopmarket.products import trace as trace_service
from coopmarket.products.schemas import BatchIn, BatchOut, BatchPage, TraceOut

QR_CACHE = "public, max-age=86400"


class ProductBatchesController(Controller):
    path = "/api/v1/products/{product_id:str}/batches"
    tags = ["traceability"]

    @post(
        "/",
        status_code=201,
        summary="Record a batch and get its trace code (the product's manager)",
        responses=problems(
            400,
            401,
            413,
            codes={
                403: ["forbidden_role"],
                404: ["product_not_found"],
                409: ["cooperative_not_approved"],
                422: ["invalid_batch", "invalid_batch_date", "member_not_in_cooperative"],
            },
        ),
    )
    async def record_batch(
        self,
        product_id: FromPath[str],
        data: JSONBody[BatchIn],
        session: Session,
        principal: Caller,
        today: Today,
        settings: AppSettings,
    ) -> BatchOut:
        """A harvest or production batch; the answer carries its new, unguessable ``trace_code``."""
        return await trace_service.record_batch(
            session, principal, product_id, data, today=today, public_base=settings.public_base
        )

    @get(
        "/",
        summary="A product's batches and trace codes (its managers)",
        responses=problems(
            400, 401, codes={403: ["forbidden_role"], 404: ["product_not_found"], 422: ["invalid_cursor"]}
        ),
    )
    async def list_batches(
        self,
        product_id: FromPath[str],
        db: Db,
        principal: Caller,
        settings: AppSettings,
        limit: Annotated[int, QueryParameter(name="limit", ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, QueryParameter(name="cursor", max_length=200)] = None,
    ) -> BatchPage:
        """Newest first, with each batch's trace code, public URL and QR image path."""
        async with db.read() as conn:
            return await trace_service.list_batches(
                conn, principal, product_id, public_base=settings.public_base, limit=limit, cursor=cursor
            )


class TraceController(Controller):
    path = "/api/v1/trace/{trace_code:str}"
    tags = ["traceability"]

    @get(
        "/",
        summary="What a trace code tells (public)",
        security=NO_TOKEN_NEEDED,
        responses=problems(400, codes={404: ["trace_code_not_found"]}),
    )
    async def trace_answer(
        self,
        request: Request[Any, Any, Any],
        trace_code: FromPath[str],
        read: public_cache.PublicReads,
    ) -> Response[TraceOut]:
        """Product, cooperative, village, batch date and the certificates valid on that date.
        Case, spaces, hyphens and the look-alikes O/I/L are forgiven; any other code is 404.
        Carries an ``ETag`` (a conditional GET answers 304) and ``Cache-Control: public, no-cache``."""
        settings = read.settings
        async with read.db.read() as conn:
            return await public_cache.answer(
                request,
                read.cache,
                conn,
                kind="trace",
                parts=(trace_code,),
                today=read.today,
                produce=lambda: trace_service.trace(
                    conn, trace_code, today=read.today, public_base=settings.public_base, brand=settings.brand_name
                ),
            )

    @get(
        "/qr.png",
        summary="QR code of the public trace page (PNG, public)",
        security=NO_TOKEN_NEEDED,
        media_type="image/png",
        responses={
            200: ResponseSpec(
                data_container=bytes, media_type="image/png", description="A PNG QR code of the trace URL"
            ),
            **problems(400, codes={404: ["trace_code_not_found"], 422: []}),
        },
    )
    async def qr(
        self,
        trace_code: FromPath[str],
        db: Db,
        settings: AppSettings,
        scale: Annotated[
            int,
            QueryParameter(
                name="scale", ge=1, le=trace_service.QR_MAX_SCALE, description="Pixels per module"
            ),
        ] = trace_service.QR_DEFAULT_SCALE,
    ) -> Response[bytes]:
        """The QR code holds ``{public base URL}/trace/{code}``; it never changes, so it is cached a day."""
        async with db.read() as conn:
            png = await trace_service.trace_qr_png(
                conn, trace_code, public_base=settings.public_base, scale=scale
            )
        return Response(png, media_type="image/png", headers={"Cache-Control": QR_CACHE})


class TracePageController(Controller):
    path = "/trace/{trace_code:str}"
    tags = ["traceability"]

    @get(
        "/",
        summary="The printable public trace page a QR code leads to (HTML)",
        security=NO_TOKEN_NEEDED,
        media_type=MediaType.HTML,
        responses=problems(400, codes={404: ["trace_code_not_found"]}),
    )
    async def page(self, trace_code: FromPath[str], db: Db, today: Today, settings: AppSettings) -> str:
        """The same facts as ``GET /api/v1/trace/{code}``, as a page for people (Chinese)."""
        async with db.read() as conn:
            found = await trace_service.trace(
                conn, trace_code, today=today, public_base=settings.public_base, brand=settings.brand_name
            )
        return trace_page.render(found)


routes = [ProductBatchesController, TraceController, TracePageController]
