"""The outbox: ``record_event`` writes a domain event in the caller's transaction.

It joins the transaction of the change it reports and never commits, so the event exists if and
only if the change does (a change that fails leaves no event). In the same statements it owes the
event to every live webhook subscription of its kind (a ``pending`` delivery each), so an outage of
a subscriber, or of this process, cannot lose it: delivery (``events.delivery``) happens later,
between units of work, until the subscriber answers 2xx.

Payloads carry ids, statuses and amounts: never phone numbers, addresses, tokens or secrets
(``record_event`` refuses keys that look like them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from sqlalchemy import String, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlmodel import col

from coopmarket.core import clock
from coopmarket.core.ids import new_id
from coopmarket.db import execute_many, fetch_all
from coopmarket.events.models import OutboxEvent, WebhookDelivery, WebhookSubscription

Executor = AsyncSession | AsyncConnection

_INSERT_EVENT = insert(OutboxEvent.__table__)  # type: ignore[attr-defined]
_INSERT_DELIVERY = insert(WebhookDelivery.__table__)  # type: ignore[attr-defined]
# Built once (every order placed passes here): the live subscriptions of a kind.
_LIVE_SUBSCRIPTIONS = select(col(WebhookSubscription.id)).where(
    col(WebhookSubscription.deleted_at).is_(None),
    col(WebhookSubscription.kinds).like(bindparam("kinds_like", type_=String)),
)

PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"


class EventKind(StrEnum):
    """The domain events subscribers may ask for (stable names: they are part of the API)."""

    ORDER_PLACED = "order.placed"
    ORDER_PAID = "order.paid"
    PART_SHIPPED = "order_part.shipped"
    PART_RECEIVED = "order_part.received"
    REFUND_APPROVED = "refund.approved"
    LICENCE_GRANTED = "brand_licence.granted"


# Keys a payload must never carry (personal data and credentials stay out of other systems).
_FORBIDDEN_KEY_PARTS = ("phone", "token", "secret", "password", "address", "openid", "id_number")


def _check_payload(payload: Mapping[str, Any]) -> None:
    for key, value in payload.items():
        lowered = key.lower()
        if any(part in lowered for part in _FORBIDDEN_KEY_PARTS):
            raise ValueError(f"an event payload must not carry {key!r}")
        if isinstance(value, Mapping):
            _check_payload(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, Mapping):
                    _check_payload(item)


def _kinds_like(kind: str) -> str:
    return f"%,{kind},%"


async def record_event(
    session: Executor,
    kind: EventKind | str,
    entity: str,
    entity_id: str,
    payload: Mapping[str, Any],
) -> str:
    """Write one event (and a pending delivery per live subscription of ``kind``) in the caller's
    transaction; never commits. Returns the event's id."""
    _check_payload(payload)
    kind = str(kind)
    event_id = new_id()
    now = clock.now()
    await execute_many(
        session,
        _INSERT_EVENT,
        [
            {
                "id": event_id,
                "occurred_at": now,
                "kind": kind,
                "entity": entity,
                "entity_id": entity_id,
                "payload": json.dumps(
                    dict(payload), ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str
                ),
            }
        ],
    )
    subscribers = [
        row[0] for row in await fetch_all(session, _LIVE_SUBSCRIPTIONS, {"kinds_like": _kinds_like(kind)})
    ]
    if subscribers:
        await execute_many(
            session,
            _INSERT_DELIVERY,
            [
                {
                    "id": new_id(),
                    "subscription_id": subscription_id,
                    "event_id": event_id,
                    "entity_key": f"{entity}:{entity_id}"[:100],
                    "status": PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for subscription_id in subscribers
            ],
        )
    return event_id
