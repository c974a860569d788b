"""Contracts that let a village's assets: checking and registering them, resolving their findings.

An entry's terms never change once written (amendments, renewals and terminations are in
``entries.py``, reading in ``reads.py``). Identity numbers are stored only when given; the audit
log keeps them masked, because street staff read it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.audit import service as audit
from coopmarket.coops import service as coops_service
from coopmarket.coops import uscc
from coopmarket.core import clock
from coopmarket.core.errors import FieldError
from coopmarket.core.identity import is_valid_resident_id, mask_identifier, normalise_resident_id
from coopmarket.core.ids import new_id
from coopmarket.core.principal import Principal
from coopmarket.settings import Settings
from coopmarket.villages import access, assets, flags, reads, schedule
from coopmarket.villages.errors import (
    FlagNotFound,
    InvalidCounterparty,
    InvalidIdentityNumber,
    InvalidTerm,
    InvalidUscc,
    UnknownAsset,
    UnknownCooperative,
)
from coopmarket.villages.models import (
    ContractInstalment,
    ContractTermination,
    VillageAsset,
    VillageContract,
)
from coopmarket.villages.schemas import (
    ContractIn,
    ContractOut,
    CounterpartyIn,
    FlagResolveIn,
)

C = VillageContract.metadata.tables["village_contract"].c
I = ContractInstalment.metadata.tables["contract_instalment"].c  # noqa: E741
T = ContractTermination.metadata.tables["contract_termination"].c
A = VillageAsset.metadata.tables["village_asset"].c
_contract = VillageContract.metadata.tables["village_contract"]
_instalment = ContractInstalment.metadata.tables["contract_instalment"]
_asset = VillageAsset.metadata.tables["village_asset"]

PERSONS = ("person", "household")
COOPERATIVE = "cooperative"
ORIGINAL = "original"
EARLIEST_START = date(1950, 1, 1)
# A longer term is a typing error, not a contract (woodland is let for at most 70 years).
LONGEST_TERM_YEARS = 70


# --- validation ----------------------------------------------------------------------------------


async def counterparty_values(conn: access.Conn, data: CounterpartyIn, *, today: date) -> dict[str, Any]:
    """The counterparty's columns, checked: identity numbers by GB 11643, USCCs by GB 32100, a
    cooperative against the platform's register."""
    name = data.name.strip()
    if not name:
        raise InvalidCounterparty(
            "A counterparty has a name.", errors=[FieldError("counterparty.name", "blank")]
        )
    if data.kind == COOPERATIVE:
        if data.id_number is not None:
            raise InvalidCounterparty(
                "A cooperative's code is in the platform's register: send cooperative_id only.",
                errors=[FieldError("counterparty.id_number", "not for a cooperative")],
            )
        if data.cooperative_id is None:
            raise InvalidCounterparty(
                "A cooperative counterparty names one of the platform's cooperatives.",
                errors=[FieldError("counterparty.cooperative_id", "required for a cooperative")],
            )
        if await coops_service.get_cooperative_brief(conn, data.cooperative_id) is None:
            raise UnknownCooperative(
                "No such cooperative.", errors=[FieldError("counterparty.cooperative_id", "unknown")]
            )
        return {
            "counterparty_kind": data.kind,
            "counterparty_name": name,
            "counterparty_id_number": None,
            "counterparty_cooperative_id": data.cooperative_id,
        }
    if data.cooperative_id is not None:
        raise InvalidCounterparty(
            "Only a cooperative counterparty has a cooperative_id.",
            errors=[FieldError("counterparty.cooperative_id", f"not for a {data.kind}")],
        )
    id_number: str | None = None
    if data.id_number is not None:
        if data.kind in PERSONS:
            id_number = normalise_resident_id(data.id_number)
            if not is_valid_resident_id(id_number, today=today):
                raise InvalidIdentityNumber(
                    "The resident identity number is not valid (GB 11643-1999).",
                    errors=[FieldError("counterparty.id_number", "not a valid resident identity number")],
                )
        else:
            id_number = uscc.normalise(data.id_number)
            if not uscc.is_valid(id_number):
                raise InvalidUscc(
                    "The unified social credit code is not valid (GB 32100-2015).",
                    errors=[FieldError("counterparty.id_number", "not a valid unified social credit code")],
                )
    return {
        "counterparty_kind": data.kind,
        "counterparty_name": name,
        "counterparty_id_number": id_number,
        "counterparty_cooperative_id": None,
    }


