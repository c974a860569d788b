"""Which contracts look irregular, and why. Pure.

Four findings of the clean-up of village contracts (清理规范农村集体经济合同):

- ``no_approval_record``: no record of the village meeting (村民会议或村民代表会议) that approved it;
- ``term_exceeds_limit``: a term longer than the district's limit (``COOPMARKET_CONTRACT_MAX_TERM_YEARS``);
- ``rent_far_below_peers``: rent per unit of size below ``COOPMARKET_CONTRACT_RENT_FLOOR_BPS`` of the
  median of the village's other contracts for the same kind of asset (at least
  ``COOPMARKET_CONTRACT_RENT_MIN_PEERS`` of them, with a comparable unit);
- ``asset_let_twice``: the asset is let by another contract for an overlapping term.

Reasons are written in Chinese for the staff who read them.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from coopmarket.core.money import BPS_DENOMINATOR, format_yuan
from coopmarket.villages.schedule import term_exceeds_years

NO_APPROVAL_RECORD = "no_approval_record"
TERM_EXCEEDS_LIMIT = "term_exceeds_limit"
RENT_FAR_BELOW_PEERS = "rent_far_below_peers"
ASSET_LET_TWICE = "asset_let_twice"
FLAG_CODES = (NO_APPROVAL_RECORD, TERM_EXCEEDS_LIMIT, RENT_FAR_BELOW_PEERS, ASSET_LET_TWICE)

# Units of size, and how many square metres one of them is (area units compare with each other).
SQUARE_METRES: dict[str, Fraction] = {
    "mu": Fraction(2000, 3),  # 1 亩 = 666.67 m²
    "hectare": Fraction(10_000),
    "square_metre": Fraction(1),
}
COUNT_UNITS = ("item",)
SIZE_UNITS = (*SQUARE_METRES, *COUNT_UNITS)
UNIT_NAMES = {"mu": "亩", "hectare": "公顷", "square_metre": "平方米", "item": "件"}
KIND_NAMES = {
    "farmland": "耕地",
    "woodland": "林地",
    "pond": "坑塘水面",
    "building": "房屋建筑",
    "site": "场地",
    "equipment": "设备",
    "other": "其他资产",
}


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class OtherLetting:
    """Another contract entry on the same asset, in force ``starts_on..effective_until``."""

    contract_id: str
    starts_on: date
    effective_until: date
    document_ref: str


def unit_family(unit: str) -> str:
    """``area`` or the count unit itself: only sizes of one family compare."""
    return "area" if unit in SQUARE_METRES else unit


def rent_per_base_unit(annual_rent_fen: int, size_milli: int, unit: str) -> Fraction:
    """Annual rent in fen per square metre (area units) or per item."""
    size = Fraction(size_milli, 1000) * SQUARE_METRES.get(unit, Fraction(1))
    return Fraction(annual_rent_fen) / size


def _years_days(starts_on: date, ends_on: date) -> str:
    return f"{starts_on.isoformat()} 至 {ends_on.isoformat()}"


def find(
    *,
    starts_on: date,
    ends_on: date,
    approval_ref: str | None,
    kind: str,
    unit: str,
    rent_per_unit: Fraction,
    peer_rents_per_unit: Sequence[Fraction],
    others_on_asset: Sequence[OtherLetting],
    max_term_years: int,
    rent_floor_bps: int,
    min_peers: int,
) -> list[Finding]:
    """Every irregularity of one contract entry, in ``FLAG_CODES`` order (empty for a clean one)."""
    findings: list[Finding] = []
    if approval_ref is None or not approval_ref.strip():
        findings.append(Finding(NO_APPROVAL_RECORD, "无村民会议或村民代表会议决议记录"))
    if term_exceeds_years(starts_on, ends_on, max_term_years):
        findings.append(
            Finding(
                TERM_EXCEEDS_LIMIT,
                f"合同期限（{_years_days(starts_on, ends_on)}）超过区定上限{max_term_years}年",
            )
        )
    if len(peer_rents_per_unit) >= min_peers:
        median = Fraction(statistics.median(peer_rents_per_unit))
        floor = median * Fraction(rent_floor_bps, BPS_DENOMINATOR)
        if rent_per_unit < floor:
            per = SQUARE_METRES.get(unit, Fraction(1))
            unit_name = UNIT_NAMES.get(unit, unit)
            findings.append(
                Finding(
                    RENT_FAR_BELOW_PEERS,
                    f"年租金每{unit_name}{format_yuan(round(rent_per_unit * per))}元，"
                    f"低于本村{len(peer_rents_per_unit)}份同类资产（{KIND_NAMES.get(kind, kind)}）合同"
                    f"中位数{format_yuan(round(median * per))}元的"
                    f"{rent_floor_bps / 100:g}%",
                )
            )
    overlapping = [
        other
        for other in others_on_asset
        if other.starts_on <= ends_on and starts_on <= other.effective_until
    ]
    if overlapping:
        first = min(overlapping, key=lambda other: (other.starts_on, other.contract_id))
        findings.append(
            Finding(
                ASSET_LET_TWICE,
                f"该资产已由合同{first.document_ref}（{first.contract_id}）于"
                f"{_years_days(first.starts_on, first.effective_until)}发包，期限重叠"
                + (f"（共{len(overlapping)}份）" if len(overlapping) > 1 else ""),
            )
        )
    return findings


__all__ = [
    "ASSET_LET_TWICE",
    "FLAG_CODES",
    "NO_APPROVAL_RECORD",
    "RENT_FAR_BELOW_PEERS",
    "SIZE_UNITS",
    "TERM_EXCEEDS_LIMIT",
    "Finding",
    "OtherLetting",
    "find",
    "rent_per_base_unit",
    "unit_family",
]
