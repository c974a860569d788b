"""Delivering the outbox: signed webhooks, at least once, between units of work.

One pass (``deliver_due``) has three steps, so that no transaction is open while a subscriber answers:

1. claim, in one unit of work: due ``pending`` deliveries whose lease (if any) ran out are given
   this pass's lease token with a conditional UPDATE (on PostgreSQL the candidates are read with
   ``FOR UPDATE SKIP LOCKED``, so concurrent workers take different rows). Only the oldest owed
   delivery of each subscription and entity is eligible, so one entity's events reach a subscriber
   in the order they happened (a dead letter stops holding back the ones after it; a replayed one
   arrives after them);
2. send each with httpx, outside any transaction, signed (``events.signing``);
3. record each answer in its own unit of work, only while the lease is still ours: 2xx is
   ``delivered``; anything else (a refused connection, a timeout, 5xx, 4xx) is retried after an
   exponential backoff with jitter, and after ``webhook_max_attempts`` it is ``dead``.

A worker that dies after sending and before recording leaves the lease to run out: the delivery
is sent again (at least once; subscribers deduplicate by the event ``id``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import aliased
from sqlmodel import col

from coopmarket.core import clock
from coopmarket.core.ids import new_id
from coopmarket.core.jobs import PeriodicJob
from coopmarket.db import Database, dialect_name, rowcount
from coopmarket.events import sealing, signing
from coopmarket.events.models import OutboxEvent, WebhookDelivery, WebhookSubscription
from coopmarket.events.outbox import DEAD, DELIVERED, PENDING
from coopmarket.settings import Settings

log = logging.getLogger(__name__)
_jitter = random.SystemRandom()
USER_AGENT = "coopmarket-webhooks/1"


@dataclass(frozen=True)
class Claimed:
    delivery_id: str
    token: str
    attempts: int
    subscription_id: str
    url: str
    secret_sealed: str
    event_id: str
    kind: str
    body: bytes


def backoff(settings: Settings, attempts: int) -> float:
    """Seconds to wait after ``attempts`` failures: base × 2^(attempts−1), capped, with equal jitter."""
    delay = min(
        settings.webhook_backoff_max_seconds, settings.webhook_backoff_base_seconds * 2 ** (attempts - 1)
    )
    return delay / 2 + _jitter.uniform(0, delay / 2)


def _body(
    event_id: str, kind: str, entity: str, entity_id: str, occurred_at: datetime, payload: str
) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "kind": kind,
            "entity": entity,
            "entity_id": entity_id,
            "occurred_at": occurred_at.isoformat(),
            "data": json.loads(payload),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


async def claim(db: Database, settings: Settings, *, batch: int = 50) -> list[Claimed]:
    """Lease up to ``batch`` due deliveries to this pass, in one unit of work."""
    now = clock.now()
    token = new_id()
    earlier = aliased(WebhookDelivery)
    async with db.unit_of_work() as session:
        candidates = (
            select(col(WebhookDelivery.id))
            .join(WebhookSubscription, col(WebhookSubscription.id) == col(WebhookDelivery.subscription_id))
            .where(
                col(WebhookDelivery.status) == PENDING,
                col(WebhookDelivery.next_attempt_at) <= now,
                or_(col(WebhookDelivery.lease_until).is_(None), col(WebhookDelivery.lease_until) < now),
                col(WebhookSubscription.deleted_at).is_(None),
                ~exists().where(
                    and_(
                        col(earlier.subscription_id) == col(WebhookDelivery.subscription_id),
                        col(earlier.entity_key) == col(WebhookDelivery.entity_key),
                        col(earlier.status) == PENDING,
                        col(earlier.event_id) < col(WebhookDelivery.event_id),
                    )
                ),
            )
            .order_by(col(WebhookDelivery.event_id))
            .limit(batch)
        )
        if dialect_name(session) == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True, of=WebhookDelivery)
        ids = list((await session.execute(candidates)).scalars().all())
        if not ids:
            return []
        await session.execute(
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.id).in_(ids),
                col(WebhookDelivery.status) == PENDING,
                or_(col(WebhookDelivery.lease_until).is_(None), col(WebhookDelivery.lease_until) < now),
            )
            .values(lease_token=token, lease_until=now + timedelta(seconds=settings.webhook_lease_seconds))
        )
        rows = (
            await session.execute(
                select(
                    col(WebhookDelivery.id),
                    col(WebhookDelivery.attempts),
                    col(WebhookDelivery.subscription_id),
                    col(WebhookSubscription.url),
                    col(WebhookSubscription.secret_sealed),
                    col(OutboxEvent.id),
                    col(OutboxEvent.kind),
                    col(OutboxEvent.entity),
                    col(OutboxEvent.entity_id),
                    col(OutboxEvent.occurred_at),
                    col(OutboxEvent.payload),
                )
                .join(
                    WebhookSubscription, col(WebhookSubscription.id) == col(WebhookDelivery.subscription_id)
                )
                .join(OutboxEvent, col(OutboxEvent.id) == col(WebhookDelivery.event_id))
                .where(col(WebhookDelivery.lease_token) == token)
                .order_by(col(WebhookDelivery.event_id))
            )
        ).all()
    return [
        Claimed(
            delivery_id=r[0],
            token=token,
            attempts=r[1],
            subscription_id=r[2],
            url=r[3],
            secret_sealed=r[4],
            event_id=r[5],
            kind=r[6],
            body=_body(r[5], r[6], r[7], r[8], r[9], r[10]),
        )
        for r in rows
    ]


async def _send(
    client: httpx.AsyncClient, settings: Settings, item: Claimed
) -> tuple[int | None, str | None]:
    """POST one delivery; ``(status, error)`` (``status`` None when no answer came)."""
    secret = sealing.unseal(settings, item.subscription_id, item.secret_sealed)
    timestamp = int(clock.now().timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.HEADER: signing.sign(secret, timestamp, item.body),
        "Coopmarket-Event-Id": item.event_id,
        "Coopmarket-Event-Kind": item.kind,
        "Coopmarket-Delivery-Id": item.delivery_id,
    }
    try:
        response = await client.post(
            item.url, content=item.body, headers=headers, timeout=settings.webhook_timeout_seconds
        )
    except httpx.HTTPError as exc:
        return None, type(exc).__name__
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"answered {response.status_code}"


async def _record(
    db: Database, settings: Settings, item: Claimed, status: int | None, error: str | None
) -> bool:
    now = clock.now()
    attempts = item.attempts + 1
    values: dict[str, object] = {
        "attempts": attempts,
        "last_status_code": status,
        "last_error": error,
        "lease_token": None,
        "lease_until": None,
    }
    if error is None:
        values.update(status=DELIVERED, delivered_at=now)
    elif attempts >= settings.webhook_max_attempts:
        values["status"] = DEAD
        log.warning(
            "webhook delivery %s of event %s is a dead letter after %d attempts (%s)",
            item.delivery_id,
            item.event_id,
            attempts,
            error,
        )
    else:
        values["next_attempt_at"] = now + timedelta(seconds=backoff(settings, attempts))
    async with db.unit_of_work() as session:
        result = await session.execute(
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.id) == item.delivery_id,
                col(WebhookDelivery.lease_token) == item.token,
                col(WebhookDelivery.status) == PENDING,
            )
            .values(**values)
        )
    return rowcount(result) == 1 and error is None


async def deliver_due(
    db: Database, settings: Settings, client: httpx.AsyncClient | None = None, *, batch: int = 50
) -> int:
    """One pass: claim, send (up to ten at once), record. Returns how many were delivered."""
    claimed = await claim(db, settings, batch=batch)
    if not claimed:
        return 0
    own_client = client is None
    http = client or httpx.AsyncClient(follow_redirects=False)
    gate = asyncio.Semaphore(10)

    async def one(item: Claimed) -> bool:
        async with gate:
            status, error = await _send(http, settings, item)
        return await _record(db, settings, item, status, error)

    try:
        results = await asyncio.gather(*(one(item) for item in claimed))
    finally:
        if own_client:
            await http.aclose()
    return sum(results)


async def deliver_until_idle(
    db: Database, settings: Settings, client: httpx.AsyncClient | None = None
) -> int:
    """Passes until none delivers anything (a job's run: a backlog drains without waiting a period)."""
    total = 0
    while (delivered := await deliver_due(db, settings, client)) > 0:
        total += delivered
    return total


def periodic_jobs(db: Database, settings: Settings) -> list[PeriodicJob]:
    """The events slice's job, for ``app.py`` (or the job queue) to run."""
    return [
        PeriodicJob(
            "deliver webhooks",
            settings.webhook_delivery_interval_seconds,
            lambda: deliver_until_idle(db, settings),
        )
    ]
