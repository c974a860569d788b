"""The audit log: record an entry inside the change's own transaction; read entries in scope.

``record`` joins the caller's transaction and never commits: the entry is written together with
the change it describes, or not at all (a change that fails leaves no entry). ``before`` and
``after`` are what the object looked like, as plain JSON-able dicts; callers pass only what staff
may read (phones masked, ID numbers masked), because street staff read their street's entries.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from coopmarket.audit.models import AuditEntry
from coopmarket.audit.schemas import AuditEntryOut, AuditList
from coopmarket.core import clock
from coopmarket.core.errors import FieldError, PermissionDenied, ValidationFailed
from coopmarket.core.ids import new_id
from coopmarket.core.pagination import DEFAULT_LIMIT, decode_cursor, encode_cursor
from coopmarket.core.principal import DISTRICT_STAFF, STREET_STAFF, Principal
from coopmarket.ops.context import current_request_id

_entry = AuditEntry.__table__  # type: ignore[attr-defined]
_INSERT = insert(_entry)

Executor = AsyncSession | AsyncConnection

# Who reads the log (API.md): district staff everything in their region, street staff their street.
READER_ROLES = (DISTRICT_STAFF, STREET_STAFF)


def _json(value: Mapping[str, Any] | None) -> str | None:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


async def record(
    executor: Executor,
    *,
    actor: Principal | None,
    action: str,
    entity: str,
    entity_id: str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    reason: str | None = None,
    region_code: str | None = None,
    cooperative_id: str | None = None,
) -> str:
    """Write one audit entry in the caller's transaction (never commits); returns its id.

    ``actor`` is ``None`` for the system's own work (expiry, automatic receipt, jobs).
    """
    entry_id = new_id()
    await executor.execute(
        _INSERT,
        [
            {
                "id": entry_id,
                "at": clock.now(),
                "actor_id": actor.id if actor else None,
                "actor_role": actor.role if actor else None,
                "action": action,
                "entity": entity,
                "entity_id": entity_id,
                "region_code": region_code,
                "cooperative_id": cooperative_id,
                "before": _json(before),
                "after": _json(after),
                "reason": reason[:500] if reason else None,
                "request_id": current_request_id(),
            }
        ],
    )
    return entry_id


def _out(row: Any) -> AuditEntryOut:
    return AuditEntryOut(
        id=row.id,
        at=row.at,
        actor_id=row.actor_id,
        actor_role=row.actor_role,
        action=row.action,
        entity=row.entity,
        entity_id=row.entity_id,
        region_code=row.region_code,
        cooperative_id=row.cooperative_id,
        before=json.loads(row.before) if row.before else None,
        after=json.loads(row.after) if row.after else None,
        reason=row.reason,
        request_id=row.request_id,
    )


async def list_entries(
    conn: AsyncConnection,
    principal: Principal,
    *,
    timezone: str,
    entity: str | None = None,
    entity_id: str | None = None,
    actor_id: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> AuditList:
    """Entries in the caller's scope, newest first, filtered; dates are local days, inclusive."""
    principal.require_role(*READER_ROLES)
    if principal.region_code is None:
        raise PermissionDenied("Your account has no region.", code="forbidden_role")
    if date_from and date_to and date_from > date_to:
        raise ValidationFailed(
            "`from` is after `to`.", code="invalid_date_range", errors=[FieldError("from", "after `to`")]
        )
    statement = select(_entry).order_by(_entry.c.id.desc()).limit(limit + 1)
    if principal.role == DISTRICT_STAFF and len(principal.region_code) <= 6:
        # The district's staff see everything, entries without a region (staff accounts) included.
        statement = statement.where(
            or_(_entry.c.region_code.is_(None), _entry.c.region_code.startswith(principal.region_code))
        )
    else:
        statement = statement.where(_entry.c.region_code.startswith(principal.region_code))
    if entity:
        statement = statement.where(_entry.c.entity == entity)
    if entity_id:
        statement = statement.where(_entry.c.entity_id == entity_id)
    if actor_id:
        statement = statement.where(_entry.c.actor_id == actor_id)
    if date_from:
        start, _ = clock.local_days_to_utc(date_from, date_from, timezone)
        statement = statement.where(_entry.c.at >= start)
    if date_to:
        _, end = clock.local_days_to_utc(date_to, date_to, timezone)
        statement = statement.where(_entry.c.at < end)
    after = decode_cursor(cursor, 1)
    if after is not None:
        if not isinstance(after[0], str):
            raise ValidationFailed(
                "The cursor is not one this API issued.",
                code="invalid_cursor",
                errors=[FieldError("cursor", "malformed cursor")],
            )
        statement = statement.where(_entry.c.id < after[0])
    rows = (await conn.execute(statement)).all()
    items = [_out(row) for row in rows[:limit]]
    next_cursor = encode_cursor([items[-1].id]) if len(rows) > limit and items else None
    return AuditList(items=items, next_cursor=next_cursor)
