"""Webhook subscriptions and dead letters as the API takes and shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from coopmarket.core.text import Name, Text

EventName = Literal[
    "order.placed",
    "order.paid",
    "order_part.shipped",
    "order_part.received",
    "refund.approved",
    "brand_licence.granted",
]


class WebhookSubscriptionIn(msgspec.Struct, forbid_unknown_fields=True):
    url: Annotated[Text, Meta(min_length=10, max_length=2048, description="http(s) URL that receives POSTs")]
    events: Annotated[list[EventName], Meta(min_length=1, max_length=6)]
    description: Annotated[Name, Meta(min_length=1, max_length=200)] | None = None


class WebhookSubscriptionOut(msgspec.Struct):
    id: str
    url: str
    events: list[str]
    description: str | None
    created_at: datetime
    pending: int
    dead: int


class WebhookSubscriptionCreated(msgspec.Struct):
    """The subscription, and its signing secret: shown this once, never again."""

    id: str
    url: str
    events: list[str]
    description: str | None
    created_at: datetime
    secret: str


class WebhookSubscriptionList(msgspec.Struct):
    items: list[WebhookSubscriptionOut]


class DeadLetterOut(msgspec.Struct):
    id: str
    event_id: str
    kind: str
    entity: str
    entity_id: str
    occurred_at: datetime
    attempts: int
    last_status_code: int | None
    last_error: str | None
    payload: dict[str, Any]


class DeadLetterList(msgspec.Struct):
    items: list[DeadLetterOut]


class ReplayOut(msgspec.Struct):
    replayed: int
