"""``GET /dashboard`` (the page), its static files, and ``GET /api/v1/dashboard`` (its figures)."""

from __future__ import annotations

from litestar import Controller, MediaType, Request, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath

from coopmarket.core.errors import NotFound
from coopmarket.core.http import AppSettings, Caller, Db, Today
from coopmarket.core.openapi import NO_TOKEN_NEEDED, problems
from coopmarket.dashboard import assets, page, service
from coopmarket.dashboard.schemas import Dashboard


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether ``Accept-Encoding`` lists gzip (or ``*``) without ``q=0``."""
    for part in (accept_encoding or "").lower().split(","):
        coding, _, params = part.partition(";")
        if coding.strip() in ("gzip", "*"):
            quality = params.strip().removeprefix("q=").strip() if params.strip().startswith("q=") else "1"
            try:
                return float(quality) > 0
            except ValueError:
                return False
    return False


class DashboardPageController(Controller):
    path = "/dashboard"
    tags = ["dashboard"]

    @get(
        "/",
        summary="The staff dashboard (HTML; staff sign in on the page, which then reads /api/v1/dashboard)",
        security=NO_TOKEN_NEEDED,
        media_type=MediaType.HTML,
        responses=problems(400),
    )
    async def page(self, settings: AppSettings) -> Response[str]:
        """A page of charts in Chinese; everything it loads comes from this server."""
        return Response(
            page.render(settings.brand_name),
            media_type=MediaType.HTML,
            headers={"Content-Security-Policy": page.CSP, "Cache-Control": "no-cache"},
        )

    @get(
        "/static/{name:str}",
        summary="A static file of the dashboard (its script, style, ECharts and its licence)",
        security=NO_TOKEN_NEEDED,
        include_in_schema=False,
    )
    async def static_file(self, name: FromPath[str], request: Request) -> Response[bytes]:
        """Named by a hash of its content, so it is cached for a year; gzip-compressed when accepted."""
        asset = assets.find(name)
        if asset is None:
            raise NotFound("No such file.", code="not_found")
        headers = {
            "Cache-Control": assets.CACHE_FOREVER,
            "Content-Security-Policy": "default-src 'none'",
            "Vary": "Accept-Encoding",
        }
        if accepts_gzip(request.headers.get("accept-encoding")):
            return Response(
                asset.gzipped(), media_type=asset.media_type, headers={**headers, "Content-Encoding": "gzip"}
            )
        return Response(asset.content, media_type=asset.media_type, headers=headers)


class DashboardController(Controller):
    path = "/api/v1/dashboard"
    tags = ["dashboard"]

    @get(
        "/",
        summary="The dashboard's figures for your region (staff)",
        responses={
            200: ResponseSpec(data_container=Dashboard, description="Figures of the last 12 months"),
            **problems(400, 401, codes={403: ["forbidden_role"], 404: ["region_not_found"]}),
        },
    )
    async def figures(self, db: Db, settings: AppSettings, principal: Caller, today: Today) -> Dashboard:
        """Income by street, village, month and category (the collective-income report's figures),
        brand licences ending soon, cooperatives awaiting a decision and the contract clean-up."""
        async with db.read() as conn:
            return await service.dashboard(conn, settings, principal, today=today)


routes = [DashboardPageController, DashboardController]
