"""Arrears at the end of any local date, aged; and a village's contracts summary for a disclosure.

Everything is recomputed from the append-only movements, so a past date reads as it stood then
(with what is known now: a receipt recorded late counts on the day the money was received):

- an instalment's amount on day X is its initial amount less the cuts (``adjustment``) made up to X;
- what it still owes at the end of X is that amount less receipts and write-offs dated up to X;
- it is in arrears at the end of X when it was due before X.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from coopmarket.core.identity import mask_person_name
from coopmarket.core.principal import Principal
from coopmarket.regions import service as regions_service
from coopmarket.villages import access, ageing
from coopmarket.villages.errors import VillageNotFound
from coopmarket.villages.models import ContractInstalment, InstalmentMovement, VillageAsset, VillageContract
from coopmarket.villages.schemas import (
    ArrearsLine,
    ArrearsReport,
    ArrearsVillage,
    ContractsSummary,
    ContractSummaryLine,
)

I = ContractInstalment.metadata.tables["contract_instalment"].c  # noqa: E741
M = InstalmentMovement.metadata.tables["instalment_movement"].c
C = VillageContract.metadata.tables["village_contract"].c
A = VillageAsset.metadata.tables["village_asset"].c
_instalment = ContractInstalment.metadata.tables["contract_instalment"]
_movement = InstalmentMovement.metadata.tables["instalment_movement"]
_contract = VillageContract.metadata.tables["village_contract"]
_asset = VillageAsset.metadata.tables["village_asset"]

PERSONS = ("person", "household")


@dataclass(frozen=True, slots=True)
class Standing:
    """What the instalments behind one query owed at the end of a day: the columns of each row."""

    amount: ColumnElement[Any]
    received: ColumnElement[Any]
    written_off: ColumnElement[Any]
    outstanding: ColumnElement[Any]
    sums: Any


def standing(prefix: str, as_of: date) -> Standing:
    """Each instalment's amount, receipts, write-offs and outstanding at the end of ``as_of``
    (an outer-joinable subquery of the movements of villages under ``prefix``)."""
    sums = (
        select(
            M.instalment_id,
            func.sum(case((M.kind == "receipt", M.amount_fen), else_=0)).label("received"),
            func.sum(case((M.kind == "write_off", M.amount_fen), else_=0)).label("written_off"),
            func.sum(case((M.kind == "adjustment", M.amount_fen), else_=0)).label("adjusted"),
        )
        .where(M.on_date <= as_of, M.village_code.startswith(prefix, autoescape=True))
        .group_by(M.instalment_id)
        .subquery()
    )
    amount = I.initial_amount_fen - func.coalesce(sums.c.adjusted, 0)
    received = func.coalesce(sums.c.received, 0)
    written_off = func.coalesce(sums.c.written_off, 0)
    return Standing(amount, received, written_off, amount - received - written_off, sums)


async def arrears_by_village(conn: access.Conn, prefix: str, as_of: date) -> dict[str, int]:
    """Arrears per village under ``prefix`` at the end of ``as_of`` (villages with none are absent)."""
    s = standing(prefix, as_of)
    rows = await conn.execute(
        select(I.village_code, func.sum(s.outstanding))
        .select_from(_instalment.outerjoin(s.sums, s.sums.c.instalment_id == I.id))
        .where(I.village_code.startswith(prefix, autoescape=True), I.due_on < as_of)
        .group_by(I.village_code)
    )
    return {row[0]: int(row[1]) for row in rows if row[1]}


async def _lines(conn: access.Conn, prefix: str, as_of: date) -> list[Any]:
    s = standing(prefix, as_of)
    return list(
        (
            await conn.execute(
                select(
                    I.id,
                    I.contract_id,
                    I.village_code,
                    I.due_on,
                    s.amount.label("amount"),
                    s.received.label("received"),
                    s.written_off.label("written_off"),
                    s.outstanding.label("outstanding"),
                    C.asset_id,
                    A.name.label("asset_name"),
                    C.counterparty_kind,
                    C.counterparty_name,
                )
                .select_from(
                    _instalment.join(_contract, C.id == I.contract_id)
                    .join(_asset, A.id == C.asset_id)
                    .outerjoin(s.sums, s.sums.c.instalment_id == I.id)
                )
                .where(
                    I.village_code.startswith(prefix, autoescape=True), I.due_on < as_of, s.outstanding > 0
                )
                .order_by(I.village_code, I.due_on, I.id)
            )
        ).all()
    )


def _bands(lines: list[ArrearsLine]) -> dict[str, int]:
    totals = dict.fromkeys(ageing.BANDS, 0)
    for line in lines:
        totals[line.band] += line.outstanding_fen
    return totals


async def arrears_report(
    conn: AsyncConnection, principal: Principal, region_code: str | None, as_of: date | None, *, timezone: str
) -> ArrearsReport:
    """Arrears in the caller's scope at the end of ``as_of`` (default today), per village, aged."""
    root = await access.require_region(conn, principal, region_code)
    day = as_of or access.today(timezone)
    access.not_after_today(day, "as_of", timezone)
    rows = await _lines(conn, root, day)
    by_village: dict[str, list[ArrearsLine]] = defaultdict(list)
    for row in rows:
        by_village[row.village_code].append(
            ArrearsLine(
                instalment_id=row.id,
                contract_id=row.contract_id,
                asset_id=row.asset_id,
                asset_name=row.asset_name,
                counterparty_kind=row.counterparty_kind,
                counterparty_name=row.counterparty_name,
                due_on=row.due_on,
                amount_fen=int(row.amount),
                paid_fen=int(row.received),
                written_off_fen=int(row.written_off),
                outstanding_fen=int(row.outstanding),
                days_overdue=ageing.days_overdue(row.due_on, day),
                band=ageing.band(row.due_on, day),  # type: ignore[arg-type]
            )
        )
    codes = sorted(set(by_village) | {access.street_of(code) for code in by_village})
    names = await regions_service.region_names(conn, codes)
    villages: list[ArrearsVillage] = []
    for code in sorted(by_village):
        lines = by_village[code]
        bands = _bands(lines)
        street = access.street_of(code)
        villages.append(
            ArrearsVillage(
                village_code=code,
                village_name=names.get(code, ""),
                street_code=street,
                street_name=names.get(street, ""),
                total_fen=sum(bands.values()),
                within_90_days_fen=bands[ageing.WITHIN_90_DAYS],
                within_1_year_fen=bands[ageing.WITHIN_1_YEAR],
                within_3_years_fen=bands[ageing.WITHIN_3_YEARS],
                older_fen=bands[ageing.OLDER],
                instalments=lines,
            )
        )
    return ArrearsReport(
        region_code=root,
        as_of=day,
        total_fen=sum(v.total_fen for v in villages),
        within_90_days_fen=sum(v.within_90_days_fen for v in villages),
        within_1_year_fen=sum(v.within_1_year_fen for v in villages),
        within_3_years_fen=sum(v.within_3_years_fen for v in villages),
        older_fen=sum(v.older_fen for v in villages),
        villages=villages,
    )


