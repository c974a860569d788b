"""Reading the outbox back in tests."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text

from coopmarket.db import Database


async def events(db: Database, kind: str | None = None) -> list[dict[str, Any]]:
    """Every outbox event (or those of ``kind``), oldest first, payload decoded."""
    query = "SELECT id, kind, entity, entity_id, payload FROM outbox_event"
    params: dict[str, Any] = {}
    if kind is not None:
        query += " WHERE kind = :kind"
        params["kind"] = kind
    async with db.read() as conn:
        rows = (await conn.execute(text(query + " ORDER BY id"), params)).all()
    return [
        {"id": r[0], "kind": r[1], "entity": r[2], "entity_id": r[3], "payload": json.loads(r[4])}
        for r in rows
    ]