def check_term(starts_on: date, ends_on: date, *, start_field: str = "starts_on") -> None:
    """422 ``invalid_term`` unless ``starts_on <= ends_on`` and the term is a plausible one."""
    if ends_on < starts_on:
        raise InvalidTerm(
            "A contract ends on or after the day it starts.",
            errors=[FieldError("ends_on", f"before `{start_field}`")],
        )
    if starts_on < EARLIEST_START:
        raise InvalidTerm("The term starts too early.", errors=[FieldError(start_field, "before 1950")])
    if schedule.term_exceeds_years(starts_on, ends_on, LONGEST_TERM_YEARS):
        raise InvalidTerm(
            f"A term is at most {LONGEST_TERM_YEARS} years.",
            errors=[FieldError("ends_on", f"more than {LONGEST_TERM_YEARS} years after the start")],
        )


# --- writing entries -----------------------------------------------------------------------------


def entry_values(
    *,
    contract_id: str,
    village_code: str,
    asset_id: str,
    lineage_id: str,
    entry_kind: str,
    references_id: str | None,
    counterparty: dict[str, Any],
    starts_on: date,
    ends_on: date,
    annual_rent_fen: int,
    schedule_name: str,
    document_ref: str,
    approval_ref: str | None,
    reason: str | None,
    created_by: str,
) -> dict[str, Any]:
    """The row of a new contract entry, its total rent computed from its schedule."""
    approval = approval_ref.strip() if approval_ref else None
    return {
        "id": contract_id,
        "village_code": village_code,
        "asset_id": asset_id,
        "lineage_id": lineage_id,
        "entry_kind": entry_kind,
        "references_id": references_id,
        **counterparty,
        "starts_on": starts_on,
        "ends_on": ends_on,
        "annual_rent_fen": annual_rent_fen,
        "schedule": schedule_name,
        "total_rent_fen": schedule.total_rent(starts_on, ends_on, annual_rent_fen, schedule_name),
        "document_ref": document_ref.strip(),
        "approval_ref": approval or None,
        "reason": reason,
        "created_by": created_by,
        "created_at": clock.now(),
        "effective_until": ends_on,
        "superseded_by_id": None,
        "renewed_by_id": None,
        "terminated_on": None,
    }


async def insert_entry(session: AsyncSession, values: dict[str, Any]) -> None:
    """Write a contract entry and the instalments of its schedule. Joins the caller's transaction."""
    await session.execute(insert(_contract), [values])
    planned = schedule.build(
        values["starts_on"], values["ends_on"], values["annual_rent_fen"], values["schedule"]
    )
    if planned:
        await session.execute(
            insert(_instalment),
            [
                {
                    "id": new_id(),
                    "contract_id": values["id"],
                    "village_code": values["village_code"],
                    "seq": item.seq,
                    "period_start": item.period_start,
                    "period_end": item.period_end,
                    "due_on": item.due_on,
                    "initial_amount_fen": item.amount_fen,
                    "amount_fen": item.amount_fen,
                    "paid_fen": 0,
                    "written_off_fen": 0,
                    "cancelled_at": None,
                }
                for item in planned
            ],
        )


