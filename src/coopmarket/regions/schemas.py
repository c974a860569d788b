"""Region shapes."""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType


class RegionOut(msgspec.Struct):
    code: str
    name: str
    level: str
    parent_code: str | None
    kind: str | None = None
    community_code: str | UnsetType = UNSET  # a village grouped into a rural community (reports only)


class RegionList(msgspec.Struct):
    items: list[RegionOut]


class RegionDetail(msgspec.Struct):
    code: str
    name: str
    level: str
    parent_code: str | None
    kind: str | None
    parents: list[RegionOut]
