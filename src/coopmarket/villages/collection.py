"""Collecting rent: instalments, receipts (which post contracting income) and write-offs.

A receipt raises an instalment's paid amount with one conditional UPDATE that never lets paid
plus written off exceed the amount due, whatever runs at once (a CHECK constraint backs it up),
and posts Dr ``collective_funds:{village}`` / Cr ``collective_income:{village}:contracting_income``
on the day the money was received, so the collective-income report shows it on that date. A
write-off gives up what is left of an instalment in arrears; it posts nothing, because income
is recognised only when received.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.audit import service as audit
from coopmarket.core import clock
from coopmarket.core.errors import Conflict
from coopmarket.core.ids import new_id
from coopmarket.core.principal import Principal
from coopmarket.ledger import posting
from coopmarket.ledger import service as ledger_service
from coopmarket.villages import access, ageing, reads
from coopmarket.villages.errors import (
    DuplicateReceiptReference,
    InstalmentCancelled,
    InstalmentNotFound,
    InstalmentNotInArrears,
    InstalmentSettled,
    ReceiptExceedsDue,
)
from coopmarket.villages.models import (
    ContractInstalment,
    ContractReminder,
    InstalmentMovement,
)
from coopmarket.villages.schemas import (
    InstalmentList,
    InstalmentOut,
    ReceiptIn,
    ReceiptOut,
    WriteOffIn,
    WriteOffOut,
)

I = ContractInstalment.metadata.tables["contract_instalment"].c  # noqa: E741
M = InstalmentMovement.metadata.tables["instalment_movement"].c
R = ContractReminder.metadata.tables["contract_reminder"].c
_instalment = ContractInstalment.metadata.tables["contract_instalment"]
_movement = InstalmentMovement.metadata.tables["instalment_movement"]
_reminder = ContractReminder.metadata.tables["contract_reminder"]

RECEIPT = "receipt"
WRITE_OFF = "write_off"
ADJUSTMENT = "adjustment"


def instalment_out(row: Any, today: date) -> InstalmentOut:
    return InstalmentOut(
        id=row.id,
        contract_id=row.contract_id,
        seq=row.seq,
        period_start=row.period_start,
        period_end=row.period_end,
        due_on=row.due_on,
        amount_fen=row.amount_fen,
        paid_fen=row.paid_fen,
        written_off_fen=row.written_off_fen,
        outstanding_fen=row.amount_fen - row.paid_fen - row.written_off_fen,
        status=ageing.instalment_status(  # type: ignore[arg-type]
            row.amount_fen, row.paid_fen, row.written_off_fen, row.due_on, today
        ),
    )


async def _load_instalment(conn: access.Conn, instalment_id: str, *, for_update: bool = False) -> Any:
    statement = select(_instalment).where(I.id == instalment_id)
    if for_update:
        statement = statement.with_for_update()
    return (await conn.execute(statement)).one_or_none()


async def _visible_instalment(
    conn: access.Conn,
    principal: Principal,
    instalment_id: str,
    roles: tuple[str, ...],
    *,
    for_update: bool = False,
) -> Any:
    row = await _load_instalment(conn, instalment_id, for_update=for_update)
    not_found = InstalmentNotFound("No such instalment.")
    if row is None:
        principal.require_staff()
        raise not_found
    access.require_role_in_scope(principal, row.village_code, roles, not_found)
    return row


async def list_instalments(
    conn: AsyncConnection, principal: Principal, contract_id: str, *, timezone: str
) -> InstalmentList:
    """The entry's instalments in schedule order (those cancelled by an early end are left out)."""
    await reads.visible_contract(conn, principal, contract_id)
    today = access.today(timezone)
    rows = await conn.execute(
        select(_instalment).where(I.contract_id == contract_id, I.cancelled_at.is_(None)).order_by(I.seq)
    )
    return InstalmentList(contract_id=contract_id, items=[instalment_out(row, today) for row in rows])


