"""The reports of reconciliation runs: kept by ``record_run`` at the end of each run
(``flows.reconciliation``), read by district staff (``list_runs``, ``get_run``).

Functions that receive a session join its transaction and never commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from coopmarket.core.errors import FieldError, NotFound, ValidationFailed
from coopmarket.core.ids import new_id
from coopmarket.core.pagination import decode_cursor, encode_cursor
from coopmarket.core.principal import DISTRICT_STAFF, Principal
from coopmarket.db import Executor
from coopmarket.payments.models import ReconciliationItem, ReconciliationRun
from coopmarket.payments.providers import Window
from coopmarket.payments.reconciliation import Finding
from coopmarket.payments.schemas import ReconciliationItemOut, ReconciliationRunList, ReconciliationRunOut


async def record_run(
    executor: Executor,
    *,
    provider: str,
    trigger: str,
    window: Window,
    started_at: datetime,
    finished_at: datetime,
    payments_seen: int,
    refunds_seen: int,
    findings: Sequence[Finding],
) -> ReconciliationRunOut:
    """Keep the report of one run (its findings with what was done). Joins the caller's transaction."""
    run_id = new_id()
    repaired = sum(1 for f in findings if not f.needs_attention)
    attention = len(findings) - repaired
    await executor.execute(
        insert(ReconciliationRun.__table__),  # type: ignore[attr-defined]
        [
            {
                "id": run_id,
                "provider": provider,
                "trigger": trigger,
                "window_start": window.since,
                "window_end": window.until,
                "started_at": started_at,
                "finished_at": finished_at,
                "payments_seen": payments_seen,
                "refunds_seen": refunds_seen,
                "repaired": repaired,
                "needs_attention": attention,
            }
        ],
    )
    items = [_item_row(run_id, f) for f in findings]
    if items:
        await executor.execute(insert(ReconciliationItem.__table__), items)  # type: ignore[attr-defined]
    return ReconciliationRunOut(
        id=run_id,
        provider=provider,
        trigger=trigger,
        window_start=window.since,
        window_end=window.until,
        started_at=started_at,
        finished_at=finished_at,
        payments_seen=payments_seen,
        refunds_seen=refunds_seen,
        repaired=repaired,
        needs_attention=attention,
        items=[_item_out(row) for row in items],
    )


def _item_row(run_id: str, finding: Finding) -> dict[str, Any]:
    d = finding.discrepancy
    detail = "; ".join(x for x in (d.detail, finding.detail) if x) or None
    return {
        "id": new_id(),
        "run_id": run_id,
        "kind": d.kind,
        "provider_ref": d.provider_ref[:255],
        "order_id": d.order_id if d.order_id and len(d.order_id) <= 26 else None,
        "refund_id": d.refund_id,
        "amount_fen": d.amount_fen,
        "finding": d.finding,
        "action": finding.action,
        "detail": detail[:500] if detail else None,
    }


def _item_out(row: Mapping[Any, Any]) -> ReconciliationItemOut:
    return ReconciliationItemOut(
        id=row["id"],
        kind=row["kind"],
        provider_ref=row["provider_ref"],
        order_id=row["order_id"],
        refund_id=row["refund_id"],
        amount_fen=int(row["amount_fen"]),
        finding=row["finding"],
        action=row["action"],
        detail=row["detail"],
    )


_RUN = ReconciliationRun.__table__  # type: ignore[attr-defined]
_ITEM = ReconciliationItem.__table__  # type: ignore[attr-defined]


def _run_out(row: Any, items: list[ReconciliationItemOut] | None = None) -> ReconciliationRunOut:
    return ReconciliationRunOut(
        id=row.id,
        provider=row.provider,
        trigger=row.trigger,
        window_start=row.window_start,
        window_end=row.window_end,
        started_at=row.started_at,
        finished_at=row.finished_at,
        payments_seen=row.payments_seen,
        refunds_seen=row.refunds_seen,
        repaired=row.repaired,
        needs_attention=row.needs_attention,
        items=items,
    )


def _require_district_staff(principal: Principal) -> None:
    principal.require_role(DISTRICT_STAFF)


async def list_runs(
    executor: Executor, principal: Principal, *, provider: str | None, limit: int, cursor: str | None
) -> ReconciliationRunList:
    """Runs newest first (keyset on the id), for district staff; ``items`` are left out."""
    _require_district_staff(principal)
    stmt = select(_RUN).order_by(_RUN.c.id.desc()).limit(limit + 1)
    if provider is not None:
        stmt = stmt.where(_RUN.c.provider == provider)
    after = decode_cursor(cursor, 1)
    if after is not None:
        if not isinstance(after[0], str):
            raise ValidationFailed(
                "The cursor is not one this API issued.",
                code="invalid_cursor",
                errors=[FieldError("cursor", "malformed cursor")],
            )
        stmt = stmt.where(_RUN.c.id < after[0])
    rows = (await executor.execute(stmt)).all()
    items = [_run_out(row) for row in rows[:limit]]
    more = len(rows) > limit and bool(items)
    return ReconciliationRunList(items=items, next_cursor=encode_cursor([items[-1].id]) if more else None)


async def get_run(executor: Executor, principal: Principal, run_id: str) -> ReconciliationRunOut:
    """One run with its findings, for district staff; 404 ``reconciliation_run_not_found``."""
    _require_district_staff(principal)
    row = (await executor.execute(select(_RUN).where(_RUN.c.id == run_id))).first()
    if row is None:
        raise NotFound("No such reconciliation run.", code="reconciliation_run_not_found")
    items = (await executor.execute(select(_ITEM).where(_ITEM.c.run_id == run_id).order_by(_ITEM.c.id))).all()
    return _run_out(row, [_item_out(item._mapping) for item in items])
