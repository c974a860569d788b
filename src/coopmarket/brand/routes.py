"""HTTP routes of brand licences: apply, list, read, grant, suspend, revoke."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from coopmarket.brand import service
from coopmarket.brand.schemas import LicenceDecisionIn, LicenceIn, LicenceList, LicenceOut
from coopmarket.coops.licence_rules import LicenceAction
from coopmarket.coops.schemas import LicenceStatusName
from coopmarket.core.http import AppSettings, Caller, Db, Session, Today
from coopmarket.core.openapi import problems
from coopmarket.core.pagination import DEFAULT_LIMIT, MAX_LIMIT

MAX_EXPIRING_DAYS = 3660

DECISION_PROBLEMS = problems(
    400,
    401,
    413,
    codes={
        403: ["forbidden_role"],
        404: ["licence_not_found"],
        409: ["invalid_transition", "licence_expired"],
        422: ["reason_required"],
    },
)


class CooperativeLicencesController(Controller):
    path = "/api/v1/cooperatives/{cooperative_id:str}/brand-licences"
    tags = ["brand"]

    @post(
        "/",
        status_code=201,
        summary="Apply for the regional brand on named products (its manager)",
        responses=problems(
            400,
            401,
            413,
            codes={
                403: ["forbidden_role"],
                404: ["cooperative_not_found"],
                409: ["cooperative_not_approved"],
                422: ["invalid_licence_products", "invalid_licence_term"],
            },
        ),
    )
    async def apply(
        self,
        cooperative_id: FromPath[str],
        data: JSONBody[LicenceIn],
        session: Session,
        principal: Caller,
        today: Today,
        settings: AppSettings,
    ) -> LicenceOut:
        """An application (``status: "applied"``) for active products of the caller's cooperative."""
        return await service.apply_for_licence(
            session, principal, cooperative_id, data, today=today, brand=settings.brand_name
        )


class LicenceController(Controller):
    path = "/api/v1/brand-licences"
    tags = ["brand"]

    @get(
        "/",
        summary="Brand licences (staff: their region; managers: their cooperatives')",
        responses=problems(400, 401, codes={403: ["forbidden_role"], 422: ["invalid_cursor"]}),
    )
    async def list_licences(
        self,
        db: Db,
        principal: Caller,
        today: Today,
        status: Annotated[LicenceStatusName | None, QueryParameter(name="status")] = None,
        expiring_within_days: Annotated[
            int | None,
            QueryParameter(
                name="expiring_within_days",
                ge=0,
                le=MAX_EXPIRING_DAYS,
                description="Only licences still applied, granted or suspended whose term ends within this many days, soonest first",
            ),
        ] = None,
        cooperative_id: Annotated[str | None, QueryParameter(name="cooperative_id", max_length=26)] = None,
        limit: Annotated[int, QueryParameter(name="limit", ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, QueryParameter(name="cursor", max_length=300)] = None,
    ) -> LicenceList:
        """By effective status (``expired`` once ``valid_to`` has passed), newest first."""
        async with db.read() as conn:
            return await service.list_licences(
                conn,
                principal,
                today=today,
                status=status,
                expiring_within_days=expiring_within_days,
                cooperative_id=cooperative_id,
                limit=limit,
                cursor=cursor,
            )

    @get(
        "/{licence_id:str}",
        summary="One brand licence with its decisions",
        responses=problems(400, 401, codes={403: ["forbidden_role"], 404: ["licence_not_found"]}),
    )
    async def get_licence(
        self, licence_id: FromPath[str], db: Db, principal: Caller, today: Today
    ) -> LicenceOut:
        """Its products, term, number, status and every decision with actor, time and reason."""
        async with db.read() as conn:
            return await service.get_licence(conn, principal, licence_id, today=today)

    @post(
        "/{licence_id:str}/grant",
        status_code=200,
        summary="Grant (or reinstate) a brand licence (district staff)",
        responses=problems(
            400,
            401,
            413,
            codes={
                403: ["forbidden_role"],
                404: ["licence_not_found"],
                409: [
                    "invalid_transition",
                    "licence_expired",
                    "certification_missing",
                    "cooperative_not_approved",
                ],
                422: [],
            },
        ),
    )
    async def grant(
        self,
        licence_id: FromPath[str],
        session: Session,
        principal: Caller,
        today: Today,
        settings: AppSettings,
        data: JSONBody[LicenceDecisionIn | None] = None,
    ) -> LicenceOut:
        """applied or suspended → granted, when every product holds the required certificates for the term."""
        return await service.grant_licence(
            session, principal, licence_id, data, today=today, settings=settings
        )

    @post(
        "/{licence_id:str}/suspend",
        status_code=200,
        summary="Suspend a granted brand licence (district staff)",
        responses=DECISION_PROBLEMS,
    )
    async def suspend(
        self,
        licence_id: FromPath[str],
        session: Session,
        principal: Caller,
        today: Today,
        data: JSONBody[LicenceDecisionIn | None] = None,
    ) -> LicenceOut:
        """granted → suspended, with a reason; the badge goes at once."""
        return await service.decide(session, principal, licence_id, LicenceAction.SUSPEND, data, today=today)

    @post(
        "/{licence_id:str}/revoke",
        status_code=200,
        summary="Revoke a brand licence or refuse an application (district staff)",
        responses=DECISION_PROBLEMS,
    )
    async def revoke(
        self,
        licence_id: FromPath[str],
        session: Session,
        principal: Caller,
        today: Today,
        data: JSONBody[LicenceDecisionIn | None] = None,
    ) -> LicenceOut:
        """applied, granted or suspended → revoked, with a reason; final."""
        return await service.decide(session, principal, licence_id, LicenceAction.REVOKE, data, today=today)


routes = [CooperativeLicencesController, LicenceController]
