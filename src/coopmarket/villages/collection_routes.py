"""HTTP routes of the villages slice, collection side: receipts, write-offs, arrears, the campaign view."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from litestar import Controller, MediaType, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core.http import AppSettings, Caller, Db, Session
from coopmarket.core.openapi import export_media_types, problems
from coopmarket.idempotency.http import IdempotencyKeyHeader, run_idempotently
from coopmarket.villages import arrears, campaign, collection, export
from coopmarket.villages.schemas import (
    ArrearsReport,
    CampaignReport,
    ExportFormat,
    ReceiptIn,
    ReceiptOut,
    WriteOffIn,
    WriteOffOut,
)

RegionCode = Annotated[
    str | None,
    QueryParameter(
        name="region_code",
        min_length=6,
        max_length=12,
        description="The district, a street or a village; default: yours",
    ),
]
REGION_PROBLEMS = {403: ["forbidden_role"], 404: ["region_not_found"]}
TAGS = ["village assets and contracts"]


def _download(content: bytes, media_type: str, filename: str) -> Response[Any]:
    return Response(
        content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


class InstalmentController(Controller):
    path = "/api/v1/instalments"
    tags = TAGS

    @post(
        "/{instalment_id:str}/receipts",
        status_code=201,
        summary="Record rent received for an instalment (its village staff; Idempotency-Key required)",
        responses={
            201: ResponseSpec(
                data_container=ReceiptOut, description="The receipt; contracting income is posted"
            ),
            **problems(
                401,
                413,
                idempotent=True,
                codes={
                    403: ["forbidden_role"],
                    404: ["instalment_not_found"],
                    409: ["receipt_exceeds_due", "instalment_cancelled", "duplicate_receipt_reference"],
                    422: ["date_in_future"],
                },
            ),
        },
    )
    async def record_receipt(
        self,
        instalment_id: FromPath[str],
        data: JSONBody[ReceiptIn],
        db: Db,
        settings: AppSettings,
        principal: Caller,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[Any]:
        """201 with the receipt; never above what is due; the same key gives the first answer again."""

        async def run(session: AsyncSession) -> tuple[int, ReceiptOut]:
            return 201, await collection.record_receipt(
                session, principal, instalment_id, data, timezone=settings.report_timezone
            )

        return await run_idempotently(
            db,
            settings,
            principal,
            idempotency_key,
            f"POST /api/v1/instalments/{instalment_id}/receipts",
            data,
            run,
        )

    @post(
        "/{instalment_id:str}/write-off",
        status_code=201,
        summary="Write off what is left of an instalment in arrears (street or district staff)",
        responses=problems(
            400,
            401,
            413,
            422,
            codes={
                403: ["forbidden_role"],
                404: ["instalment_not_found"],
                409: [
                    "instalment_cancelled",
                    "instalment_settled",
                    "instalment_not_in_arrears",
                    "concurrent_update",
                ],
            },
        ),
    )
    async def write_off(
        self,
        data: JSONBody[WriteOffIn],
        session: Session,
        settings: AppSettings,
        principal: Caller,
        instalment_id: FromPath[str],
    ) -> WriteOffOut:
        """201 with the write-off, its reason and approver; nothing is posted; audited."""
        return await collection.write_off(
            session, principal, instalment_id, data, timezone=settings.report_timezone
        )


class ArrearsController(Controller):
    path = "/api/v1/arrears"
    tags = TAGS

    @get(
        "",
        summary="Arrears per village, aged (staff in scope)",
        opt=export_media_types(),
        responses={
            200: ResponseSpec(
                data_container=ArrearsReport,
                description="JSON; format=csv: one row per village; format=xlsx: villages and instalments",
            ),
            **problems(400, 401, codes={**REGION_PROBLEMS, 422: ["date_in_future", "invalid_region_level"]}),
        },
    )
    async def arrears(
        self,
        db: Db,
        settings: AppSettings,
        principal: Caller,
        region_code: RegionCode = None,
        as_of: Annotated[
            date | None, QueryParameter(name="as_of", description="Local date, end of day (default: today)")
        ] = None,
        export_format: Annotated[ExportFormat, QueryParameter(name="format")] = "json",
    ) -> Response[Any]:
        """Unpaid instalments past their due date per village, by age band, with the instalments behind them."""
        async with db.read() as conn:
            report = await arrears.arrears_report(
                conn, principal, region_code, as_of, timezone=settings.report_timezone
            )
        if export_format == "csv":
            return _download(
                export.arrears_csv(report), export.CSV_MEDIA_TYPE, export.arrears_filename(report, "csv")
            )
        if export_format == "xlsx":
            return _download(
                export.arrears_xlsx(report), export.XLSX_MEDIA_TYPE, export.arrears_filename(report, "xlsx")
            )
        return Response(report, media_type=MediaType.JSON)


class CampaignController(Controller):
    path = "/api/v1/contract-campaign"
    tags = TAGS

    @get(
        "",
        summary="The clean-up of village contracts, arrears and idle assets per street and village (staff in scope)",
        opt=export_media_types(),
        responses={
            200: ResponseSpec(
                data_container=CampaignReport,
                description="JSON, or with format=csv|xlsx one row per street and village",
            ),
            **problems(
                400, 401, codes={**REGION_PROBLEMS, 422: ["invalid_date_range", "invalid_region_level"]}
            ),
        },
    )
    async def campaign(
        self,
        db: Db,
        settings: AppSettings,
        principal: Caller,
        date_from: Annotated[date, QueryParameter(name="from", description="First local date (inclusive)")],
        date_to: Annotated[
            date, QueryParameter(name="to", description="Last local date (inclusive); figures stop at today")
        ],
        region_code: RegionCode = None,
        export_format: Annotated[ExportFormat, QueryParameter(name="format")] = "json",
    ) -> Response[Any]:
        """Arrears at the start, arisen, recovered, written off, cancelled and at the end; findings; idle assets."""
        async with db.read() as conn:
            report = await campaign.campaign_report(
                conn, principal, region_code, date_from, date_to, timezone=settings.report_timezone
            )
        if export_format == "csv":
            return _download(
                export.campaign_csv(report), export.CSV_MEDIA_TYPE, export.campaign_filename(report, "csv")
            )
        if export_format == "xlsx":
            return _download(
                export.campaign_xlsx(report), export.XLSX_MEDIA_TYPE, export.campaign_filename(report, "xlsx")
            )
        return Response(report, media_type=MediaType.JSON)


routes = [InstalmentController, ArrearsController, CampaignController]
