"""Request and response shapes for cooperatives."""

from __future__ import annotations

import msgspec


class CooperativeBrief(msgspec.Struct, frozen=True):
    """What other slices need to know about a cooperative."""

    id: str
    name: str
    village_code: str
    status: str
    collective_sales_share_bps: int
