"""Irregularity flags of contract lineages: found when an entry is made, resolved by a later entry,
a termination or staff. Helpers that join the caller's transaction.

A flag belongs to a lineage (an original contract and its amendments) and a code. An amendment
that no longer shows a finding resolves it; one that still shows it keeps the open flag (it is
not found again). A renewal starts a new lineage, whose findings are its own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import insert, select, update

from coopmarket.core.ids import new_id
from coopmarket.core.principal import Principal
from coopmarket.settings import Settings
from coopmarket.villages import irregularity
from coopmarket.villages.access import Conn
from coopmarket.villages.models import ContractFlag, VillageAsset, VillageContract
from coopmarket.villages.schedule import add_years_clamped
from coopmarket.villages.schemas import FlagOut

F = ContractFlag.metadata.tables["contract_flag"].c
C = VillageContract.metadata.tables["village_contract"].c
A = VillageAsset.metadata.tables["village_asset"].c
_flag = ContractFlag.metadata.tables["contract_flag"]
_contract = VillageContract.metadata.tables["village_contract"]
_asset = VillageAsset.metadata.tables["village_asset"]

# Peers for the rent comparison: entries in force at some time in these years before the start.
PEER_LOOKBACK_YEARS = 3


async def evaluate(
    conn: Conn, settings: Settings, entry: dict[str, Any], asset: Any
) -> list[irregularity.Finding]:
    """The findings of a new entry (already inserted, or about to be) on ``asset``."""
    since = add_years_clamped(entry["starts_on"], -PEER_LOOKBACK_YEARS)
    peer_rows = (
        await conn.execute(
            select(C.annual_rent_fen, A.size_milli, A.size_unit)
            .select_from(_contract.join(_asset, A.id == C.asset_id))
            .where(
                C.village_code == entry["village_code"],
                A.kind == asset.kind,
                C.superseded_by_id.is_(None),
                C.lineage_id != entry["lineage_id"],
                C.effective_until >= since,
            )
        )
    ).all()
    family = irregularity.unit_family(asset.size_unit)
    peers = [
        irregularity.rent_per_base_unit(row.annual_rent_fen, row.size_milli, row.size_unit)
        for row in peer_rows
        if irregularity.unit_family(row.size_unit) == family
    ]
    others = (
        await conn.execute(
            select(C.id, C.starts_on, C.effective_until, C.document_ref).where(
                C.asset_id == asset.id, C.id != entry["id"], C.effective_until >= C.starts_on
            )
        )
    ).all()
    return irregularity.find(
        starts_on=entry["starts_on"],
        ends_on=entry["ends_on"],
        approval_ref=entry["approval_ref"],
        kind=asset.kind,
        unit=asset.size_unit,
        rent_per_unit=irregularity.rent_per_base_unit(
            entry["annual_rent_fen"], asset.size_milli, asset.size_unit
        ),
        peer_rents_per_unit=peers,
        others_on_asset=[
            irregularity.OtherLetting(row.id, row.starts_on, row.effective_until, row.document_ref)
            for row in others
        ],
        max_term_years=settings.contract_max_term_years,
        rent_floor_bps=settings.contract_rent_floor_bps,
        min_peers=settings.contract_rent_min_peers,
    )


async def _open_codes(conn: Conn, lineage_id: str) -> set[str]:
    rows = await conn.execute(select(F.code).where(F.lineage_id == lineage_id, F.resolved_on.is_(None)))
    return {row.code for row in rows}


async def apply(
    conn: Conn,
    principal: Principal,
    *,
    lineage_id: str,
    contract_id: str,
    village_code: str,
    findings: Iterable[irregularity.Finding],
    today: date,
) -> tuple[list[str], list[str]]:
    """Open a flag per new finding, resolve the lineage's open flags the entry no longer shows.

    Returns (codes found, codes resolved).
    """
    open_codes = await _open_codes(conn, lineage_id)
    found = [finding for finding in findings if finding.code not in open_codes]
    if found:
        await conn.execute(
            insert(_flag),
            [
                {
                    "id": new_id(),
                    "lineage_id": lineage_id,
                    "contract_id": contract_id,
                    "village_code": village_code,
                    "code": finding.code,
                    "reason": finding.reason[:500],
                    "found_on": today,
                    "resolved_on": None,
                    "resolution": None,
                    "resolved_by": None,
                    "resolved_by_contract_id": None,
                }
                for finding in found
            ],
        )
    shown = {finding.code for finding in findings}
    gone = sorted(open_codes - shown)
    if gone:
        await resolve(
            conn,
            principal,
            lineage_id=lineage_id,
            codes=gone,
            today=today,
            resolution=f"合同变更（{contract_id}）后已不存在",
            contract_id=contract_id,
        )
    return [finding.code for finding in found], gone


async def resolve(
    conn: Conn,
    principal: Principal,
    *,
    lineage_id: str,
    codes: Iterable[str] | None,
    today: date,
    resolution: str,
    contract_id: str | None = None,
) -> int:
    """Resolve the lineage's open flags with ``codes`` (all when ``None``); returns how many."""
    statement = (
        update(_flag)
        .where(F.lineage_id == lineage_id, F.resolved_on.is_(None))
        .values(
            resolved_on=today,
            resolution=resolution[:500],
            resolved_by=principal.id,
            resolved_by_contract_id=contract_id,
        )
    )
    if codes is not None:
        statement = statement.where(F.code.in_(list(codes)))
    result = await conn.execute(statement)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def flags_by_lineage(conn: Conn, lineage_ids: Iterable[str]) -> dict[str, list[FlagOut]]:
    """Every flag of the given lineages, open ones first, then by when they were found."""
    ids = sorted(set(lineage_ids))
    out: dict[str, list[FlagOut]] = defaultdict(list)
    if not ids:
        return out
    rows = (
        await conn.execute(
            select(F.lineage_id, F.code, F.reason, F.found_on, F.resolved_on, F.resolution)
            .where(F.lineage_id.in_(ids))
            .order_by(F.lineage_id, F.resolved_on.is_not(None), F.found_on, F.code)
        )
    ).all()
    for row in rows:
        out[row.lineage_id].append(
            FlagOut(row.code, row.reason, row.found_on, row.resolved_on, row.resolution)
        )
    return out
