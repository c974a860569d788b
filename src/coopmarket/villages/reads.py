"""Reading contract entries: one, a village's list, and their figures, masked for the caller.

Identity numbers are shown in full only to the village's own staff; everyone else sees them masked.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from coopmarket.core.identity import mask_identifier
from coopmarket.core.pagination import DEFAULT_LIMIT, decode_cursor, encode_cursor
from coopmarket.core.principal import Principal
from coopmarket.villages import access, flags
from coopmarket.villages.errors import ContractNotFound
from coopmarket.villages.models import ContractInstalment, ContractTermination, VillageAsset, VillageContract
from coopmarket.villages.schemas import ContractList, ContractOut, CounterpartyOut, TerminationOut

C = VillageContract.metadata.tables["village_contract"].c
I = ContractInstalment.metadata.tables["contract_instalment"].c  # noqa: E741
T = ContractTermination.metadata.tables["contract_termination"].c
A = VillageAsset.metadata.tables["village_asset"].c
_contract = VillageContract.metadata.tables["village_contract"]
_asset = VillageAsset.metadata.tables["village_asset"]

_COLUMNS = (*_contract.c, A.name.label("asset_name"))


def state_of(row: Any, today: date) -> str:
    """Where an entry stands today."""
    if row.superseded_by_id is not None:
        return "superseded"
    if row.terminated_on is not None and row.terminated_on < today:
        return "terminated"
    if row.starts_on > today:
        return "not_started"
    if row.effective_until < today:
        return "ended"
    return "in_force"


async def _figures(
    conn: access.Conn, contract_ids: Sequence[str], today: date
) -> dict[str, tuple[int, int, int]]:
    """(paid, in arrears, outstanding) per contract entry, today."""
    if not contract_ids:
        return {}
    open_fen = I.amount_fen - I.paid_fen - I.written_off_fen
    rows = await conn.execute(
        select(
            I.contract_id,
            func.coalesce(func.sum(I.paid_fen), 0),
            func.coalesce(func.sum(case((I.due_on < today, open_fen), else_=0)), 0),
            func.coalesce(func.sum(open_fen), 0),
        )
        .where(I.contract_id.in_(list(contract_ids)))
        .group_by(I.contract_id)
    )
    return {row[0]: (int(row[1]), int(row[2]), int(row[3])) for row in rows}


async def contract_outs(
    conn: access.Conn, principal: Principal, rows: Sequence[Any], *, today: date
) -> list[ContractOut]:
    """Shape entry rows (``_COLUMNS``) for ``principal``: identity numbers masked but for the village's staff."""
    ids = [row.id for row in rows]
    figures = await _figures(conn, ids, today)
    lineage_flags = await flags.flags_by_lineage(conn, [row.lineage_id for row in rows])
    terminations: dict[str, TerminationOut] = {}
    if ids:
        for t in await conn.execute(
            select(
                T.contract_id, T.terminated_on, T.reason, T.document_ref, T.approval_ref, T.created_at
            ).where(T.contract_id.in_(ids))
        ):
            terminations[t.contract_id] = TerminationOut(
                t.terminated_on, t.reason, t.document_ref, t.approval_ref, t.created_at
            )
    out: list[ContractOut] = []
    for row in rows:
        paid, in_arrears, outstanding = figures.get(row.id, (0, 0, 0))
        keeper = access.is_keeper(principal, row.village_code)
        id_number = row.counterparty_id_number if keeper else mask_identifier(row.counterparty_id_number)
        out.append(
            ContractOut(
                id=row.id,
                village_code=row.village_code,
                asset_id=row.asset_id,
                asset_name=row.asset_name,
                entry_kind=row.entry_kind,
                lineage_id=row.lineage_id,
                references_id=row.references_id,
                counterparty=CounterpartyOut(
                    kind=row.counterparty_kind,
                    name=row.counterparty_name,
                    id_number=id_number,
                    cooperative_id=row.counterparty_cooperative_id,
                ),
                starts_on=row.starts_on,
                ends_on=row.ends_on,
                effective_until=row.effective_until,
                state=state_of(row, today),
                annual_rent_fen=row.annual_rent_fen,
                schedule=row.schedule,
                total_rent_fen=row.total_rent_fen,
                document_ref=row.document_ref,
                approval_ref=row.approval_ref,
                reason=row.reason,
                superseded_by_id=row.superseded_by_id,
                renewed_by_id=row.renewed_by_id,
                termination=terminations.get(row.id),
                flags=lineage_flags.get(row.lineage_id, []),
                paid_fen=paid,
                in_arrears_fen=in_arrears,
                outstanding_fen=outstanding,
                created_at=row.created_at,
                created_by=row.created_by,
            )
        )
    return out


