"""HTTP routes of what a manager needs day to day: the cooperative's own catalogue, stock history,
low stock, and bulk import and export of products and SKUs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)
from litestar.openapi.spec.header import OpenAPIHeader
from litestar.params import FromPath, HeaderParameter, QueryParameter
from multipart import MultipartSegment, ParserError, PushMultipartParser

from coopmarket.core import i18n
from coopmarket.core.errors import FieldError
from coopmarket.core.http import AppSettings, Caller, Db, Session
from coopmarket.core.openapi import problems
from coopmarket.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from coopmarket.products import bulk, inventory, tabular
from coopmarket.products.errors import UnreadableImport
from coopmarket.products.schemas import (
    ExportFormat,
    ImportResult,
    LowStockPage,
    ProductStatusFilter,
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
        self,
        sku_id: FromPath[str],
        db: Db,
        principal: Caller,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> StockHistoryPage:
        """Manual adjustments, opening and imported stock, orders and what cancellations gave back, newest first."""
        async with db.read() as conn:
            return await inventory.stock_history(conn, principal, sku_id, limit=limit, cursor=cursor)


# --- bulk import and export ---------------------------------------------------------------------

_BINARY = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
# Room for the multipart envelope around a file of the largest size.
_MULTIPART_OVERHEAD = 64 * 1024
FILE_FIELD = "file"


@dataclass
class _ImportOperation(Operation):
    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description=(
                "The file, either as the body itself (`text/csv` or the XLSX type) or as the field `file` of a"
                " `multipart/form-data` form (what browsers and `wx.uploadFile` send). CSV in UTF-8 (byte-order"
                " mark optional) or GB18030/GBK; XLSX: the first worksheet. Row 1 names the columns:"
                f" {', '.join(bulk.COLUMNS)} (description and low_stock_threshold optional)."
                " At most `COOPMARKET_IMPORT_MAX_BYTES` bytes and `COOPMARKET_IMPORT_MAX_ROWS` data rows."
            ),
            content={
                "text/csv": OpenAPIMediaType(schema=_BINARY),
                tabular.XLSX_MEDIA_TYPE: OpenAPIMediaType(schema=_BINARY),
                "multipart/form-data": OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.OBJECT, properties={FILE_FIELD: _BINARY}, required=[FILE_FIELD]
                    )
                ),
            },
        )


@dataclass
class _ExportOperation(Operation):
    def __post_init__(self) -> None:
        if self.responses is not None:
            self.responses["200"] = OpenAPIResponse(
                description="The products, one row per SKU, in the import's columns (CSV in UTF-8 with a byte-order mark).",
                content={
                    "text/csv": OpenAPIMediaType(schema=_BINARY),
                    tabular.XLSX_MEDIA_TYPE: OpenAPIMediaType(schema=_BINARY),
                },
                headers={
                    "Content-Disposition": OpenAPIHeader(
                        schema=Schema(type=OpenAPIType.STRING), description="attachment; filename=..."
                    )
                },
            )


async def _read_body(request: Request[Any, Any, Any], limit: int) -> bytes:
    """The request body, refused (413) as soon as it passes ``limit`` bytes."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise RequestEntityTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise RequestEntityTooLarge
    return bytes(body)


def _form_file(body: bytes, boundary: str) -> bytes:
    """The content of the form field ``file`` of a multipart body."""
    found: bytes | None = None
    name: str | None = None
    content = bytearray()
    try:
        with PushMultipartParser(boundary.encode(), max_segment_count=16) as parser:
            for event in parser.parse(body):
                if isinstance(event, MultipartSegment):
                    name, content = event.name, bytearray()
                elif event is None:
                    if name == FILE_FIELD and found is None:
                        found = bytes(content)
                elif name == FILE_FIELD:
                    content.extend(event)
    except ParserError:
        raise UnreadableImport(
            "The multipart form cannot be read.", errors=[FieldError("file", "malformed multipart body")]
        ) from None
    if found is None:
        raise UnreadableImport(
            "Send the file in the form field `file`.", errors=[FieldError("file", "no form field named file")]
        )
    return found


async def _uploaded_file(request: Request[Any, Any, Any], limit: int) -> bytes:
    content_type, options = request.content_type
    if content_type == RequestEncodingType.MULTI_PART:
        body = await _read_body(request, limit + _MULTIPART_OVERHEAD)
        boundary = options.get("boundary")
        if not boundary:
            raise UnreadableImport(
                "The multipart form has no boundary.", errors=[FieldError("file", "no boundary")]
            )
        data = _form_file(body, boundary)
        if len(data) > limit:
            raise RequestEntityTooLarge
    else:
        data = await _read_body(request, limit)
    if not data:
        raise UnreadableImport("The file is empty.", errors=[FieldError("file", "empty")])
    return data


class BulkProductsController(Controller):
    path = "/api/v1/cooperatives/{cooperative_id:str}/products"
    tags = ["catalogue"]

    @post(
        "/import",
        status_code=200,
        summary="Import products and SKUs from CSV or XLSX, all or nothing (its managers)",
        request_max_body_size=None,  # the handler enforces COOPMARKET_IMPORT_MAX_BYTES itself
        operation_class=_ImportOperation,
        responses=problems(
            400,
            401,
            413,
            codes={
                403: ["forbidden_role"],
                404: ["cooperative_not_found"],
                409: ["cooperative_not_approved", "concurrent_update"],
                422: ["import_rows_invalid", "import_file_unreadable", "import_too_many_rows"],
            },
        ),
    )
    async def import_products(
        self,
        cooperative_id: FromPath[str],
        request: Request[Any, Any, Any],
        session: Session,
        principal: Caller,
        settings: AppSettings,
    ) -> ImportResult:
        """Create and update the cooperative's products from a file; a file with any bad row changes nothing."""
        bulk.require_import_rights(principal, cooperative_id)  # before the body is read
        data = await _uploaded_file(request, settings.import_max_bytes)
        return await bulk.import_products(
            session, principal, cooperative_id, data, max_rows=settings.import_max_rows
        )

    @get(
        "/export",
        summary="Export the cooperative's products and SKUs as CSV or XLSX (its managers)",
        operation_class=_ExportOperation,
        responses=problems(400, 401, 422, codes={403: ["forbidden_role"], 404: ["cooperative_not_found"]}),
    )
    async def export_products(
        self,
        cooperative_id: FromPath[str],
        db: Db,
        principal: Caller,
        settings: AppSettings,
        file_format: Annotated[ExportFormat, QueryParameter(name="format")] = "csv",
        status: Annotated[ProductStatusFilter, QueryParameter(name="status")] = "all",
        accept_language: Annotated[
            str | None,
            HeaderParameter(
                name="Accept-Language",
                max_length=200,
                description="zh: Chinese column headers and category names (the import reads them back)",
            ),
        ] = None,
    ) -> Response[bytes]:
        """One row per SKU in the import's columns, so an edited export imports back."""
        language = i18n.negotiate(accept_language, settings.default_language)
        async with db.read() as conn:
            content, media_type, filename = await bulk.export_products(
                conn, principal, cooperative_id, file_format=file_format, status=status, language=language
            )
        return Response(
            content,
            media_type=media_type,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )


routes = [CooperativeCatalogueController, SkuHistoryController, BulkProductsController]
