"""The clean-up campaign as the district runs it: per street and village over a period, arrears at
the start, newly arisen, recovered, written off, cancelled by early ends and at the end; irregular
contracts found, resolved and still open; idle assets at the start, put back to use, at the end.

Arrears reconcile exactly: ``closing = opening + arisen - recovered - written_off - cancelled``
(see ``arrears.py`` for how a day's standing is computed). An instalment arises in arrears on the
day after its due date, with what it still owed at the end of its due date; money received, written
off or cut after that day lowers the arrears on the day it happens.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from coopmarket.core.errors import FieldError
from coopmarket.core.principal import Principal
from coopmarket.regions import service as regions_service
from coopmarket.villages import access, arrears
from coopmarket.villages.errors import InvalidDateRange
from coopmarket.villages.models import (
    AssetStatusEvent,
    ContractFlag,
    ContractInstalment,
    InstalmentMovement,
)
from coopmarket.villages.schemas import CampaignFigures, CampaignReport, CampaignStreet

I = ContractInstalment.metadata.tables["contract_instalment"].c  # noqa: E741
M = InstalmentMovement.metadata.tables["instalment_movement"].c
F = ContractFlag.metadata.tables["contract_flag"].c
EV = AssetStatusEvent.metadata.tables["asset_status_event"].c
_instalment = ContractInstalment.metadata.tables["contract_instalment"]
_movement = InstalmentMovement.metadata.tables["instalment_movement"]

ONE_DAY = timedelta(days=1)
IDLE = "idle"
MAX_DAYS = 3 * 366 + 1
_MOVEMENT_FIELDS = {"receipt": "recovered", "write_off": "written_off", "adjustment": "cancelled"}


@dataclass
class _Tally:
    opening: int = 0
    arisen: int = 0
    recovered: int = 0
    written_off: int = 0
    cancelled: int = 0
    closing: int = 0
    found: int = 0
    resolved: int = 0
    open: int = 0
    idle_opening: int = 0
    put_back: int = 0
    idle_closing: int = 0

    def add(self, other: _Tally) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def is_empty(self) -> bool:
        return not any(getattr(self, name) for name in self.__dataclass_fields__)

    def figures(self, code: str, name: str, level: str) -> CampaignFigures:
        return CampaignFigures(
            region_code=code,
            region_name=name,
            level=level,
            arrears_opening_fen=self.opening,
            arrears_arisen_fen=self.arisen,
            arrears_recovered_fen=self.recovered,
            arrears_written_off_fen=self.written_off,
            arrears_cancelled_fen=self.cancelled,
            arrears_closing_fen=self.closing,
            irregular_found=self.found,
            irregular_resolved=self.resolved,
            irregular_open=self.open,
            idle_assets_opening=self.idle_opening,
            idle_assets_put_back=self.put_back,
            idle_assets_closing=self.idle_closing,
        )


def check_period(date_from: date, date_to: date) -> None:
    """422 ``invalid_date_range`` when ``from`` is after ``to`` or the period is over three years."""
    if date_from > date_to:
        raise InvalidDateRange("`from` is after `to`.", errors=[FieldError("from", "after `to`")])
    if (date_to - date_from).days > MAX_DAYS:
        raise InvalidDateRange(
            "A campaign period covers at most three years.",
            errors=[FieldError("to", "over three years after `from`")],
        )


async def _arrears_movements(
    conn: access.Conn, prefix: str, date_from: date, date_to: date, tallies: dict[str, _Tally]
) -> None:
    opening = await arrears.arrears_by_village(conn, prefix, date_from - ONE_DAY)
    closing = await arrears.arrears_by_village(conn, prefix, date_to)
    for code, amount in opening.items():
        tallies[code].opening = amount
    for code, amount in closing.items():
        tallies[code].closing = amount
    settled_by_due = (
        select(func.coalesce(func.sum(M.amount_fen), 0))
        .where(M.instalment_id == I.id, M.on_date <= I.due_on)
        .scalar_subquery()
    )
    arisen = await conn.execute(
        select(I.village_code, func.sum(I.initial_amount_fen - settled_by_due))
        .where(
            I.village_code.startswith(prefix, autoescape=True),
            I.due_on >= date_from - ONE_DAY,
            I.due_on <= date_to - ONE_DAY,
        )
        .group_by(I.village_code)
    )
    for code, amount in arisen:
        tallies[code].arisen = int(amount or 0)
    moved = await conn.execute(
        select(M.village_code, M.kind, func.sum(M.amount_fen))
        .select_from(_movement.join(_instalment, I.id == M.instalment_id))
        .where(
            M.village_code.startswith(prefix, autoescape=True),
            M.on_date >= date_from,
            M.on_date <= date_to,
            M.on_date > I.due_on,
        )
        .group_by(M.village_code, M.kind)
    )
    for code, kind, amount in moved:
        setattr(tallies[code], _MOVEMENT_FIELDS[kind], int(amount or 0))


async def _flags(
    conn: access.Conn, prefix: str, date_from: date, date_to: date, tallies: dict[str, _Tally]
) -> None:
    rows = await conn.execute(
        select(F.village_code, F.lineage_id, F.found_on, F.resolved_on).where(
            F.village_code.startswith(prefix, autoescape=True), F.found_on <= date_to
        )
    )
    lineages: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in rows:
        lineages[(row.village_code, row.lineage_id)].append(row)
    for (code, _lineage), found in lineages.items():
        tally = tallies[code]
        if any(date_from <= row.found_on for row in found):
            tally.found += 1
        still_open = [row for row in found if row.resolved_on is None or row.resolved_on > date_to]
        if still_open:
            tally.open += 1
        elif any(date_from <= row.resolved_on for row in found):
            tally.resolved += 1


async def _idle(
    conn: access.Conn, prefix: str, date_from: date, date_to: date, tallies: dict[str, _Tally]
) -> None:
    rows = await conn.execute(
        select(EV.asset_id, EV.village_code, EV.from_status, EV.to_status, EV.on_date)
        .where(EV.village_code.startswith(prefix, autoescape=True), EV.on_date <= date_to)
        .order_by(EV.asset_id, EV.on_date, EV.id)
    )
    status_before: dict[str, str] = {}
    status_at_end: dict[str, str] = {}
    village_of: dict[str, str] = {}
    for row in rows:
        village_of[row.asset_id] = row.village_code
        status_at_end[row.asset_id] = row.to_status
        if row.on_date < date_from:
            status_before[row.asset_id] = row.to_status
        elif row.from_status == IDLE and row.to_status != IDLE:
            tallies[row.village_code].put_back += 1
    for asset_id, status in status_before.items():
        if status == IDLE:
            tallies[village_of[asset_id]].idle_opening += 1
    for asset_id, status in status_at_end.items():
        if status == IDLE:
            tallies[village_of[asset_id]].idle_closing += 1


async def campaign_figures(
    conn: access.Conn, region_code: str, date_from: date, date_to: date, *, today: date
) -> CampaignReport:
    """The campaign's figures for the district, a street or a village over ``date_from..date_to``
    (local dates, inclusive; a period reaching past ``today`` stops at today, the answer's ``to``):
    per street, with the villages that have any figure.

    Plain data for the staff dashboard (issue 8); no caller check here. Joins the caller's transaction.
    """
    check_period(date_from, date_to)
    if date_from > today:
        raise InvalidDateRange("The period starts after today.", errors=[FieldError("from", "after today")])
    date_to = min(date_to, today)
    tallies: dict[str, _Tally] = defaultdict(_Tally)
    await _arrears_movements(conn, region_code, date_from, date_to, tallies)
    await _flags(conn, region_code, date_from, date_to, tallies)
    await _idle(conn, region_code, date_from, date_to, tallies)
    regions = await regions_service.all_regions(conn)
    names = {region.code: region.name for region in regions}
    if len(region_code) >= access.STREET_CODE_LENGTH:
        street_codes = [access.street_of(region_code)]
    else:
        street_codes = sorted(
            r.code for r in regions if r.level == "street" and r.code.startswith(region_code)
        )
    total = _Tally()
    streets: list[CampaignStreet] = []
    for street_code in street_codes:
        street_tally = _Tally()
        villages: list[CampaignFigures] = []
        for village_code in sorted(code for code in tallies if access.street_of(code) == street_code):
            tally = tallies[village_code]
            if tally.is_empty():
                continue
            street_tally.add(tally)
            villages.append(tally.figures(village_code, names.get(village_code, ""), "village"))
        total.add(street_tally)
        streets.append(
            CampaignStreet(
                street=street_tally.figures(street_code, names.get(street_code, ""), "street"),
                villages=villages,
            )
        )
    level = (
        "village"
        if len(region_code) >= access.VILLAGE_CODE_LENGTH
        else ("street" if len(region_code) >= access.STREET_CODE_LENGTH else "district")
    )
    return CampaignReport(
        from_=date_from,
        to=date_to,
        region_code=region_code,
        total=total.figures(region_code, names.get(region_code, ""), level),
        streets=streets,
    )


async def campaign_report(
    conn: AsyncConnection,
    principal: Principal,
    region_code: str | None,
    date_from: date,
    date_to: date,
    *,
    timezone: str,
) -> CampaignReport:
    """The campaign for staff in scope (default: their own region)."""
    root = await access.require_region(conn, principal, region_code)
    return await campaign_figures(conn, root, date_from, date_to, today=access.today(timezone))
