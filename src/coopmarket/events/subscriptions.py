"""Webhook subscriptions, managed by district staff: create (the secret shown once), list, delete,
list a subscription's dead letters and replay them."""

from __future__ import annotations

import json
import secrets
from urllib.parse import urlsplit

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlmodel import col

from coopmarket.core import clock
from coopmarket.core.errors import FieldError
from coopmarket.core.ids import new_id
from coopmarket.core.principal import DISTRICT_STAFF, Principal
from coopmarket.db import rowcount
from coopmarket.events import sealing
from coopmarket.events.errors import InvalidWebhookUrl, SubscriptionNotFound
from coopmarket.events.models import OutboxEvent, WebhookDelivery, WebhookSubscription
from coopmarket.events.outbox import DEAD, PENDING
from coopmarket.events.schemas import (
    DeadLetterList,
    DeadLetterOut,
    ReplayOut,
    WebhookSubscriptionCreated,
    WebhookSubscriptionIn,
    WebhookSubscriptionList,
    WebhookSubscriptionOut,
)
from coopmarket.settings import Settings

_INSERT = insert(WebhookSubscription.__table__)  # type: ignore[attr-defined]


def _kinds(events: list[str]) -> str:
    return "," + ",".join(sorted(set(events))) + ","


def _events(kinds: str) -> list[str]:
    return [k for k in kinds.split(",") if k]


def _check_url(url: str, settings: Settings) -> None:
    parts = urlsplit(url)
    allowed = ("https",) if settings.environment == "production" else ("https", "http")
    if parts.scheme not in allowed or not parts.hostname or parts.username or parts.password:
        raise InvalidWebhookUrl(
            "The URL must be an https URL (http outside production) with a host and no credentials.",
            errors=[FieldError("url", "not an acceptable webhook URL")],
        )


async def create(
    session: AsyncSession, principal: Principal, data: WebhookSubscriptionIn, settings: Settings
) -> WebhookSubscriptionCreated:
    principal.require_role(DISTRICT_STAFF)
    _check_url(data.url, settings)
    subscription_id = new_id()
    secret = "whsec_" + secrets.token_urlsafe(32)
    now = clock.now()
    await session.execute(
        _INSERT,
        [
            {
                "id": subscription_id,
                "url": data.url,
                "kinds": _kinds(list(data.events)),
                "secret_sealed": sealing.seal(settings, subscription_id, secret),
                "description": data.description,
                "created_by": principal.id,
                "created_at": now,
            }
        ],
    )
    return WebhookSubscriptionCreated(
        id=subscription_id,
        url=data.url,
        events=sorted(set(data.events)),
        description=data.description,
        created_at=now,
        secret=secret,
    )


async def list_subscriptions(conn: AsyncConnection, principal: Principal) -> WebhookSubscriptionList:
    principal.require_role(DISTRICT_STAFF)
    rows = (
        await conn.execute(
            select(WebhookSubscription)
            .where(col(WebhookSubscription.deleted_at).is_(None))
            .order_by(col(WebhookSubscription.id))
        )
    ).all()
    counts = (
        await conn.execute(
            select(col(WebhookDelivery.subscription_id), col(WebhookDelivery.status), func.count())
            .where(col(WebhookDelivery.status).in_([PENDING, DEAD]))
            .group_by(col(WebhookDelivery.subscription_id), col(WebhookDelivery.status))
        )
    ).all()
    by = {(str(r[0]), str(r[1])): int(r[2]) for r in counts}
    return WebhookSubscriptionList(
        items=[
            WebhookSubscriptionOut(
                id=r.id,
                url=r.url,
                events=_events(r.kinds),
                description=r.description,
                created_at=r.created_at,
                pending=by.get((r.id, PENDING), 0),
                dead=by.get((r.id, DEAD), 0),
            )
            for r in rows
        ]
    )


async def _require_live(executor: AsyncSession | AsyncConnection, subscription_id: str) -> None:
    found = await executor.scalar(
        select(col(WebhookSubscription.id)).where(
            col(WebhookSubscription.id) == subscription_id, col(WebhookSubscription.deleted_at).is_(None)
        )
    )
    if found is None:
        raise SubscriptionNotFound("No such webhook subscription.")


async def delete(session: AsyncSession, principal: Principal, subscription_id: str) -> None:
    """Stop the subscription: no new deliveries; what it was still owed is dropped."""
    principal.require_role(DISTRICT_STAFF)
    result = await session.execute(
        update(WebhookSubscription)
        .where(col(WebhookSubscription.id) == subscription_id, col(WebhookSubscription.deleted_at).is_(None))
        .values(deleted_at=clock.now())
    )
    if rowcount(result) != 1:
        raise SubscriptionNotFound("No such webhook subscription.")


async def dead_letters(conn: AsyncConnection, principal: Principal, subscription_id: str) -> DeadLetterList:
    principal.require_role(DISTRICT_STAFF)
    await _require_live(conn, subscription_id)
    rows = (
        await conn.execute(
            select(
                col(WebhookDelivery.id),
                col(WebhookDelivery.event_id),
                col(WebhookDelivery.attempts),
                col(WebhookDelivery.last_status_code),
                col(WebhookDelivery.last_error),
                col(OutboxEvent.kind),
                col(OutboxEvent.entity),
                col(OutboxEvent.entity_id),
                col(OutboxEvent.occurred_at),
                col(OutboxEvent.payload),
            )
            .join(OutboxEvent, col(OutboxEvent.id) == col(WebhookDelivery.event_id))
            .where(
                col(WebhookDelivery.subscription_id) == subscription_id, col(WebhookDelivery.status) == DEAD
            )
            .order_by(col(WebhookDelivery.event_id))
            .limit(500)
        )
    ).all()
    return DeadLetterList(
        items=[
            DeadLetterOut(
                id=r[0],
                event_id=r[1],
                attempts=r[2],
                last_status_code=r[3],
                last_error=r[4],
                kind=r[5],
                entity=r[6],
                entity_id=r[7],
                occurred_at=r[8],
                payload=json.loads(r[9]),
            )
            for r in rows
        ]
    )


async def replay(session: AsyncSession, principal: Principal, subscription_id: str) -> ReplayOut:
    """Every dead letter of the subscription is owed again: attempts start over, due now."""
    principal.require_role(DISTRICT_STAFF)
    await _require_live(session, subscription_id)
    result = await session.execute(
        update(WebhookDelivery)
        .where(col(WebhookDelivery.subscription_id) == subscription_id, col(WebhookDelivery.status) == DEAD)
        .values(status=PENDING, attempts=0, next_attempt_at=clock.now(), lease_token=None, lease_until=None)
    )
    return ReplayOut(replayed=rowcount(result))
