"""HTTP routes of frozen disclosures: publish (staff), public reads (JSON, canonical bytes, printable
page), public messages (rate limited) and their moderation (village or street staff)."""

from __future__ import annotations

from typing import Annotated, Any, TypeAlias

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter

from coopmarket.core.http import AppSettings, Caller, Db, Session
from coopmarket.core.openapi import ALTERNATIVE_MEDIA_TYPES, NO_TOKEN_NEEDED, problems
from coopmarket.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from coopmarket.core.ratelimit import identifier_for, parse_networks
from coopmarket.reports import disclosure_page, disclosures
from coopmarket.reports.schemas import (
    DisclosureFormat,
    DisclosureIn,
    DisclosureOut,
    DisclosurePage,
    MessageAccepted,
    MessageIn,
    MessageOut,
    MessagePage,
    MessageRejectIn,
    MessageStatus,
)

# The message limits live in the app's state (made at start-up, closed at shutdown; app.py).
MessageLimits: TypeAlias = NamedDependency[disclosures.MessageLimits]
# The exact bytes hashed: served as bytes (they are JSON, but not the ``DisclosureOut`` shape).
CANONICAL_MEDIA_TYPE = "application/octet-stream"


class DisclosureController(Controller):
    path = "/api/v1/disclosures"
    tags = ["disclosures"]

    @post(
        "/",
        status_code=201,
        summary="Publish a village's frozen disclosure for a closed month or quarter (staff in scope)",
        responses={
            201: ResponseSpec(data_container=DisclosureOut, description="The frozen snapshot"),
            **problems(
                400,
                401,
                413,
                codes={
                    403: ["forbidden_role"],
                    404: ["village_not_found"],
                    409: ["disclosure_exists", "disclosure_already_corrected"],
                    422: ["period_not_closed", "invalid_correction"],
                },
            ),
        },
    )
    async def publish(
        self, data: JSONBody[DisclosureIn], session: Session, settings: AppSettings, principal: Caller
    ) -> DisclosureOut:
        """201 with the snapshot; a second one for the village and period is a correction (``corrects``)."""
        return await disclosures.publish(session, principal, data, timezone=settings.report_timezone)


