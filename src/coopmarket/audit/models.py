"""The one audit log: every decision and change that matters, append-only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

from coopmarket.core.models import id_field, ref_field, time_field


class AuditEntry(SQLModel, table=True):
    """Who did what to which object, when, and the object before and after (as JSON).

    Rows are never updated or deleted (database triggers refuse it). ``region_code`` and
    ``cooperative_id`` place the entry in a scope, so street staff read only their street's.
    """

    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entry_entity", "entity", "entity_id", "id"),
        Index("ix_audit_entry_actor", "actor_id", "id"),
        Index("ix_audit_entry_region", "region_code", "id"),
        Index("ix_audit_entry_cooperative", "cooperative_id", "id"),
    )

    id: str = id_field()
    at: datetime = time_field(index=True)
    actor_id: str | None = ref_field(nullable=True, index=False)
    actor_role: str | None = Field(default=None, max_length=24)
    action: str = Field(max_length=64)
    entity: str = Field(max_length=32)
    entity_id: str = Field(max_length=64)
    region_code: str | None = Field(default=None, max_length=12)
    cooperative_id: str | None = ref_field(nullable=True, index=False)
    before: str | None = Field(default=None, sa_type=Text)
    after: str | None = Field(default=None, sa_type=Text)
    reason: str | None = Field(default=None, max_length=500)
    request_id: str | None = Field(default=None, max_length=64)
