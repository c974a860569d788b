"""HTTP routes of the reports slice: village collective income for staff."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, TypeAlias

from litestar import Controller, MediaType, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter
from litestar.response import Stream
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.coops import member_accounts
from coopmarket.core import i18n
from coopmarket.core.http import AppSettings, Caller, Db, Session
from coopmarket.core.openapi import export_media_types, problems
from coopmarket.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from coopmarket.idempotency.http import IdempotencyKeyHeader, run_idempotently
from coopmarket.reports import disclosure_routes, distribution, export, income, payouts, service, statement
from coopmarket.reports.schemas import (
    CollectiveIncomeReport,
    ExportFormat,
    GroupBy,
    IncomeIn,
    IncomeList,
    IncomeOut,
    IncomeReversalIn,
    Interval,
    PayoutIn,
    PayoutOut,
    PayoutReversalIn,
    SurplusDistributionIn,
    SurplusDistributionOut,
)
from coopmarket.reports.schemas import Statement as StatementReport


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
        interval: Annotated[
            Interval | None,
            QueryParameter(
                name="interval",
                description="month|quarter: also the same grouping per month or quarter (`periods`; "
                "in CSV/XLSX a leading `period` column, one row per period and region)",
            ),
        ] = None,
        accept_language: Annotated[
            str | None,
            HeaderParameter(
                name="Accept-Language",
                max_length=200,
                description="zh: Chinese column headers and band labels in CSV/XLSX (JSON keys stay English)",
            ),
        ] = None,
    ) -> Response[Any] | Stream:
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
                interval=interval,
            )
        if export_format == "json":
            return Response(report, media_type=MediaType.JSON)
        language = i18n.negotiate(accept_language, settings.default_language)
        disposition = f'attachment; filename="{export.filename(report, export_format)}"'
        if export_format == "csv":
            return Stream(
                export.iter_csv(report, language),
                media_type=export.CSV_MEDIA_TYPE,
                headers={"Content-Disposition": disposition},
            )
        content = export.to_xlsx(report, language)
        return Response(
            content, media_type=export.XLSX_MEDIA_TYPE, headers={"Content-Disposition": disposition}
        )


class StatementController(Controller):
    path = "/api/v1/cooperatives"
    tags = ["reports"]

    @get(
        "/{cooperative_id:str}/statement",
        summary="A cooperative's statement of what it is owed (its managers, staff in scope)",
        opt=export_media_types(),
        responses={
            200: ResponseSpec(
                data_container=StatementReport,
                description="JSON (one page of lines), or with format=csv|xlsx every line",
            ),
            **problems(
                400,
                401,
                codes={
                    403: ["forbidden_role"],
                    404: ["cooperative_not_found"],
                    422: ["invalid_date_range", "date_range_too_long", "invalid_cursor"],
                },
            ),
        },
    )
    async def cooperative_statement(
        self,
        cooperative_id: FromPath[str],
        db: Db,
        settings: AppSettings,
        principal: Caller,
        date_from: Annotated[date, QueryParameter(name="from", description="First local date (inclusive)")],
        date_to: Annotated[date, QueryParameter(name="to", description="Last local date (inclusive)")],
        export_format: Annotated[ExportFormat, QueryParameter(name="format")] = "json",
        limit: Annotated[
            int, QueryParameter(name="limit", ge=1, le=statement.MAX_LIMIT)
        ] = statement.DEFAULT_LIMIT,
        cursor: Annotated[str | None, QueryParameter(name="cursor", max_length=200)] = None,
    ) -> Response[Any]:
        """Opening and closing balance of ``payable:coop:{id}`` and the movements between, from the ledger."""
        async with db.read() as conn:
            report = await statement.statement(
                conn,
                principal,
                cooperative_id,
                date_from=date_from,
                date_to=date_to,
                timezone=settings.report_timezone,
                limit=limit,
                cursor=cursor,
                all_lines=export_format != "json",
            )
        if export_format == "json":
            return Response(report, media_type=MediaType.JSON)
        if export_format == "csv":
            content, media_type = statement.to_csv(report), export.CSV_MEDIA_TYPE
        else:
            content, media_type = statement.to_xlsx(report), export.XLSX_MEDIA_TYPE
        disposition = f'attachment; filename="{statement.filename(report, export_format)}"'
        return Response(content, media_type=media_type, headers={"Content-Disposition": disposition})

    @post(
        "/{cooperative_id:str}/payouts",
        status_code=201,
        summary="Record a bank transfer paying a cooperative (staff in scope; Idempotency-Key required)",
        responses={
            201: ResponseSpec(data_container=PayoutOut, description="The payout, posted to the ledger"),
            **problems(
                401,
                413,
                idempotent=True,
                codes={
                    403: ["forbidden_role", "own_cooperative"],
                    404: ["cooperative_not_found"],
                    409: ["payout_exceeds_payable"],
                },
            ),
        },
    )
    async def record_payout(
        self,
        cooperative_id: FromPath[str],
        data: JSONBody[PayoutIn],
        db: Db,
        settings: AppSettings,
        principal: Caller,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[Any]:
        """201 with the payout; never above what is payable; the same key gives the first answer again."""

        async def run(session: AsyncSession) -> tuple[int, PayoutOut]:
            return 201, await payouts.record_payout(session, principal, cooperative_id, data)

        return await run_idempotently(
            db,
            settings,
            principal,
            idempotency_key,
            f"POST /api/v1/cooperatives/{cooperative_id}/payouts",
            data,
            run,
        )

    @post(
        "/{cooperative_id:str}/payouts/{payout_id:str}/reverse",
        status_code=201,
        summary="Reverse a payout whose transfer did not arrive (staff in scope; Idempotency-Key required)",
        responses={
            201: ResponseSpec(data_container=PayoutOut, description="The reversing entry"),
            **problems(
                401,
                413,
                idempotent=True,
                codes={
                    403: ["forbidden_role", "own_cooperative"],
                    404: ["cooperative_not_found", "payout_not_found"],
                    409: ["payout_already_reversed"],
                },
            ),
        },
    )
    async def reverse_payout(
        self,
        cooperative_id: FromPath[str],
        payout_id: FromPath[str],
        data: JSONBody[PayoutReversalIn],
        db: Db,
        settings: AppSettings,
        principal: Caller,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[Any]:
        """201 with the reversal; a payout is reversed once and never edited."""

        async def run(session: AsyncSession) -> tuple[int, PayoutOut]:
            return 201, await payouts.reverse_payout(session, principal, cooperative_id, payout_id, data)

        return await run_idempotently(
            db,
            settings,
            principal,
            idempotency_key,
            f"POST /api/v1/cooperatives/{cooperative_id}/payouts/{payout_id}/reverse",
            data,
            run,
        )


INCOME_PROBLEMS = {403: ["forbidden_role"], 404: ["village_not_found"]}


class IncomeController(Controller):
    path = "/api/v1/villages"
    tags = ["reports"]

    @post(
        "/{code:str}/income",
        status_code=201,
        summary="Record village collective income from outside platform sales (staff in scope; Idempotency-Key)",
        responses={
            201: ResponseSpec(data_container=IncomeOut, description="The record; the income is posted"),
            **problems(
                401,
                413,
                idempotent=True,
                codes={**INCOME_PROBLEMS, 409: ["contract_in_register"], 422: ["date_in_future"]},
            ),
        },
    )
    async def record_income(
        self,
        code: FromPath[str],
        data: JSONBody[IncomeIn],
        db: Db,
        settings: AppSettings,
        principal: Caller,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[Any]:
        """201 with the record; the same key gives the first answer again."""

        async def run(session: AsyncSession) -> tuple[int, IncomeOut]:
            return 201, await income.record_income(
                session, principal, code, data, timezone=settings.report_timezone
            )

        return await run_idempotently(
            db, settings, principal, idempotency_key, f"POST /api/v1/villages/{code}/income", data, run
        )

    @get(
        "/{code:str}/income",
        summary="A village's recorded collective income, newest first (staff in scope)",
        responses=problems(400, 401, codes={**INCOME_PROBLEMS, 422: ["invalid_cursor"]}),
    )
    async def list_income(
        self,
        code: FromPath[str],
        db: Db,
        principal: Caller,
        limit: Annotated[int, QueryParameter(name="limit", ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, QueryParameter(name="cursor", max_length=200)] = None,
    ) -> IncomeList:
        async with db.read() as conn:
            return await income.list_income(conn, principal, code, limit=limit, cursor=cursor)

    @post(
        "/{code:str}/income/{income_id:str}/reverse",
        status_code=201,
        summary="Reverse recorded income with a reason (staff in scope; Idempotency-Key)",
        responses={
            201: ResponseSpec(data_container=IncomeOut, description="The record, reversed"),
            **problems(
                401,
                413,
                idempotent=True,
                codes={
                    403: ["forbidden_role"],
                    404: ["village_not_found", "income_not_found"],
                    409: ["income_already_reversed"],
                },
            ),
        },
    )
    async def reverse_income(
        self,
        code: FromPath[str],
        income_id: FromPath[str],
        data: JSONBody[IncomeReversalIn],
        db: Db,
        settings: AppSettings,
        principal: Caller,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[Any]:
        """201 with the reversed record; a record is reversed once and never edited."""

        async def run(session: AsyncSession) -> tuple[int, IncomeOut]:
            return 201, await income.reverse_income(session, principal, code, income_id, data)

        return await run_idempotently(
            db,
            settings,
            principal,
            idempotency_key,
            f"POST /api/v1/villages/{code}/income/{income_id}/reverse",
            data,
            run,
        )


# The orders slice's volume lookup, injected by app.py (orders sits beside reports).
MemberVolumes: TypeAlias = NamedDependency[member_accounts.MemberVolumes]
SURPLUS_PROBLEMS = {403: ["forbidden_role"]}


class SurplusDraftController(Controller):
    path = "/api/v1/cooperatives"
    tags = ["reports"]

    @post(
        "/{cooperative_id:str}/surplus-distributions",
        status_code=201,
        summary="Draft a year's surplus distribution, Art. 42-44 (the cooperative's managers)",
        responses={
            201: ResponseSpec(
                data_container=SurplusDistributionOut,
                description="The draft with every member's return to the fen",
            ),
            **problems(
                400,
                401,
                413,
                codes={
                    **SURPLUS_PROBLEMS,
                    404: ["cooperative_not_found"],
                    409: ["year_already_distributed"],
                    422: [
                        "patronage_below_minimum",
                        "no_surplus",
                        "surplus_reason_required",
                        "no_member_volume",
                        "no_member_capital",
                    ],
                },
            ),
        },
    )
    async def draft_surplus_distribution(
        self,
        cooperative_id: FromPath[str],
        data: JSONBody[SurplusDistributionIn],
        session: Session,
        settings: AppSettings,
        principal: Caller,
        member_volumes: MemberVolumes,
    ) -> SurplusDistributionOut:
        """201 with the draft; without ``surplus_fen`` the surplus comes from the ledger."""
        return await distribution.draft(
            session,
            principal,
            cooperative_id,
            data,
            volumes=member_volumes,
            timezone=settings.report_timezone,
        )


class SurplusDistributionController(Controller):
    path = "/api/v1/surplus-distributions"
    tags = ["reports"]

    @post(
        "/{distribution_id:str}/confirm",
        status_code=200,
        summary="Confirm a surplus distribution: post it to the ledger, credit member accounts (managers)",
        responses={
            200: ResponseSpec(
                data_container=SurplusDistributionOut, description="The confirmed distribution"
            ),
            **problems(
                400,
                401,
                codes={
                    **SURPLUS_PROBLEMS,
                    404: ["surplus_distribution_not_found"],
                    409: ["year_already_distributed"],
                },
            ),
        },
    )
    async def confirm_surplus_distribution(
        self, distribution_id: FromPath[str], session: Session, principal: Caller
    ) -> SurplusDistributionOut:
        """Posts once; confirming again answers the confirmed distribution."""
        return await distribution.confirm(session, principal, distribution_id)

    @get(
        "/{distribution_id:str}",
        summary="A surplus distribution (the cooperative's managers, staff in scope)",
        responses=problems(400, 401, codes={**SURPLUS_PROBLEMS, 404: ["surplus_distribution_not_found"]}),
    )
    async def get_surplus_distribution(
        self, distribution_id: FromPath[str], db: Db, principal: Caller
    ) -> SurplusDistributionOut:
        async with db.read() as conn:
            return await distribution.read(conn, principal, distribution_id)


routes = [
    ReportsController,
    StatementController,
    IncomeController,
    SurplusDraftController,
    SurplusDistributionController,
    *disclosure_routes.routes,
]
