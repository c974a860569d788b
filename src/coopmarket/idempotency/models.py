"""Idempotency keys for writes that move money or stock."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from coopmarket.core.models import id_field, ref_field, time_field


class IdempotencyKey(SQLModel, table=True):
    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_user_key"),)

    id: str = id_field()
    user_id: str = ref_field(foreign_key="user_account.id", index=False)
    key: str = Field(max_length=255)
    scope: str = Field(max_length=255)  # method and route the key was first used on
    request_hash: str = Field(max_length=64)
    status: str = Field(max_length=16)  # in_progress | completed
    # Who holds an in-progress claim (a fresh token per claim or takeover) and until when: a claim
    # whose lease ran out without an answer belongs to a process that died, and may be taken over.
    claim_token: str | None = Field(default=None, max_length=26)
    lease_expires_at: datetime | None = time_field(nullable=True)
    response_status: int | None = None
    response_body: str | None = None
    created_at: datetime = time_field(index=True)
    completed_at: datetime | None = time_field(nullable=True)
