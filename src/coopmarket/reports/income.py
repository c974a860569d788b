"""Village collective income from outside platform sales, recorded by staff, and its reversal.

Each record posts Dr ``collective_funds:{village}`` / Cr ``collective_income:{village}:{category}``
at local noon of ``occurred_on`` (kind ``collective_income``), so the collective-income report
shows it in its category on that date. A correction is never an edit: the reversal posts the exact
inverse, once, on the day it is made (a period already disclosed is not rewritten; the correction
shows in the period it was made), and sets the record's reversal columns with a conditional UPDATE.

Contracting income is not counted twice: rent of a contract kept in the village's register is
posted by its instalment receipts, so a manual ``contracting_income`` whose document reference is
a register contract's id or document reference is refused (409 ``contract_in_register``). Manual
contracting income is for what the register does not hold: remittances (上交收入) and contracts
not (yet) entered in the register.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.audit import service as audit
from coopmarket.core import clock
from coopmarket.core.errors import FieldError, ValidationFailed
from coopmarket.core.ids import new_id
from coopmarket.core.pagination import decode_cursor, encode_cursor
from coopmarket.core.principal import Principal
from coopmarket.db import rowcount
from coopmarket.ledger import posting
from coopmarket.ledger import service as ledger_service
from coopmarket.reports.errors import ContractInRegister, IncomeAlreadyReversed, IncomeNotFound
from coopmarket.reports.models import CollectiveIncomeRecord
from coopmarket.reports.schemas import IncomeIn, IncomeList, IncomeOut, IncomeReversalIn
from coopmarket.villages import access, reads

COLLECTIVE_INCOME = "collective_income"
COLLECTIVE_INCOME_REVERSAL = "collective_income_reversal"
_record = CollectiveIncomeRecord.metadata.tables["collective_income_record"]
R = _record.c


def income_entries(village_code: str, category: str, amount_fen: int) -> list[posting.Entry]:
    """Dr ``collective_funds:{village}``, Cr ``collective_income:{village}:{category}``."""
    return list(
        posting.build_transaction(
            [
                posting.Entry(posting.collective_funds(village_code), amount_fen),
                posting.Entry(posting.collective_income(village_code, category), -amount_fen),
            ]
        ).entries
    )


def _out(row: Any) -> IncomeOut:
    return IncomeOut(
        id=row.id,
        village_code=row.village_code,
        category=row.category,
        amount_fen=row.amount_fen,
        occurred_on=row.occurred_on,
        source=row.source,
        document_ref=row.document_ref,
        ledger_transaction_id=row.ledger_transaction_id,
        recorded_by=row.recorded_by,
        recorded_at=row.recorded_at,
        reversed=row.reversal_transaction_id is not None,
        reversal_transaction_id=row.reversal_transaction_id,
        reversal_reason=row.reversal_reason,
        reversed_at=row.reversed_at,
    )


async def _load(conn: access.Conn, income_id: str) -> Any:
    return (await conn.execute(select(_record).where(R.id == income_id))).one_or_none()


async def record_income(
    session: AsyncSession, principal: Principal, village_code: str, data: IncomeIn, *, timezone: str
) -> IncomeOut:
    """Record and post one income (staff whose scope covers the village). Joins the caller's
    transaction; the idempotency executor commits."""
    await access.require_village(session, principal, village_code)
    access.not_after_today(data.occurred_on, "occurred_on", timezone)
    document_ref = data.document_ref.strip()
    if data.category == posting.CONTRACTING_INCOME:
        contract_id = await reads.contract_with_document(session, village_code, document_ref)
        if contract_id is not None:
            raise ContractInRegister(
                "This contract is in the village's register: record its rent as an instalment receipt.",
                extra={"contract_id": contract_id},
            )
    record_id = new_id()
    now = clock.now()
    transaction_id = await ledger_service.post(
        session,
        kind=COLLECTIVE_INCOME,
        dedupe_key=f"collective_income:{record_id}",
        entries=income_entries(village_code, data.category, data.amount_fen),
        occurred_at=min(now, access.local_noon(data.occurred_on, timezone)),
        memo=f"{data.category} {data.source.strip()}: {document_ref}"[:500],
    )
    assert transaction_id is not None  # a fresh id is never posted before
    values = {
        "id": record_id,
        "village_code": village_code,
        "category": data.category,
        "amount_fen": data.amount_fen,
        "occurred_on": data.occurred_on,
        "source": data.source.strip(),
        "document_ref": document_ref,
        "ledger_transaction_id": transaction_id,
        "recorded_by": principal.id,
        "recorded_at": now,
    }
    await session.execute(insert(_record).values(values))
    await audit.record(
        session,
        actor=principal,
        action="collective_income.recorded",
        entity="collective_income_record",
        entity_id=record_id,
        after={**values, "occurred_on": data.occurred_on.isoformat(), "recorded_at": now.isoformat()},
        region_code=village_code,
    )
    return _out(await _load(session, record_id))


async def reverse_income(
    session: AsyncSession,
    principal: Principal,
    village_code: str,
    income_id: str,
    data: IncomeReversalIn,
) -> IncomeOut:
    """Post the exact inverse of a recorded income, once (409 ``income_already_reversed`` after)."""
    await access.require_village(session, principal, village_code)
    row = await _load(session, income_id)
    if row is None or row.village_code != village_code:
        raise IncomeNotFound("No such income record.")
    if row.reversal_transaction_id is not None:
        raise IncomeAlreadyReversed("This income is already reversed.")
    now = clock.now()
    reason = data.reason.strip()
    reversal_id = await ledger_service.reverse(
        session,
        original_dedupe_key=f"collective_income:{income_id}",
        kind=COLLECTIVE_INCOME_REVERSAL,
        dedupe_key=f"collective_income_reversal:{income_id}",
        occurred_at=now,
        memo=f"reversal of {income_id}: {reason}"[:500],
    )
    if reversal_id is None:
        raise IncomeAlreadyReversed("This income is already reversed.")
    result = await session.execute(
        update(_record)
        .where(R.id == income_id, R.reversal_transaction_id.is_(None))
        .values(
            reversal_transaction_id=reversal_id,
            reversal_reason=reason,
            reversed_by=principal.id,
            reversed_at=now,
        )
    )
    if rowcount(result) != 1:
        raise IncomeAlreadyReversed("This income is already reversed.")
    await audit.record(
        session,
        actor=principal,
        action="collective_income.reversed",
        entity="collective_income_record",
        entity_id=income_id,
        before={"reversed": False},
        after={"reversed": True, "reversal_transaction_id": reversal_id, "amount_fen": row.amount_fen},
        reason=reason,
        region_code=village_code,
    )
    return _out(await _load(session, income_id))


async def list_income(
    conn: AsyncConnection, principal: Principal, village_code: str, *, limit: int, cursor: str | None
) -> IncomeList:
    """The village's recorded income, newest ``occurred_on`` first (keyset on ``(occurred_on, id)``)."""
    await access.require_village(conn, principal, village_code)
    stmt = select(_record).where(R.village_code == village_code)
    decoded = decode_cursor(cursor, 2)
    if decoded:
        try:
            on, last_id = date.fromisoformat(str(decoded[0])), str(decoded[1])
        except ValueError as exc:
            raise ValidationFailed(
                "The cursor is not one this API issued.",
                code="invalid_cursor",
                errors=[FieldError("cursor", "not an income cursor")],
            ) from exc
        stmt = stmt.where(or_(R.occurred_on < on, and_(R.occurred_on == on, R.id < last_id)))
    rows = (await conn.execute(stmt.order_by(R.occurred_on.desc(), R.id.desc()).limit(limit + 1))).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor([rows[-1].occurred_on.isoformat(), rows[-1].id])
    return IncomeList(items=[_out(row) for row in rows], next_cursor=next_cursor)