async def contracts_summary(
    conn: access.Conn, village_code: str, period_from: date, period_to: date
) -> ContractsSummary:
    """The village's contract entries in force at some time in ``period_from..period_to``, with
    what was paid and what was in arrears at the end of ``period_to``, as plain data for a public
    disclosure: persons' and households' names are masked, identity numbers left out.

    For the disclosure snapshot (issue 8); no caller check here: the disclosure's own rules decide
    who publishes. Joins the caller's transaction.
    """
    if period_to < period_from:
        raise ValueError("a period ends on or after its first day")
    if await regions_service.find_region(conn, village_code) is None:
        raise VillageNotFound(f"No village {village_code}.")
    entries = (
        await conn.execute(
            select(
                C.id,
                A.name.label("asset_name"),
                A.kind.label("asset_kind"),
                C.counterparty_kind,
                C.counterparty_name,
                C.starts_on,
                C.effective_until,
                C.annual_rent_fen,
            )
            .select_from(_contract.join(_asset, A.id == C.asset_id))
            .where(
                C.village_code == village_code,
                C.starts_on <= period_to,
                C.effective_until >= period_from,
                C.effective_until >= C.starts_on,
            )
            .order_by(C.starts_on, C.id)
        )
    ).all()
    s = standing(village_code, period_to)
    figures = (
        {
            row[0]: (int(row[1]), int(row[2]))
            for row in await conn.execute(
                select(
                    I.contract_id,
                    func.coalesce(func.sum(s.received), 0),
                    func.coalesce(func.sum(case((I.due_on < period_to, s.outstanding), else_=0)), 0),
                )
                .select_from(_instalment.outerjoin(s.sums, s.sums.c.instalment_id == I.id))
                .where(I.village_code == village_code, I.contract_id.in_([row.id for row in entries]))
                .group_by(I.contract_id)
            )
        }
        if entries
        else {}
    )
    lines = tuple(
        ContractSummaryLine(
            contract_id=row.id,
            asset_name=row.asset_name,
            asset_kind=row.asset_kind,
            counterparty_kind=row.counterparty_kind,
            counterparty_name=(
                mask_person_name(row.counterparty_name)
                if row.counterparty_kind in PERSONS
                else row.counterparty_name
            ),
            starts_on=row.starts_on,
            ends_on=row.effective_until,
            annual_rent_fen=row.annual_rent_fen,
            paid_to_date_fen=figures.get(row.id, (0, 0))[0],
            arrears_fen=figures.get(row.id, (0, 0))[1],
        )
        for row in entries
    )
    return ContractsSummary(
        village_code=village_code,
        period_from=period_from,
        period_to=period_to,
        lines=lines,
        paid_to_date_fen=sum(line.paid_to_date_fen for line in lines),
        arrears_fen=sum(line.arrears_fen for line in lines),
    )
