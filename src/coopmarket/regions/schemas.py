"""Region shapes."""

from __future__ import annotations

import msgspec


class RegionOut(msgspec.Struct):
    code: str
    name: str
    level: str
    parent_code: str | None
    kind: str | None = None


class RegionList(msgspec.Struct):
    items: list[RegionOut]


class RegionDetail(msgspec.Struct):
    code: str
    name: str
    level: str
    parent_code: str | None
    kind: str | None
    parents: list[RegionOut]