def audit_view(values: dict[str, Any] | Any) -> dict[str, Any]:
    """An entry as the audit log keeps it: identity numbers masked (street staff read the log)."""

    def get(key: str) -> Any:
        return values[key] if isinstance(values, dict) else getattr(values, key)

    return {
        "asset_id": get("asset_id"),
        "entry_kind": get("entry_kind"),
        "references_id": get("references_id"),
        "counterparty_kind": get("counterparty_kind"),
        "counterparty_name": get("counterparty_name"),
        "counterparty_id_number": mask_identifier(get("counterparty_id_number")),
        "counterparty_cooperative_id": get("counterparty_cooperative_id"),
        "starts_on": get("starts_on").isoformat(),
        "ends_on": get("ends_on").isoformat(),
        "annual_rent_fen": get("annual_rent_fen"),
        "schedule": get("schedule"),
        "total_rent_fen": get("total_rent_fen"),
        "document_ref": get("document_ref"),
        "approval_ref": get("approval_ref"),
    }


async def let_asset(
    session: AsyncSession, asset: Any, values: dict[str, Any], principal: Principal, today: date
) -> None:
    """The asset is ``contracted`` from today when the entry is in force now or later."""
    if values["effective_until"] >= today:
        await assets.set_status(
            session,
            asset,
            assets.CONTRACTED,
            on_date=today,
            cause="contract",
            principal=principal,
            contract_id=values["id"],
        )


async def register_contract(
    session: AsyncSession, settings: Settings, principal: Principal, village_code: str, data: ContractIn
) -> ContractOut:
    """Register a contract letting one of the village's assets (its village staff); 201 with its findings."""
    await access.require_village(session, principal, village_code, keeper=True)
    asset = await assets.load_asset(session, data.asset_id, for_update=True)
    if asset is None or asset.village_code != village_code:
        raise UnknownAsset("No such asset in this village.", errors=[FieldError("asset_id", "unknown")])
    today = access.today(settings.report_timezone)
    counterparty = await counterparty_values(session, data.counterparty, today=today)
    check_term(data.starts_on, data.ends_on)
    contract_id = new_id()
    values = entry_values(
        contract_id=contract_id,
        village_code=village_code,
        asset_id=asset.id,
        lineage_id=contract_id,
        entry_kind=ORIGINAL,
        references_id=None,
        counterparty=counterparty,
        starts_on=data.starts_on,
        ends_on=data.ends_on,
        annual_rent_fen=data.annual_rent_fen,
        schedule_name=data.schedule,
        document_ref=data.document_ref,
        approval_ref=data.approval_ref,
        reason=None,
        created_by=principal.id,
    )
    await insert_entry(session, values)
    findings = await flags.evaluate(session, settings, values, asset)
    await flags.apply(
        session,
        principal,
        lineage_id=contract_id,
        contract_id=contract_id,
        village_code=village_code,
        findings=findings,
        today=today,
    )
    await let_asset(session, asset, values, principal, today)
    await audit.record(
        session,
        actor=principal,
        action="village_contract.registered",
        entity="village_contract",
        entity_id=contract_id,
        after={**audit_view(values), "flags": [finding.code for finding in findings]},
        region_code=village_code,
    )
    return await reads.get_contract(session, principal, contract_id, timezone=settings.report_timezone)


async def resolve_flag(
    session: AsyncSession,
    principal: Principal,
    contract_id: str,
    code: str,
    data: FlagResolveIn,
    *,
    timezone: str,
) -> ContractOut:
    """Street or district staff close an open finding with the reason it no longer stands; audited."""
    row = await reads.visible_contract(session, principal, contract_id, roles=access.APPROVERS)
    today = access.today(timezone)
    resolved = await flags.resolve(
        session, principal, lineage_id=row.lineage_id, codes=[code], today=today, resolution=data.resolution
    )
    if resolved == 0:
        raise FlagNotFound(f"The contract has no open `{code}` finding.")
    await audit.record(
        session,
        actor=principal,
        action="village_contract.flag_resolved",
        entity="village_contract",
        entity_id=contract_id,
        before={"open_flag": code},
        after={"resolved_flag": code},
        reason=data.resolution,
        region_code=row.village_code,
    )
    return await reads.get_contract(session, principal, contract_id, timezone=timezone)
