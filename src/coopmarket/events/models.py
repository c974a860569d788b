"""The outbox, webhook subscriptions and their deliveries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from coopmarket.core.models import id_field, ref_field, time_field


class OutboxEvent(SQLModel, table=True):
    """One domain event, written in the same transaction as the change it reports (never updated).

    ``id`` is time-ordered (``core.ids``): events of one entity sort in the order they happened.
    ``payload`` is JSON with ids, statuses and amounts only, never phone numbers or tokens.
    """

    __tablename__ = "outbox_event"
    __table_args__ = (Index("ix_outbox_event_entity", "entity", "entity_id", "id"),)

    id: str = id_field()
    occurred_at: datetime = time_field(index=True)
    kind: str = Field(max_length=64, index=True)
    entity: str = Field(max_length=32)
    entity_id: str = Field(max_length=64)
    payload: str = Field(sa_type=Text)


class WebhookSubscription(SQLModel, table=True):
    """A URL that receives signed deliveries of some event kinds.

    ``secret_sealed`` is the signing secret sealed with AES-256-GCM under a key derived from
    ``COOPMARKET_WEBHOOK_SECRET_KEY`` (or the JWT secret): the database alone does not reveal it.
    ``kinds`` is ``,kind,kind,`` so that one LIKE finds the subscribers of a kind.
    """

    __tablename__ = "webhook_subscription"

    id: str = id_field()
    url: str = Field(max_length=2048)
    kinds: str = Field(max_length=1024)
    secret_sealed: str = Field(max_length=512)
    description: str | None = Field(default=None, max_length=200)
    created_by: str = ref_field(index=False)
    created_at: datetime = time_field()
    deleted_at: datetime | None = time_field(nullable=True)


class WebhookDelivery(SQLModel, table=True):
    """One event owed to one subscription: ``pending`` until answered 2xx (``delivered``), or
    ``dead`` after ``COOPMARKET_WEBHOOK_MAX_ATTEMPTS`` failures (a dead letter staff may replay).

    A worker claims a delivery by setting ``lease_token``/``lease_until`` with a conditional UPDATE;
    another worker takes it over only after the lease has run out.
    """

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id", name="uq_webhook_delivery_subscription_event"),
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_entity", "subscription_id", "entity_key", "event_id"),
    )

    id: str = id_field()
    subscription_id: str = ref_field(index=False)
    event_id: str = ref_field(index=False)
    # ``{entity}:{entity_id}``: deliveries of one entity go out one at a time, in event order.
    entity_key: str = Field(max_length=100)
    status: str = Field(max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = time_field()
    lease_token: str | None = Field(default=None, max_length=26)
    lease_until: datetime | None = time_field(nullable=True)
    last_status_code: int | None = Field(default=None)
    last_error: str | None = Field(default=None, max_length=500)
    delivered_at: datetime | None = time_field(nullable=True)
    created_at: datetime = time_field()
