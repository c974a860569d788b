"""Idempotency keys for writes that move money or stock.

Same key + same body from the same user: the first answer again, no second effect. Same key,
other body: 422 ``idempotency_key_reused``. Same key while the first request runs: 409. The
claim is a committed row (the unique key settles races in the database); the operation's own
writes and the stored answer commit together, so an answer is stored if and only if its effect
happened. A request that fails releases its claim, so the client may retry it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import msgspec
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core import clock
from coopmarket.core.errors import BadRequest, Conflict, RuleViolated
from coopmarket.core.ids import new_id
from coopmarket.db import Database, rowcount
from coopmarket.idempotency.models import IdempotencyKey

log = logging.getLogger(__name__)
MAX_KEY_LENGTH = 255
IN_PROGRESS = "in_progress"
COMPLETED = "completed"


@dataclass(frozen=True)
class IdempotentResult:
    status_code: int
    body: bytes
    replayed: bool


def request_fingerprint(scope: str, body: Any) -> str:
    """A hash of what the request asks for: its scope and its decoded body (whitespace-proof)."""
    return hashlib.sha256(scope.encode() + b"\x00" + msgspec.json.encode(body)).hexdigest()


def check_key(key: str | None) -> str:
    """The key from the ``Idempotency-Key`` header; 400 when missing or out of bounds."""
    if key is None or key == "":
        raise BadRequest("This request needs an Idempotency-Key header.", code="idempotency_key_required")
    if len(key) > MAX_KEY_LENGTH:
        raise BadRequest("The Idempotency-Key must be 1–255 characters.", code="idempotency_key_invalid")
    return key


_keys = IdempotencyKey.metadata.tables["idempotency_key"]
K = _keys.c
# Built once (every money or stock write passes here).
_INSERT_CLAIM = insert(_keys)
_RELEASE = delete(_keys).where(
    K.user_id == bindparam("user_id"), K.key == bindparam("key"), K.status == IN_PROGRESS
)
_COMPLETE = (
    update(_keys)
    .where(K.user_id == bindparam("where_user_id"), K.key == bindparam("where_key"), K.status == IN_PROGRESS)
    .values(
        status=COMPLETED,
        response_status=bindparam("response_status"),
        response_body=bindparam("response_body"),
        completed_at=bindparam("completed_at"),
    )
)


async def _insert_claim(db: Database, user_id: str, key: str, scope: str, fingerprint: str) -> bool:
    """Commit a new in-progress claim (one self-committing INSERT); False when (user, key) is held."""
    now = clock.now()
    try:
        async with db.write_once() as conn:
            await conn.execute(
                _INSERT_CLAIM,
                {
                    "id": new_id(),
                    "user_id": user_id,
                    "key": key,
                    "scope": scope,
                    "request_hash": fingerprint,
                    "status": IN_PROGRESS,
                    "response_status": None,
                    "response_body": None,
                    "created_at": now,
                    "completed_at": None,
                },
            )
    except IntegrityError:
        return False
    return True


async def _claim(db: Database, user_id: str, key: str, scope: str, fingerprint: str, ttl: timedelta) -> Any:
    """Insert the claim, or return the stored row that already holds the key."""
    for _ in range(2):
        if await _insert_claim(db, user_id, key, scope, fingerprint):
            return None
        async with db.unit_of_work() as session:
            row = (
                await session.execute(
                    select(IdempotencyKey).where(
                        col(IdempotencyKey.user_id) == user_id, col(IdempotencyKey.key) == key
                    )
                )
            ).scalar_one_or_none()
            if row is None:
                continue  # released in between: try to claim again
            if row.created_at < clock.now() - ttl:
                # Kept long enough: an expired key starts afresh.
                await session.execute(delete(IdempotencyKey).where(col(IdempotencyKey.id) == row.id))
                continue
            return row
    raise Conflict("This Idempotency-Key is busy; retry shortly.", code="idempotency_request_in_progress")


async def _release(db: Database, user_id: str, key: str) -> None:
    async with db.write_once() as conn:
        await conn.execute(_RELEASE, {"user_id": user_id, "key": key})


async def execute(
    db: Database,
    *,
    user_id: str,
    key: str | None,
    scope: str,
    body: Any,
    ttl: timedelta,
    run: Callable[[AsyncSession], Awaitable[tuple[int, Any]]],
) -> IdempotentResult:
    """Run ``run(session)`` at most once per (user, key), in a unit of work this opens and commits.

    ``run`` returns the answer's status and body; both are stored with its writes in one commit.
    """
    key = check_key(key)
    fingerprint = request_fingerprint(scope, body)
    existing = await _claim(db, user_id, key, scope, fingerprint, ttl)
    if existing is not None:
        if existing.request_hash != fingerprint or existing.scope != scope:
            raise RuleViolated(
                "This Idempotency-Key was used for a different request.", code="idempotency_key_reused"
            )
        if existing.status != COMPLETED:
            raise Conflict(
                "A request with this Idempotency-Key is still running.",
                code="idempotency_request_in_progress",
            )
        return IdempotentResult(
            existing.response_status or 200, (existing.response_body or "").encode(), True
        )
    try:
        async with db.unit_of_work() as session:
            status_code, answer = await run(session)
            encoded = msgspec.json.encode(answer)
            conn = await session.connection()
            result = await conn.execute(
                _COMPLETE,
                {
                    "where_user_id": user_id,
                    "where_key": key,
                    "response_status": status_code,
                    "response_body": encoded.decode(),
                    "completed_at": clock.now(),
                },
            )
            if rowcount(result) != 1:
                raise Conflict(
                    "The Idempotency-Key claim was lost; retry.", code="idempotency_request_in_progress"
                )
    except BaseException:
        await _release(db, user_id, key)
        raise
    return IdempotentResult(status_code, encoded, False)


async def purge_expired(db: Database, ttl: timedelta) -> int:
    """Delete keys older than ``ttl`` (kept at least 24 hours by settings)."""
    async with db.unit_of_work() as session:
        result = await session.execute(
            delete(IdempotencyKey).where(col(IdempotencyKey.created_at) < clock.now() - ttl)
        )
    return rowcount(result)
