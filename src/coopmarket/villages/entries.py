"""Amendments, renewals and early terminations: new entries that reference the contract they follow.

Only the entry at the head of a contract (not yet amended, renewed or terminated) takes a new
entry; a conditional UPDATE claims it, so two entries racing for one contract cannot both win.
Ending an entry early lowers what its instalments charge for the days after its new last day
(pro rata by days, never below what was received or written off), and each cut is kept as an
``adjustment`` movement, so the arrears it cancels are counted, not lost.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.audit import service as audit
from coopmarket.core import clock
from coopmarket.core.errors import FieldError
from coopmarket.core.ids import new_id
from coopmarket.core.principal import Principal
from coopmarket.settings import Settings
from coopmarket.villages import access, assets, contracts, flags, reads, schedule
from coopmarket.villages.errors import AmendmentOverlapsSettledPeriod, ContractNotCurrent, InvalidTerm
from coopmarket.villages.models import (
    ContractInstalment,
    ContractTermination,
    InstalmentMovement,
    VillageContract,
)
from coopmarket.villages.schemas import AmendmentIn, ContractOut, RenewalIn, TerminationIn

C = VillageContract.metadata.tables["village_contract"].c
I = ContractInstalment.metadata.tables["contract_instalment"].c  # noqa: E741
_contract = VillageContract.metadata.tables["village_contract"]
_instalment = ContractInstalment.metadata.tables["contract_instalment"]
_termination = ContractTermination.metadata.tables["contract_termination"]
_movement = InstalmentMovement.metadata.tables["instalment_movement"]

AMENDMENT = "amendment"
RENEWAL = "renewal"
ONE_DAY = timedelta(days=1)
_COUNTERPARTY = (
    "counterparty_kind",
    "counterparty_name",
    "counterparty_id_number",
    "counterparty_cooperative_id",
)


def _is_current(row: Any) -> bool:
    return row.superseded_by_id is None and row.renewed_by_id is None and row.terminated_on is None


def _not_current(row: Any) -> ContractNotCurrent:
    following = row.superseded_by_id or row.renewed_by_id
    if following:
        return ContractNotCurrent(f"The contract was followed by entry {following}: act on that one.")
    return ContractNotCurrent("The contract was terminated.")


async def _head(session: AsyncSession, principal: Principal, contract_id: str) -> Any:
    """The entry, for its village's staff, if nothing follows it yet (409 otherwise)."""
    row = await reads.visible_contract(session, principal, contract_id, roles=access.KEEPERS)
    if not _is_current(row):
        raise _not_current(row)
    return row


