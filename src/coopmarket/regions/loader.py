"""Fangzi's region tree from the CSV shipped in the package (2022 statistical codes). Pure."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

DISTRICT_CODE = "370704"
DISTRICT_NAME = "坊子区"


@dataclass(frozen=True)
class RegionRow:
    code: str
    name: str
    level: str
    parent_code: str | None
    kind: str | None


def village_kind(code: str) -> str | None:
    """Village part 001–199 is a residents' committee, 200–399 a villagers' committee."""
    part = int(code[9:12])
    if 1 <= part <= 199:
        return "residents_committee"
    if 200 <= part <= 399:
        return "villagers_committee"
    return None


def load_regions() -> list[RegionRow]:
    """District, streets and village-level units, parents before children."""
    text = resources.files("coopmarket.regions").joinpath("data/regions_370704.csv").read_text("utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    out = [RegionRow(DISTRICT_CODE, DISTRICT_NAME, "district", None, None)]
    streets: dict[str, str] = {}
    for row in rows:
        streets.setdefault(row["streetCode"], row["streetName"])
    out += [RegionRow(code, name, "street", DISTRICT_CODE, None) for code, name in sorted(streets.items())]
    out += [
        RegionRow(row["code"], row["name"], "village", row["streetCode"], village_kind(row["code"]))
        for row in sorted(rows, key=lambda r: r["code"])
    ]
    return out