class PublicVillageDisclosuresController(Controller):
    path = "/api/v1/public/villages/{code:str}/disclosures"
    tags = ["disclosures"]

    @get(
        "/",
        summary="A village's published disclosures, newest first (public)",
        security=NO_TOKEN_NEEDED,
        responses=problems(400, codes={404: ["village_not_found"], 422: ["invalid_cursor"]}),
    )
    async def list_disclosures(
        self,
        code: FromPath[str],
        db: Db,
        limit: Annotated[int, QueryParameter(name="limit", ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, QueryParameter(name="cursor", max_length=200)] = None,
    ) -> DisclosurePage:
        """Each item says which disclosure it corrects and which corrects it."""
        async with db.read() as conn:
            return await disclosures.list_disclosures(conn, code, limit=limit, cursor=cursor)


class PublicDisclosureController(Controller):
    path = "/api/v1/public/disclosures/{disclosure_id:str}"
    tags = ["disclosures"]

    @get(
        "/",
        summary="One published disclosure: JSON, its canonical bytes, or a printable page (public)",
        security=NO_TOKEN_NEEDED,
        opt={
            ALTERNATIVE_MEDIA_TYPES: {
                "text/html": {"type": "string", "description": "With format=html: the printable page"},
                CANONICAL_MEDIA_TYPE: {
                    "type": "string",
                    "format": "binary",
                    "description": "With format=canonical: the stored canonical JSON bytes",
                },
            }
        },
        responses={
            200: ResponseSpec(
                data_container=DisclosureOut,
                description="JSON; with format=canonical the exact bytes hashed; with format=html a page",
            ),
            **problems(400, codes={404: ["disclosure_not_found"]}),
        },
    )
    async def read_disclosure(
        self,
        disclosure_id: FromPath[str],
        db: Db,
        settings: AppSettings,
        output: Annotated[DisclosureFormat, QueryParameter(name="format")] = "json",
    ) -> Response[Any]:
        """``format=json`` (default): the snapshot with approved messages; ``canonical``: the stored
        bytes whose SHA-256 is ``content_hash`` (also in the ``X-Content-Hash`` header); ``html``:
        the printable page in Chinese."""
        async with db.read() as conn:
            if output == "canonical":
                canonical, digest = await disclosures.read_canonical(conn, disclosure_id)
                return Response(
                    canonical, media_type=CANONICAL_MEDIA_TYPE, headers={"X-Content-Hash": digest}
                )
            disclosure = await disclosures.read_disclosure(conn, disclosure_id)
        if output == "html":
            return Response(disclosure_page.render(disclosure, settings.report_timezone), media_type=MediaType.HTML)
        return Response(disclosure, media_type=MediaType.JSON)

    @post(
        "/messages",
        status_code=202,
        summary="Leave a message on a disclosure; shown after village or street staff approve it (public)",
        security=NO_TOKEN_NEEDED,
        responses={
            202: ResponseSpec(data_container=MessageAccepted, description="Stored, pending moderation"),
            **problems(400, 413, codes={404: ["disclosure_not_found"], 429: ["rate_limited"]}),
        },
    )
    async def post_message(
        self,
        request: Request[Any, Any, Any],
        disclosure_id: FromPath[str],
        data: JSONBody[MessageIn],
        session: Session,
        settings: AppSettings,
        disclosure_message_limits: MessageLimits,
    ) -> MessageAccepted:
        """Rate limited per client address and per disclosure (429 with ``Retry-After``)."""
        client = identifier_for(parse_networks(settings.trusted_proxies))(request)
        return await disclosures.post_message(
            session, disclosure_message_limits, client, disclosure_id, data
        )


MODERATION_PROBLEMS = {
    403: ["forbidden_role"],
    404: ["disclosure_message_not_found"],
    409: ["message_already_decided"],
}


class DisclosureMessagesController(Controller):
    path = "/api/v1/disclosure-messages"
    tags = ["disclosures"]

    @get(
        "/",
        summary="Messages on the disclosures of villages in scope, oldest first: the moderation queue (staff)",
        responses=problems(
            400,
            401,
            codes={403: ["forbidden_role"], 404: ["region_not_found"], 422: ["invalid_cursor", "invalid_region_level"]},
        ),
    )
    async def list_messages(
        self,
        db: Db,
        principal: Caller,
        region_code: Annotated[
            str | None,
            QueryParameter(name="region_code", min_length=6, max_length=12, description="Default: yours"),
        ] = None,
        status: Annotated[MessageStatus, QueryParameter(name="status")] = "pending",
        limit: Annotated[int, QueryParameter(name="limit", ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, QueryParameter(name="cursor", max_length=200)] = None,
    ) -> MessagePage:
        async with db.read() as conn:
            return await disclosures.list_messages(
                conn, principal, region_code=region_code, status=status, limit=limit, cursor=cursor
            )


class DisclosureMessageController(Controller):
    path = "/api/v1/disclosure-messages/{message_id:str}"
    tags = ["disclosures"]

    @post(
        "/approve",
        status_code=200,
        summary="Approve a message on a disclosure (village or street staff in scope; audited)",
        responses=problems(400, 401, codes=MODERATION_PROBLEMS),
    )
    async def approve(self, message_id: FromPath[str], session: Session, principal: Caller) -> MessageOut:
        return await disclosures.decide_message(session, principal, message_id, approve=True)

    @post(
        "/reject",
        status_code=200,
        summary="Reject a message on a disclosure with a reason (village or street staff in scope; audited)",
        responses=problems(400, 401, 413, codes=MODERATION_PROBLEMS),
    )
    async def reject(
        self, message_id: FromPath[str], data: JSONBody[MessageRejectIn], session: Session, principal: Caller
    ) -> MessageOut:
        return await disclosures.decide_message(
            session, principal, message_id, approve=False, reason=data.reason.strip()
        )


routes = [
    DisclosureController,
    PublicVillageDisclosuresController,
    PublicDisclosureController,
    DisclosureMessagesController,
    DisclosureMessageController,
]
