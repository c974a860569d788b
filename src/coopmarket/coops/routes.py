"""HTTP routes of the coops slice: registration, approval, members."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, TypeAlias
from zoneinfo import ZoneInfo

from litestar import Controller, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from coopmarket.coops import manager_routes, member_accounts, service
from coopmarket.coops.schemas import (
    CapitalChangeIn,
    CapitalChangeOut,
    CooperativeIn,
    CooperativeList,
    CooperativeOut,
    CooperativePatch,
    CooperativeStatus,
    DecisionIn,
    MemberAccountOut,
    MemberIn,
    MemberList,
    MemberOut,
    MemberPatch,
    TransactionVolumesOut,
)
from coopmarket.core.errors import FieldError, ValidationFailed
from coopmarket.core.http import AppSettings, Caller, Db, MaybeCaller, Session, Today
from coopmarket.core.openapi import TOKEN_OPTIONAL, problems
from coopmarket.core.pagination import DEFAULT_LIMIT, MAX_LIMIT

Limit = Annotated[int, QueryParameter(name="limit", ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, QueryParameter(name="cursor", max_length=200)]
DateFrom = Annotated[date | None, QueryParameter(name="from", description="First local date (inclusive)")]
DateTo = Annotated[date | None, QueryParameter(name="to", description="Last local date (inclusive)")]
# The orders slice's volume lookup, injected by app.py (orders sits above coops).
MemberVolumes: TypeAlias = NamedDependency[member_accounts.MemberVolumes]
PERIOD_PROBLEMS = {403: ["forbidden_role"], 422: ["invalid_date_range"]}


def _period(
    timezone: str, date_from: date | None, date_to: date | None
) -> tuple[datetime | None, datetime | None]:
    """Local dates (``to`` inclusive) as the instants [start, end) in the report time zone."""
    if date_from is not None and date_to is not None and date_from > date_to:
        raise ValidationFailed(
            "from must not be after to.", code="invalid_date_range", errors=[FieldError("from", "after to")]
        )
    zone = ZoneInfo(timezone)
    start = datetime.combine(date_from, time(), zone) if date_from is not None else None
    end = datetime.combine(date_to + timedelta(days=1), time(), zone) if date_to is not None else None
    return start, end


# What approve, reject, suspend and reinstate answer besides the cooperative.
DECISION_PROBLEMS = problems(
    400,
    401,
    413,
    codes={
        403: ["forbidden_role"],
        404: ["cooperative_not_found"],
        409: ["invalid_transition"],
        422: ["reason_required"],
    },
)


def _reason(data: DecisionIn | None) -> str | None:
    return data.reason if data is not None else None


class CooperativeController(Controller):
    path = "/api/v1/cooperatives"
    tags = ["cooperatives"]

    @post(
        "/",
        status_code=201,
        summary="Register a cooperative",
        responses=problems(
            400,
            401,
            413,
            codes={
                403: ["forbidden_role"],
                409: ["uscc_taken"],
                422: ["invalid_uscc", "invalid_region", "patronage_return_below_minimum"],
            },
        ),
    )
    async def register(
        self, data: JSONBody[CooperativeIn], session: Session, principal: Caller
    ) -> CooperativeOut:
        """Register a cooperative (status ``pending``); the caller becomes its manager."""
        return await service.register_cooperative(session, principal, data)

    @get(
        "/",
        summary="List cooperatives",
        security=TOKEN_OPTIONAL,
        responses=problems(400, 401, codes={403: ["forbidden_role"], 422: ["invalid_cursor"]}),
    )
    async def list_cooperatives(
        self,
        db: Db,
        maybe_principal: MaybeCaller,
        today: Today,
        status: Annotated[CooperativeStatus | None, QueryParameter(name="status")] = None,
        region_code: Annotated[str | None, QueryParameter(name="region_code", max_length=12)] = None,
        q: Annotated[str | None, QueryParameter(name="q", max_length=100)] = None,
        reverification_due: Annotated[
            bool,
            QueryParameter(
                name="reverification_due",
                description="Staff: only approved or suspended cooperatives in scope whose seller "
                "identity (E-commerce Law Art. 27) is due for verification today or earlier",
            ),
        ] = False,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> CooperativeList:
        """Approved cooperatives for everyone; staff also see their scope, managers their own."""
        async with db.read() as conn:
            return await service.list_cooperatives(
                conn,
                maybe_principal,
                status=status,
                region_code=region_code,
                q=q,
                reverification_due_on=today if reverification_due else None,
                limit=limit,
                cursor=cursor,
            )

    @get(
        "/{cooperative_id:str}",
        summary="One cooperative",
        security=TOKEN_OPTIONAL,
        responses=problems(400, 401, codes={404: ["cooperative_not_found"]}),
    )
    async def get_cooperative(
        self, db: Db, maybe_principal: MaybeCaller, cooperative_id: FromPath[str]
    ) -> CooperativeOut:
        """Public fields of an approved cooperative; every field for its managers and staff in scope."""
        async with db.read() as conn:
            return await service.get_cooperative(conn, maybe_principal, cooperative_id)

    @patch(
        "/{cooperative_id:str}",
        summary="Edit a cooperative (its manager)",
        responses=problems(
            400,
            401,
            413,
            codes={
                404: ["cooperative_not_found"],
                409: ["cooperative_not_editable"],
                422: ["patronage_return_below_minimum"],
            },
        ),
    )
    async def update_cooperative(
        self,
        data: JSONBody[CooperativePatch],
        session: Session,
        principal: Caller,
        today: Today,
        cooperative_id: FromPath[str],
    ) -> CooperativeOut:
        """Edit name, party organisation, chairperson and charter while pending or approved."""
        return await service.update_cooperative(session, principal, cooperative_id, data, today=today)

    @post(
        "/{cooperative_id:str}/approve",
        status_code=200,
        summary="Approve a pending cooperative",
        responses=DECISION_PROBLEMS,
    )
    async def approve(
        self,
        session: Session,
        principal: Caller,
        today: Today,
        cooperative_id: FromPath[str],
        data: JSONBody[DecisionIn | None] = None,
    ) -> CooperativeOut:
        """pending → approved (district staff, or street staff for their street)."""
        return await service.decide(session, principal, cooperative_id, "approve", _reason(data), today=today)

    @post(
        "/{cooperative_id:str}/reject",
        status_code=200,
        summary="Reject a pending cooperative",
        responses=DECISION_PROBLEMS,
    )
    async def reject(
        self,
        session: Session,
        principal: Caller,
        today: Today,
        cooperative_id: FromPath[str],
        data: JSONBody[DecisionIn | None] = None,
    ) -> CooperativeOut:
        """pending → rejected, with a reason."""
        return await service.decide(session, principal, cooperative_id, "reject", _reason(data), today=today)

    @post(
        "/{cooperative_id:str}/suspend",
        status_code=200,
        summary="Suspend an approved cooperative",
        responses=DECISION_PROBLEMS,
    )
    async def suspend(
        self,
        session: Session,
        principal: Caller,
        today: Today,
        cooperative_id: FromPath[str],
        data: JSONBody[DecisionIn | None] = None,
    ) -> CooperativeOut:
        """approved → suspended, with a reason."""
        return await service.decide(session, principal, cooperative_id, "suspend", _reason(data), today=today)

    @post(
        "/{cooperative_id:str}/reinstate",
        status_code=200,
        summary="Reinstate a suspended cooperative",
        responses=DECISION_PROBLEMS,
    )
    async def reinstate(
        self,
        session: Session,
        principal: Caller,
        today: Today,
        cooperative_id: FromPath[str],
        data: JSONBody[DecisionIn | None] = None,
    ) -> CooperativeOut:
        """suspended → approved."""
        return await service.decide(session, principal, cooperative_id, "reinstate", _reason(data), today=today)

    @post(
        "/{cooperative_id:str}/verify-identity",
        status_code=200,
        summary="Record a seller identity verification (E-commerce Law Art. 27; staff)",
        responses=problems(
            400,
            401,
            codes={403: ["forbidden_role"], 404: ["cooperative_not_found"], 409: ["invalid_transition"]},
        ),
    )
    async def verify_identity(
        self, session: Session, principal: Caller, today: Today, cooperative_id: FromPath[str]
    ) -> CooperativeOut:
        """Staff in scope verified the seller identity again; the next one is due in 180 days."""
        return await service.verify_identity(session, principal, cooperative_id, today=today)

    @get(
        "/{cooperative_id:str}/members",
        summary="A cooperative's members",
        responses=problems(400, 401, codes={404: ["cooperative_not_found"], 422: ["invalid_cursor"]}),
    )
    async def list_members(
        self,
        db: Db,
        principal: Caller,
        cooperative_id: FromPath[str],
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> MemberList:
        """Members with capital and capital history (its managers and staff in scope)."""
        async with db.read() as conn:
            return await service.list_members(conn, principal, cooperative_id, limit=limit, cursor=cursor)

    @post(
        "/{cooperative_id:str}/members",
        status_code=201,
        summary="Add a member (its manager)",
        responses=problems(
            400, 401, 413, 422, codes={404: ["cooperative_not_found"], 409: ["collective_member_exists"]}
        ),
    )
    async def add_member(
        self, data: JSONBody[MemberIn], session: Session, principal: Caller, cooperative_id: FromPath[str]
    ) -> MemberOut:
        """Add a household, village collective or other member with its capital contribution."""
        return await service.add_member(session, principal, cooperative_id, data)

    @patch(
        "/{cooperative_id:str}/members/{member_id:str}",
        summary="Edit a member (its manager)",
        responses=problems(400, 401, 413, 422, codes={404: ["cooperative_not_found", "member_not_found"]}),
    )
    async def update_member(
        self,
        data: JSONBody[MemberPatch],
        session: Session,
        principal: Caller,
        cooperative_id: FromPath[str],
        member_id: FromPath[str],
    ) -> MemberOut:
        """Rename a member or change its capital; capital changes are recorded."""
        return await service.update_member(session, principal, cooperative_id, member_id, data)

    @get(
        "/{cooperative_id:str}/members/{member_id:str}/account",
        summary="A member's account (Art. 43)",
        responses=problems(
            400, 401, codes={404: ["cooperative_not_found", "member_not_found"], **PERIOD_PROBLEMS}
        ),
    )
    async def member_account(
        self,
        db: Db,
        settings: AppSettings,
        principal: Caller,
        member_volumes: MemberVolumes,
        cooperative_id: FromPath[str],
        member_id: FromPath[str],
        date_from: DateFrom = None,
        date_to: DateTo = None,
    ) -> MemberAccountOut:
        """Capital with its history, quantified reserve share, transaction volume settled in the
        period net of refunds, and returns received (its managers and staff in scope)."""
        start, end = _period(settings.report_timezone, date_from, date_to)
        async with db.read() as conn:
            return await member_accounts.member_account(
                conn,
                principal,
                cooperative_id,
                member_id,
                volumes=member_volumes,
                start=start,
                end=end,
                date_from=date_from,
                date_to=date_to,
            )

    @post(
        "/{cooperative_id:str}/members/{member_id:str}/capital-changes",
        status_code=201,
        summary="Record a capital change of a member (its manager)",
        responses=problems(
            400,
            401,
            413,
            422,
            codes={
                403: ["forbidden_role"],
                404: ["cooperative_not_found", "member_not_found"],
                409: ["capital_below_zero", "member_capital_cap_exceeded"],
            },
        ),
    )
    async def record_capital_change(
        self,
        data: JSONBody[CapitalChangeIn],
        session: Session,
        principal: Caller,
        cooperative_id: FromPath[str],
        member_id: FromPath[str],
    ) -> CapitalChangeOut:
        """A contribution (positive) or withdrawal (negative): a new entry of the capital history."""
        return await member_accounts.record_capital_change(session, principal, cooperative_id, member_id, data)

    @get(
        "/{cooperative_id:str}/transaction-volumes",
        summary="Member and non-member transaction volumes (Art. 41)",
        responses=problems(400, 401, codes={404: ["cooperative_not_found"], **PERIOD_PROBLEMS}),
    )
    async def transaction_volumes(
        self,
        db: Db,
        settings: AppSettings,
        principal: Caller,
        member_volumes: MemberVolumes,
        cooperative_id: FromPath[str],
        date_from: DateFrom = None,
        date_to: DateTo = None,
    ) -> TransactionVolumesOut:
        """Settled sales in the period net of refunds, by member, and non-member sales apart."""
        start, end = _period(settings.report_timezone, date_from, date_to)
        async with db.read() as conn:
            return await member_accounts.transaction_volumes(
                conn,
                principal,
                cooperative_id,
                volumes=member_volumes,
                start=start,
                end=end,
                date_from=date_from,
                date_to=date_to,
            )


routes = [CooperativeController, *manager_routes.routes]