async def record_receipt(
    session: AsyncSession, principal: Principal, instalment_id: str, data: ReceiptIn, *, timezone: str
) -> ReceiptOut:
    """Record money received for an instalment (its village staff) and post contracting income.

    Joins the caller's transaction and does not commit: the idempotency executor commits it with
    the stored answer.
    """
    row = await _visible_instalment(session, principal, instalment_id, access.KEEPERS)
    access.not_after_today(data.received_on, "received_on", timezone)
    if row.cancelled_at is not None:
        raise InstalmentCancelled("The instalment was cancelled when its contract ended early.")
    result = await session.execute(
        update(_instalment)
        .where(
            I.id == instalment_id,
            I.cancelled_at.is_(None),
            I.paid_fen + I.written_off_fen + data.amount_fen <= I.amount_fen,
        )
        .values(paid_fen=I.paid_fen + data.amount_fen)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        current = await _load_instalment(session, instalment_id)
        outstanding = max(current.amount_fen - current.paid_fen - current.written_off_fen, 0)
        raise ReceiptExceedsDue(
            f"At most {outstanding} fen of this instalment is still due.",
            extra={"outstanding_fen": outstanding},
        )
    receipt_id = new_id()
    now = clock.now()
    transaction_id = await ledger_service.post(
        session,
        kind=posting.CONTRACT_RECEIPT,
        dedupe_key=f"contract_receipt:{receipt_id}",
        entries=posting.contract_receipt_entries(row.village_code, data.amount_fen),
        occurred_at=min(now, access.local_noon(data.received_on, timezone)),
        memo=f"contract {row.contract_id} instalment {row.seq} due {row.due_on.isoformat()}: {data.reference}"[
            :500
        ],
    )
    assert transaction_id is not None  # a fresh receipt id is never posted before
    try:
        await session.execute(
            insert(_movement),
            [
                {
                    "id": receipt_id,
                    "instalment_id": instalment_id,
                    "contract_id": row.contract_id,
                    "village_code": row.village_code,
                    "kind": RECEIPT,
                    "amount_fen": data.amount_fen,
                    "on_date": data.received_on,
                    "reference": data.reference.strip(),
                    "reason": None,
                    "entry_id": None,
                    "ledger_transaction_id": transaction_id,
                    "recorded_by": principal.id,
                    "recorded_at": now,
                }
            ],
        )
    except IntegrityError as exc:
        raise DuplicateReceiptReference(
            f"A receipt with reference {data.reference!r} is already recorded for this instalment."
        ) from exc
    after = await _load_instalment(session, instalment_id)
    await audit.record(
        session,
        actor=principal,
        action="instalment.receipt_recorded",
        entity="contract_instalment",
        entity_id=instalment_id,
        before={"paid_fen": row.paid_fen},
        after={
            "receipt_id": receipt_id,
            "amount_fen": data.amount_fen,
            "received_on": data.received_on.isoformat(),
            "reference": data.reference,
            "paid_fen": after.paid_fen,
            "ledger_transaction_id": transaction_id,
        },
        region_code=row.village_code,
    )
    return ReceiptOut(
        id=receipt_id,
        instalment_id=instalment_id,
        contract_id=row.contract_id,
        amount_fen=data.amount_fen,
        received_on=data.received_on,
        reference=data.reference.strip(),
        ledger_transaction_id=transaction_id,
        recorded_by=principal.id,
        recorded_at=now,
        instalment=instalment_out(after, access.today(timezone)),
    )


async def write_off(
    session: AsyncSession, principal: Principal, instalment_id: str, data: WriteOffIn, *, timezone: str
) -> WriteOffOut:
    """Give up what is left of an instalment in arrears (street or district staff), with the reason; audited."""
    row = await _visible_instalment(session, principal, instalment_id, access.APPROVERS, for_update=True)
    today = access.today(timezone)
    if row.cancelled_at is not None:
        raise InstalmentCancelled("The instalment was cancelled when its contract ended early.")
    outstanding = row.amount_fen - row.paid_fen - row.written_off_fen
    if outstanding <= 0:
        raise InstalmentSettled("Nothing of this instalment is outstanding.")
    if not ageing.is_in_arrears(row.due_on, today):
        raise InstalmentNotInArrears(
            f"The instalment is due on {row.due_on.isoformat()}; it is not in arrears."
        )
    result = await session.execute(
        update(_instalment)
        .where(I.id == instalment_id, I.paid_fen == row.paid_fen, I.written_off_fen == row.written_off_fen)
        .values(written_off_fen=I.written_off_fen + outstanding)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("The instalment changed at the same time; reload it.", code="concurrent_update")
    movement_id = new_id()
    await session.execute(
        insert(_movement),
        [
            {
                "id": movement_id,
                "instalment_id": instalment_id,
                "contract_id": row.contract_id,
                "village_code": row.village_code,
                "kind": WRITE_OFF,
                "amount_fen": outstanding,
                "on_date": today,
                "reference": None,
                "reason": data.reason,
                "entry_id": None,
                "ledger_transaction_id": None,
                "recorded_by": principal.id,
                "recorded_at": clock.now(),
            }
        ],
    )
    after = await _load_instalment(session, instalment_id)
    await audit.record(
        session,
        actor=principal,
        action="instalment.written_off",
        entity="contract_instalment",
        entity_id=instalment_id,
        before={
            "amount_fen": row.amount_fen,
            "paid_fen": row.paid_fen,
            "written_off_fen": row.written_off_fen,
        },
        after={"written_off_fen": after.written_off_fen, "amount_written_off_fen": outstanding},
        reason=data.reason,
        region_code=row.village_code,
    )
    return WriteOffOut(
        id=movement_id,
        instalment_id=instalment_id,
        contract_id=row.contract_id,
        amount_fen=outstanding,
        written_off_on=today,
        reason=data.reason,
        approved_by=principal.id,
        instalment=instalment_out(after, today),
    )


__all__ = ["instalment_out", "list_instalments", "record_receipt", "write_off"]
