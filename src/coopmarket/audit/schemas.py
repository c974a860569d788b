"""Audit entries as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class AuditEntryOut(msgspec.Struct):
    id: str
    at: datetime
    actor_id: str | None
    actor_role: str | None
    action: str
    entity: str
    entity_id: str
    region_code: str | None
    cooperative_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
    request_id: str | None


class AuditList(msgspec.Struct):
    items: list[AuditEntryOut]
    next_cursor: str | None
