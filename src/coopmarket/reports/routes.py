"""HTTP routes of the reports slice: village collective income for staff."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from litestar import Controller, MediaType, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter, QueryParameter

from coopmarket.core import i18n
from coopmarket.core.http import AppSettings, Caller, Db
from coopmarket.core.openapi import export_media_types, problems
from coopmarket.reports import export, service
from coopmarket.reports.schemas import CollectiveIncomeReport, ExportFormat, GroupBy


class ReportsController(Controller):
    path = "/api/v1/reports"
    tags = ["reports"]

    @get(
        "/collective-income",
        summary="Village collective income by village, street, community or district (staff)",
        opt=export_media_types(),
        responses={
            200: ResponseSpec(
                data_container=CollectiveIncomeReport,
                description="JSON, or with format=csv|xlsx a download with the same columns",
            ),
            **problems(
                400,
                401,
                codes={
                    403: ["forbidden_role"],
                    404: ["region_not_found"],
                    422: ["invalid_date_range", "date_range_too_long", "invalid_group_by"],
                },
            ),
        },
    )
    async def collective_income(
        self,
        db: Db,
        settings: AppSettings,
        principal: Caller,
        date_from: Annotated[date, QueryParameter(name="from", description="First local date (inclusive)")],
        date_to: Annotated[date, QueryParameter(name="to", description="Last local date (inclusive)")],
        group_by: Annotated[GroupBy, QueryParameter(name="group_by")] = "village",
        region_code: Annotated[
            str | None,
            QueryParameter(name="region_code", min_length=6, max_length=12, description="Default: yours"),
        ] = None,
        export_format: Annotated[ExportFormat, QueryParameter(name="format")] = "json",
        accept_language: Annotated[
            str | None,
            HeaderParameter(
                name="Accept-Language",
                max_length=200,
                description="zh: Chinese column headers and band labels in CSV/XLSX (JSON keys stay English)",
            ),
        ] = None,
    ) -> Response[Any]:
        """Collective income per region in the caller's scope, ranked and banded, from the ledger."""
        async with db.read() as conn:
            report: CollectiveIncomeReport = await service.collective_income_report(
                conn,
                settings,
                principal,
                date_from=date_from,
                date_to=date_to,
                group_by=group_by,
                region_code=region_code,
            )
        if export_format == "json":
            return Response(report, media_type=MediaType.JSON)
        language = i18n.negotiate(accept_language, settings.default_language)
        if export_format == "csv":
            content, media_type = export.to_csv(report, language), export.CSV_MEDIA_TYPE
        else:
            content, media_type = export.to_xlsx(report, language), export.XLSX_MEDIA_TYPE
        disposition = f'attachment; filename="{export.filename(report, export_format)}"'
        return Response(content, media_type=media_type, headers={"Content-Disposition": disposition})


routes = [ReportsController]