async def _claim(session: AsyncSession, row: Any, **values: Any) -> None:
    """Mark how the head entry ends, only if it still is the head (409 if another entry won)."""
    result = await session.execute(
        update(_contract)
        .where(
            C.id == row.id,
            C.superseded_by_id.is_(None),
            C.renewed_by_id.is_(None),
            C.terminated_on.is_(None),
        )
        .values(**values)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ContractNotCurrent("Another entry was made for this contract at the same time; reload it.")


async def _instalments(session: AsyncSession, contract_id: str) -> list[Any]:
    """The entry's live instalments, locked until commit (PostgreSQL; SQLite writers are serial)."""
    return list(
        (
            await session.execute(
                select(_instalment)
                .where(I.contract_id == contract_id, I.cancelled_at.is_(None))
                .order_by(I.seq)
                .with_for_update()
            )
        ).all()
    )


def earliest_amendment_day(instalments: list[Any]) -> date | None:
    """An amendment starts no earlier than the day after the last period with money received or
    written off: a settled period is not charged twice."""
    settled = [row.period_end for row in instalments if row.paid_fen or row.written_off_fen]
    return max(settled) + ONE_DAY if settled else None


async def _cut(
    session: AsyncSession,
    principal: Principal,
    row: Any,
    instalments: list[Any],
    last_day: date,
    *,
    entry_id: str,
    reason: str,
    today: date,
) -> list[dict[str, Any]]:
    """Lower the instalments to what the days up to ``last_day`` owe; returns the changes."""
    changes: list[dict[str, Any]] = []
    now = clock.now()
    for inst in instalments:
        kept = max(
            schedule.cut_amount(inst.amount_fen, inst.period_start, inst.period_end, last_day),
            inst.paid_fen + inst.written_off_fen,
        )
        if kept == inst.amount_fen:
            continue
        await session.execute(
            update(_instalment)
            .where(I.id == inst.id)
            .values(amount_fen=kept, cancelled_at=now if kept == 0 else None)
        )
        await session.execute(
            insert(_movement),
            [
                {
                    "id": new_id(),
                    "instalment_id": inst.id,
                    "contract_id": row.id,
                    "village_code": row.village_code,
                    "kind": "adjustment",
                    "amount_fen": inst.amount_fen - kept,
                    "on_date": today,
                    "reference": None,
                    "reason": reason[:500],
                    "entry_id": entry_id,
                    "ledger_transaction_id": None,
                    "recorded_by": principal.id,
                    "recorded_at": now,
                }
            ],
        )
        changes.append(
            {"instalment_id": inst.id, "due_on": inst.due_on.isoformat(), "from": inst.amount_fen, "to": kept}
        )
    return changes


async def _follow_with_entry(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    row: Any,
    values: dict[str, Any],
    today: date,
) -> None:
    """Write the following entry, its findings (on its lineage) and the asset's status."""
    asset = await assets.load_asset(session, row.asset_id, for_update=True)
    await contracts.insert_entry(session, values)
    findings = await flags.evaluate(session, settings, values, asset)
    await flags.apply(
        session,
        principal,
        lineage_id=values["lineage_id"],
        contract_id=values["id"],
        village_code=row.village_code,
        findings=findings,
        today=today,
    )
    await contracts.let_asset(session, asset, values, principal, today)


async def amend_contract(
    session: AsyncSession, settings: Settings, principal: Principal, contract_id: str, data: AmendmentIn
) -> ContractOut:
    """New terms from ``effective_on`` (its village staff): the amended entry ends the day before."""
    row = await _head(session, principal, contract_id)
    today = access.today(settings.report_timezone)
    if not row.starts_on <= data.effective_on <= row.effective_until:
        raise InvalidTerm(
            "An amendment takes effect within the amended term.",
            errors=[
                FieldError(
                    "effective_on",
                    f"not within {row.starts_on.isoformat()}..{row.effective_until.isoformat()}",
                )
            ],
        )
    contracts.check_term(data.effective_on, data.ends_on, start_field="effective_on")
    last_day = data.effective_on - ONE_DAY
    entry_id = new_id()
    await _claim(session, row, superseded_by_id=entry_id, effective_until=last_day)
    instalments = await _instalments(session, row.id)
    earliest = earliest_amendment_day(instalments)
    if earliest is not None and data.effective_on < earliest:
        raise AmendmentOverlapsSettledPeriod(
            f"Money was received or written off for periods up to {(earliest - ONE_DAY).isoformat()}; "
            f"an amendment takes effect on {earliest.isoformat()} at the earliest.",
            extra={"earliest_effective_on": earliest.isoformat()},
        )
    changes = await _cut(
        session,
        principal,
        row,
        instalments,
        last_day,
        entry_id=entry_id,
        reason=f"合同变更：{data.reason}",
        today=today,
    )
    values = contracts.entry_values(
        contract_id=entry_id,
        village_code=row.village_code,
        asset_id=row.asset_id,
        lineage_id=row.lineage_id,
        entry_kind=AMENDMENT,
        references_id=row.id,
        counterparty={key: getattr(row, key) for key in _COUNTERPARTY},
        starts_on=data.effective_on,
        ends_on=data.ends_on,
        annual_rent_fen=data.annual_rent_fen,
        schedule_name=data.schedule,
        document_ref=data.document_ref,
        approval_ref=data.approval_ref,
        reason=data.reason,
        created_by=principal.id,
    )
    await _follow_with_entry(session, settings, principal, row, values, today)
    await audit.record(
        session,
        actor=principal,
        action="village_contract.amended",
        entity="village_contract",
        entity_id=row.id,
        before={**contracts.audit_view(row), "effective_until": row.effective_until.isoformat()},
        after={"amendment_id": entry_id, **contracts.audit_view(values), "instalments_cut": changes},
        reason=data.reason,
        region_code=row.village_code,
    )
    return await reads.get_contract(session, principal, entry_id, timezone=settings.report_timezone)


async def renew_contract(
    session: AsyncSession, settings: Settings, principal: Principal, contract_id: str, data: RenewalIn
) -> ContractOut:
    """A new term for the same asset and counterparty from the day after the entry ends (its village staff)."""
    row = await _head(session, principal, contract_id)
    today = access.today(settings.report_timezone)
    follows = row.effective_until + ONE_DAY
    starts_on = data.starts_on or follows
    if starts_on != follows:
        raise InvalidTerm(
            "A renewal starts the day after the renewed term ends; a later start is a new contract.",
            errors=[FieldError("starts_on", f"must be {follows.isoformat()}")],
        )
    contracts.check_term(starts_on, data.ends_on)
    entry_id = new_id()
    await _claim(session, row, renewed_by_id=entry_id)
    values = contracts.entry_values(
        contract_id=entry_id,
        village_code=row.village_code,
        asset_id=row.asset_id,
        lineage_id=entry_id,
        entry_kind=RENEWAL,
        references_id=row.id,
        counterparty={key: getattr(row, key) for key in _COUNTERPARTY},
        starts_on=starts_on,
        ends_on=data.ends_on,
        annual_rent_fen=data.annual_rent_fen,
        schedule_name=data.schedule,
        document_ref=data.document_ref,
        approval_ref=data.approval_ref,
        reason=None,
        created_by=principal.id,
    )
    await _follow_with_entry(session, settings, principal, row, values, today)
    await audit.record(
        session,
        actor=principal,
        action="village_contract.renewed",
        entity="village_contract",
        entity_id=row.id,
        before=contracts.audit_view(row),
        after={"renewal_id": entry_id, **contracts.audit_view(values)},
        region_code=row.village_code,
    )
    return await reads.get_contract(session, principal, entry_id, timezone=settings.report_timezone)


async def _asset_still_let(session: AsyncSession, asset_id: str, contract_id: str, today: date) -> bool:
    """Whether another entry lets the asset today or later."""
    found = await session.execute(
        select(C.id).where(
            C.asset_id == asset_id,
            C.id != contract_id,
            C.superseded_by_id.is_(None),
            C.effective_until >= today,
            C.effective_until >= C.starts_on,
        )
    )
    return found.first() is not None


async def terminate_contract(
    session: AsyncSession, settings: Settings, principal: Principal, contract_id: str, data: TerminationIn
) -> ContractOut:
    """End the contract early on ``terminated_on`` (its village staff); its findings close with it."""
    row = await _head(session, principal, contract_id)
    today = access.today(settings.report_timezone)
    last_day = data.terminated_on
    if not row.starts_on - ONE_DAY <= last_day <= row.effective_until:
        raise InvalidTerm(
            "A contract is terminated within its term (the day before it starts rescinds it).",
            errors=[
                FieldError(
                    "terminated_on",
                    f"not within {(row.starts_on - ONE_DAY).isoformat()}..{row.effective_until.isoformat()}",
                )
            ],
        )
    await _claim(session, row, terminated_on=last_day, effective_until=last_day)
    termination_id = new_id()
    await session.execute(
        insert(_termination),
        [
            {
                "id": termination_id,
                "contract_id": row.id,
                "village_code": row.village_code,
                "terminated_on": last_day,
                "reason": data.reason,
                "document_ref": data.document_ref,
                "approval_ref": data.approval_ref,
                "created_by": principal.id,
                "created_at": clock.now(),
            }
        ],
    )
    changes = await _cut(
        session,
        principal,
        row,
        await _instalments(session, row.id),
        last_day,
        entry_id=termination_id,
        reason=f"合同终止：{data.reason}",
        today=today,
    )
    await flags.resolve(
        session,
        principal,
        lineage_id=row.lineage_id,
        codes=None,
        today=today,
        resolution=f"合同已终止（最后有效日{last_day.isoformat()}）",
        contract_id=row.id,
    )
    if last_day < today and not await _asset_still_let(session, row.asset_id, row.id, today):
        asset = await assets.load_asset(session, row.asset_id, for_update=True)
        await assets.set_status(
            session,
            asset,
            assets.IDLE,
            on_date=today,
            cause="termination",
            principal=principal,
            contract_id=row.id,
        )
    await audit.record(
        session,
        actor=principal,
        action="village_contract.terminated",
        entity="village_contract",
        entity_id=row.id,
        before={**contracts.audit_view(row), "effective_until": row.effective_until.isoformat()},
        after={"terminated_on": last_day.isoformat(), "instalments_cut": changes},
        reason=data.reason,
        region_code=row.village_code,
    )
    return await reads.get_contract(session, principal, row.id, timezone=settings.report_timezone)