async def load_contract(conn: access.Conn, contract_id: str, *, for_update: bool = False) -> Any:
    """The entry row with its asset's name, or ``None``. Joins the caller's transaction."""
    statement = (
        select(*_COLUMNS).select_from(_contract.join(_asset, A.id == C.asset_id)).where(C.id == contract_id)
    )
    if for_update:
        statement = statement.with_for_update(of=_contract)
    return (await conn.execute(statement)).one_or_none()


async def visible_contract(
    conn: access.Conn, principal: Principal, contract_id: str, *, roles: Sequence[str] = ()
) -> Any:
    """The entry if the caller's scope covers its village (404 otherwise), holding one of ``roles`` (403)."""
    row = await load_contract(conn, contract_id)
    not_found = ContractNotFound("No such contract.")
    if row is None:
        principal.require_staff()
        raise not_found
    if roles:
        access.require_role_in_scope(principal, row.village_code, roles, not_found)
    else:
        access.require_staff_in_scope(principal, row.village_code, not_found)
    return row


async def get_contract(
    conn: access.Conn, principal: Principal, contract_id: str, *, timezone: str
) -> ContractOut:
    """One contract entry, for staff whose scope covers its village."""
    row = await visible_contract(conn, principal, contract_id)
    [out] = await contract_outs(conn, principal, [row], today=access.today(timezone))
    return out


async def list_contracts(
    conn: AsyncConnection,
    principal: Principal,
    village_code: str,
    *,
    timezone: str,
    state: str | None = None,
    flagged: bool | None = None,
    asset_id: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> ContractList:
    """The village's contract entries in the order they were registered, filtered."""
    await access.require_village(conn, principal, village_code)
    today = access.today(timezone)
    statement = (
        select(*_COLUMNS)
        .select_from(_contract.join(_asset, A.id == C.asset_id))
        .where(C.village_code == village_code)
        .order_by(C.id)
    )
    if asset_id:
        statement = statement.where(C.asset_id == asset_id)
    if flagged is not None:
        has_open = (
            select(flags.F.lineage_id)
            .where(flags.F.village_code == village_code, flags.F.resolved_on.is_(None))
            .scalar_subquery()
        )
        statement = statement.where(C.lineage_id.in_(has_open) if flagged else C.lineage_id.not_in(has_open))
    if state == "superseded":
        statement = statement.where(C.superseded_by_id.is_not(None))
    elif state == "terminated":
        statement = statement.where(C.superseded_by_id.is_(None), C.terminated_on < today)
    elif state == "not_started":
        statement = statement.where(C.superseded_by_id.is_(None), C.starts_on > today)
    elif state == "ended":
        statement = statement.where(
            C.superseded_by_id.is_(None),
            (C.terminated_on.is_(None)) | (C.terminated_on >= today),
            C.effective_until < today,
        )
    elif state == "in_force":
        statement = statement.where(
            C.superseded_by_id.is_(None), C.starts_on <= today, C.effective_until >= today
        )
    after = decode_cursor(cursor, 1)
    if after is not None:
        statement = statement.where(C.id > str(after[0]))
    rows = (await conn.execute(statement.limit(limit + 1))).all()
    items = await contract_outs(conn, principal, rows[:limit], today=today)
    return ContractList(items=items, next_cursor=encode_cursor([items[-1].id]) if len(rows) > limit else None)


async def contract_with_document(conn: access.Conn, village_code: str, document_ref: str) -> str | None:
    """The id of a contract entry of the village whose id or document reference is
    ``document_ref`` (case and surrounding blanks ignored), or ``None``. For other slices that
    must not count the register's contracting income twice."""
    wanted = document_ref.strip()
    row = (
        await conn.execute(
            select(C.id)
            .where(
                C.village_code == village_code,
                or_(C.id == wanted, func.lower(C.document_ref) == wanted.lower()),
            )
            .limit(1)
        )
    ).first()
    return row[0] if row is not None else None
