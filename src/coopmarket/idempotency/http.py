"""Turning an idempotent result into a response (shared by the routes that need keys)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any, TypeAlias

from litestar import MediaType, Response
from litestar.params import HeaderParameter
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core.principal import Principal
from coopmarket.db import Database
from coopmarket.idempotency import service
from coopmarket.idempotency.service import IdempotentResult
from coopmarket.settings import Settings

Operation: TypeAlias = Callable[[AsyncSession], Awaitable[tuple[int, Any]]]

IdempotencyKeyHeader: TypeAlias = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        description="1–255 characters; the same key and body give the first answer again.",
        required=False,
    ),
]


def idempotent_response(result: IdempotentResult) -> Response[Any]:
    """The stored or fresh answer; replays say so in ``Idempotent-Replayed``."""
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    return Response(
        content=result.body, status_code=result.status_code, media_type=MediaType.JSON, headers=headers
    )


async def run_idempotently(
    db: Database,
    settings: Settings,
    principal: Principal,
    key: str | None,
    scope: str,
    body: Any,
    run: Operation,
) -> Response[Any]:
    """Run ``run`` at most once for (caller, key) and answer with its stored or fresh result."""
    result = await service.execute(
        db,
        user_id=principal.id,
        key=key,
        scope=scope,
        body=body,
        ttl=timedelta(hours=settings.idempotency_ttl_hours),
        lease=timedelta(seconds=settings.idempotency_lease_seconds),
        run=run,
    )
    return idempotent_response(result)
