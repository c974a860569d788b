"""HTTP routes of the audit slice: the log, read by district and street staff."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from litestar import Controller, get
from litestar.params import QueryParameter

from coopmarket.audit import service
from coopmarket.audit.schemas import AuditList
from coopmarket.core.http import AppSettings, Caller, Db
from coopmarket.core.openapi import problems
from coopmarket.core.pagination import DEFAULT_LIMIT, MAX_LIMIT


class AuditController(Controller):
    path = "/api/v1/audit"
    tags = ["audit"]

    @get(
        "",
        summary="Audit log (district staff; street staff: their street)",
        responses=problems(
            400, 401, codes={403: ["forbidden_role"], 422: ["invalid_cursor", "invalid_date_range"]}
        ),
    )
    async def list_audit(
        self,
        db: Db,
        settings: AppSettings,
        principal: Caller,
        entity: Annotated[
            str | None,
            QueryParameter(name="entity", max_length=32, description="e.g. `cooperative`, `brand_licence`"),
        ] = None,
        entity_id: Annotated[
            str | None, QueryParameter(name="id", max_length=64, description="The object's id")
        ] = None,
        actor: Annotated[
            str | None, QueryParameter(name="actor", max_length=26, description="A user id")
        ] = None,
        date_from: Annotated[
            date | None,
            QueryParameter(name="from", description="First local date (Asia/Shanghai), inclusive"),
        ] = None,
        date_to: Annotated[
            date | None, QueryParameter(name="to", description="Last local date, inclusive")
        ] = None,
        limit: Annotated[int, QueryParameter(name="limit", ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, QueryParameter(name="cursor", max_length=512)] = None,
    ) -> AuditList:
        """Append-only entries `{at, actor_id, action, entity, entity_id, before, after}`, newest first."""
        async with db.read() as conn:
            return await service.list_entries(
                conn,
                principal,
                timezone=settings.report_timezone,
                entity=entity,
                entity_id=entity_id,
                actor_id=actor,
                date_from=date_from,
                date_to=date_to,
                limit=limit,
                cursor=cursor,
            )


routes = [AuditController]
