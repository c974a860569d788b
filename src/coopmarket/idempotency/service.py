"""Idempotency keys for writes that move money or stock.

Same key + same body from the same user: the first answer again, no second effect. Same key,
other body: 422 ``idempotency_key_reused``. Same key while the first request runs: 409. The
claim is a committed row (the unique key settles races in the database); the operation's own
writes and the stored answer commit together, so an answer is stored if and only if its effect
happened. A request that fails releases its claim, so the client may retry it.

A process can also die between its claim and its commit (a crash, an OOM kill, a deploy): its
claim stays ``in_progress`` with no effect and no answer. So every claim carries a lease (a fresh
``claim_token`` and ``lease_expires_at``, ``settings.idempotency_lease_seconds`` ahead, far longer
than any request runs). A retry of the same request after the lease ran out takes the claim over
with one conditional UPDATE on the token it saw (so of several concurrent retries exactly one
wins) and runs the operation. The completion and the release are conditional on the claimant's
own token too: should a claimant only have been slow, not dead, its late commit finds the claim
gone and rolls back, so the effect still happens exactly once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import msgspec
from sqlalchemy import bindparam, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core import clock
from coopmarket.core.errors import BadRequest, Conflict, RuleViolated
from coopmarket.core.ids import new_id
from coopmarket.db import Database, execute_dml, rowcount
from coopmarket.idempotency.models import IdempotencyKey

log = logging.getLogger(__name__)
MAX_KEY_LENGTH = 255
IN_PROGRESS = "in_progress"
COMPLETED = "completed"
DEFAULT_LEASE = timedelta(minutes=5)


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
    K.user_id == bindparam("user_id"),
    K.key == bindparam("key"),
    K.status == IN_PROGRESS,
    K.claim_token == bindparam("token"),
)
_TAKE_OVER = (
    update(_keys)
    .where(
        K.user_id == bindparam("where_user_id"),
        K.key == bindparam("where_key"),
        K.status == IN_PROGRESS,
        K.claim_token.is_not_distinct_from(bindparam("seen_token", type_=K.claim_token.type)),
        or_(
            K.lease_expires_at.is_(None), K.lease_expires_at < bindparam("now", type_=K.lease_expires_at.type)
        ),
    )
    .values(claim_token=bindparam("token"), lease_expires_at=bindparam("lease_expires_at"))
)
_COMPLETE = (
    update(_keys)
    .where(
        K.user_id == bindparam("where_user_id"),
        K.key == bindparam("where_key"),
        K.status == IN_PROGRESS,
        K.claim_token == bindparam("where_token"),
    )
    .values(
        status=COMPLETED,
        response_status=bindparam("response_status"),
        response_body=bindparam("response_body"),
        completed_at=bindparam("completed_at"),
        lease_expires_at=None,
    )
)


@dataclass(frozen=True)
class _Claim:
    user_id: str
    key: str
    token: str


async def _insert_claim(db: Database, claim: _Claim, scope: str, fingerprint: str, lease: timedelta) -> bool:
    """Commit a new in-progress claim (one self-committing INSERT); False when (user, key) is held."""
    now = clock.now()
    try:
        await db.execute_once(
            _INSERT_CLAIM,
            {
                "id": new_id(),
                "user_id": claim.user_id,
                "key": claim.key,
                "scope": scope,
                "request_hash": fingerprint,
                "status": IN_PROGRESS,
                "claim_token": claim.token,
                "lease_expires_at": now + lease,
                "response_status": None,
                "response_body": None,
                "created_at": now,
                "completed_at": None,
            },
        )
    except IntegrityError:
        return False
    return True


async def _take_over(db: Database, claim: _Claim, seen_token: str | None, lease: timedelta) -> bool:
    """Take over a claim whose lease ran out, if it is still the one seen (one conditional UPDATE)."""
    now = clock.now()
    async with db.write_once() as conn:
        result = await conn.execute(
            _TAKE_OVER,
            {
                "where_user_id": claim.user_id,
                "where_key": claim.key,
                "seen_token": seen_token,
                "now": now,
                "token": claim.token,
                "lease_expires_at": now + lease,
            },
        )
    return bool(result.rowcount == 1)


def _lease_ran_out(row: IdempotencyKey) -> bool:
    return row.lease_expires_at is None or row.lease_expires_at < clock.now()


async def _claim(
    db: Database, claim: _Claim, scope: str, fingerprint: str, ttl: timedelta, lease: timedelta
) -> Any:
    """Insert the claim (or take over a dead one), or return the stored row that holds the key."""
    for _ in range(3):
        if await _insert_claim(db, claim, scope, fingerprint, lease):
            return None
        async with db.unit_of_work() as session:
            row = (
                await session.execute(
                    select(IdempotencyKey).where(
                        col(IdempotencyKey.user_id) == claim.user_id, col(IdempotencyKey.key) == claim.key
                    )
                )
            ).scalar_one_or_none()
            if row is None:
                continue  # released in between: try to claim again
            if row.created_at < clock.now() - ttl:
                # Kept long enough: an expired key starts afresh.
                await session.execute(delete(IdempotencyKey).where(col(IdempotencyKey.id) == row.id))
                continue
        same_request = row.request_hash == fingerprint and row.scope == scope
        if same_request and row.status == IN_PROGRESS and _lease_ran_out(row):
            # Its owner died before committing (no effect, no answer): the retry takes it over.
            if await _take_over(db, claim, row.claim_token, lease):
                log.warning("idempotency key taken over after its lease ran out user_id=%s", claim.user_id)
                return None
            continue  # another retry won, or the first one completed: look again
        return row
    raise Conflict("This Idempotency-Key is busy; retry shortly.", code="idempotency_request_in_progress")


async def _release(db: Database, claim: _Claim) -> None:
    async with db.write_once() as conn:
        await conn.execute(_RELEASE, {"user_id": claim.user_id, "key": claim.key, "token": claim.token})


# Releases that failed because the database was away (the same outage that failed the request),
# retried in the background so that the client's retry is not refused as "in progress" for the
# whole lease. Kept referenced until done.
_RELEASE_RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0)
_pending_releases: set[asyncio.Task[None]] = set()


async def _release_later(db: Database, claim: _Claim) -> None:
    for delay in _RELEASE_RETRY_DELAYS:
        await asyncio.sleep(delay)
        try:
            await _release(db, claim)
        except Exception as exc:  # still away; try again later
            log.debug("idempotency claim not released yet: %s", type(exc).__name__)
            continue
        log.info("released an idempotency claim after the database came back")
        return
    log.warning("could not release an idempotency claim; its lease will free it")


async def _release_now_or_later(db: Database, claim: _Claim) -> None:
    """Free the claim of a request that failed; if the database cannot be reached now, keep trying
    in the background (the lease frees it at the latest)."""
    try:
        await _release(db, claim)
    except Exception:
        log.warning("could not release an idempotency claim now; retrying in the background")
        task = asyncio.create_task(_release_later(db, claim))
        _pending_releases.add(task)
        task.add_done_callback(_pending_releases.discard)


async def execute(
    db: Database,
    *,
    user_id: str,
    key: str | None,
    scope: str,
    body: Any,
    ttl: timedelta,
    run: Callable[[AsyncSession], Awaitable[tuple[int, Any]]],
    lease: timedelta = DEFAULT_LEASE,
) -> IdempotentResult:
    """Run ``run(session)`` at most once per (user, key), in a unit of work this opens and commits.

    ``run`` returns the answer's status and body; both are stored with its writes in one commit.
    ``lease`` is how long the claim is this call's alone (see the module docstring).
    """
    key = check_key(key)
    fingerprint = request_fingerprint(scope, body)
    claim = _Claim(user_id, key, new_id())
    existing = await _claim(db, claim, scope, fingerprint, ttl, lease)
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
            completed = await execute_dml(
                conn,
                _COMPLETE,
                {
                    "where_user_id": user_id,
                    "where_key": key,
                    "where_token": claim.token,
                    "response_status": status_code,
                    "response_body": encoded.decode(),
                    "completed_at": clock.now(),
                },
            )
            if completed != 1:
                raise Conflict(
                    "The Idempotency-Key claim was lost; retry.", code="idempotency_request_in_progress"
                )
    except BaseException:
        await _release_now_or_later(db, claim)
        raise
    return IdempotentResult(status_code, encoded, False)


async def purge_expired(db: Database, ttl: timedelta) -> int:
    """Delete keys older than ``ttl`` (kept at least 24 hours by settings)."""
    async with db.unit_of_work() as session:
        result = await session.execute(
            delete(IdempotencyKey).where(col(IdempotencyKey.created_at) < clock.now() - ttl)
        )
    return rowcount(result)
