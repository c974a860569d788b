"""What ``GET /api/v1/dashboard`` answers: figures for the signed-in staff member's region."""

from __future__ import annotations

from datetime import date

import msgspec

from coopmarket.reports.schemas import CollectiveIncomeItem, IncomeByCategory
from coopmarket.villages.schemas import CampaignReport


class MonthIncome(msgspec.Struct):
    """Collective income of the region over one calendar month (the current one up to today)."""

    month: str  # "2026-07"
    from_: date = msgspec.field(name="from")
    to: date = msgspec.field()
    total_fen: int = msgspec.field()
    by_category: IncomeByCategory = msgspec.field()


class ExpiringLicence(msgspec.Struct):
    id: str
    number: str | None
    brand: str
    cooperative_id: str
    cooperative_name: str
    status: str
    valid_to: date
    days_left: int


class PendingCooperative(msgspec.Struct):
    id: str
    name: str
    village_code: str
    village_name: str | None


class Dashboard(msgspec.Struct):
    """The dashboard of one staff member: every figure is for their region only.

    ``streets`` and ``villages`` are the collective-income report (``group_by=street`` and
    ``village``) over ``from``..``to`` (the last 12 months to today), ranked and banded (``shell``:
    below the first income band limit); ``streets`` is empty for village staff. ``months`` splits the
    same range by calendar month; ``by_category`` sums it by income category."""

    region_code: str
    region_name: str
    region_level: str
    today: date
    from_: date = msgspec.field(name="from")
    to: date = msgspec.field()
    total_fen: int = msgspec.field()
    by_category: IncomeByCategory = msgspec.field()
    streets: list[CollectiveIncomeItem] = msgspec.field()
    villages: list[CollectiveIncomeItem] = msgspec.field()
    months: list[MonthIncome] = msgspec.field()
    licences_expiring_within_days: int = msgspec.field()
    licences_expiring: list[ExpiringLicence] = msgspec.field()
    cooperatives_pending: list[PendingCooperative] = msgspec.field()
    campaign: CampaignReport = msgspec.field()
