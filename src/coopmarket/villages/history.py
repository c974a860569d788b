"""Collection history of a contract entry: reminders sent, and every movement of its instalments."""

from __future__ import annotations

from datetime import date

from sqlalchemy import case, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.audit import service as audit
from coopmarket.core import clock
from coopmarket.core.ids import new_id
from coopmarket.core.principal import Principal
from coopmarket.villages import access, reads
from coopmarket.villages.models import ContractInstalment, ContractReminder, InstalmentMovement
from coopmarket.villages.schemas import CollectionEvent, CollectionHistory, ReminderIn, ReminderOut

I = ContractInstalment.metadata.tables["contract_instalment"].c  # noqa: E741
M = InstalmentMovement.metadata.tables["instalment_movement"].c
R = ContractReminder.metadata.tables["contract_reminder"].c
_instalment = ContractInstalment.metadata.tables["contract_instalment"]
_movement = InstalmentMovement.metadata.tables["instalment_movement"]
_reminder = ContractReminder.metadata.tables["contract_reminder"]


async def _in_arrears_fen(conn: access.Conn, contract_id: str, today: date) -> tuple[int, int]:
    """(in arrears, outstanding) of an entry today."""
    open_fen = I.amount_fen - I.paid_fen - I.written_off_fen
    row = (
        await conn.execute(
            select(
                func.coalesce(func.sum(case((I.due_on < today, open_fen), else_=0)), 0),
                func.coalesce(func.sum(open_fen), 0),
            ).where(I.contract_id == contract_id)
        )
    ).one()
    return int(row[0]), int(row[1])


async def send_reminder(
    session: AsyncSession, principal: Principal, contract_id: str, data: ReminderIn, *, timezone: str
) -> ReminderOut:
    """Record a reminder sent to the counterparty (staff in scope), with what was in arrears; audited."""
    row = await reads.visible_contract(session, principal, contract_id)
    access.not_after_today(data.sent_on, "sent_on", timezone)
    in_arrears, _ = await _in_arrears_fen(session, contract_id, access.today(timezone))
    reminder_id, now = new_id(), clock.now()
    values = {
        "id": reminder_id,
        "contract_id": contract_id,
        "village_code": row.village_code,
        "sent_on": data.sent_on,
        "channel": data.channel,
        "note": data.note,
        "outstanding_fen": in_arrears,
        "recorded_by": principal.id,
        "recorded_at": now,
    }
    await session.execute(insert(_reminder), [values])
    await audit.record(
        session,
        actor=principal,
        action="village_contract.reminder_sent",
        entity="village_contract",
        entity_id=contract_id,
        after={
            "reminder_id": reminder_id,
            "sent_on": data.sent_on.isoformat(),
            "channel": data.channel,
            "in_arrears_fen": in_arrears,
        },
        reason=data.note,
        region_code=row.village_code,
    )
    return ReminderOut(
        reminder_id, contract_id, data.sent_on, data.channel, data.note, in_arrears, principal.id, now
    )


async def collection_history(
    conn: AsyncConnection, principal: Principal, contract_id: str, *, timezone: str
) -> CollectionHistory:
    """Reminders, money recovered, write-offs and amounts cut by early ends, oldest first."""
    await reads.visible_contract(conn, principal, contract_id)
    in_arrears, outstanding = await _in_arrears_fen(conn, contract_id, access.today(timezone))
    movements = (
        select(
            M.kind,
            M.id,
            M.on_date,
            M.amount_fen,
            M.instalment_id,
            I.due_on,
            M.reference,
            M.reason,
            M.recorded_by,
            M.recorded_at,
        )
        .select_from(_movement.join(_instalment, I.id == M.instalment_id))
        .where(M.contract_id == contract_id)
    )
    reminders = select(
        R.id, R.sent_on, R.channel, R.note, R.outstanding_fen, R.recorded_by, R.recorded_at
    ).where(R.contract_id == contract_id)
    events: list[CollectionEvent] = [
        CollectionEvent(
            kind=row.kind,
            id=row.id,
            on_date=row.on_date,
            amount_fen=row.amount_fen,
            instalment_id=row.instalment_id,
            due_on=row.due_on,
            reference=row.reference,
            reason=row.reason,
            channel=None,
            note=None,
            by=row.recorded_by,
            at=row.recorded_at,
        )
        for row in await conn.execute(movements)
    ]
    events += [
        CollectionEvent(
            kind="reminder",
            id=row.id,
            on_date=row.sent_on,
            amount_fen=row.outstanding_fen,
            instalment_id=None,
            due_on=None,
            reference=None,
            reason=None,
            channel=row.channel,
            note=row.note,
            by=row.recorded_by,
            at=row.recorded_at,
        )
        for row in await conn.execute(reminders)
    ]
    events.sort(key=lambda event: (event.on_date, event.at, event.id))
    return CollectionHistory(
        contract_id=contract_id, in_arrears_fen=in_arrears, outstanding_fen=outstanding, events=events
    )
