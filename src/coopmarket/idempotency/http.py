"""Turning an idempotent result into a response (shared by the routes that need keys)."""

from __future__ import annotations

from typing import Annotated, Any, TypeAlias

from litestar import MediaType, Response
from litestar.params import HeaderParameter

from coopmarket.idempotency.service import IdempotentResult

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
