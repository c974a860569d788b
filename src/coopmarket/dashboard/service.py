"""The dashboard's figures, read from the slices that own them, for the caller's region only."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncConnection

from coopmarket.brand import service as brand_service
from coopmarket.coops import service as coops_service
from coopmarket.core.errors import NotFound
from coopmarket.core.principal import Principal
from coopmarket.dashboard.schemas import Dashboard, ExpiringLicence, MonthIncome, PendingCooperative
from coopmarket.regions import service as regions_service
from coopmarket.reports import service as reports_service
from coopmarket.reports.schemas import CollectiveIncomeReport, CollectiveIncomeSeries, IncomeByCategory
from coopmarket.settings import Settings
from coopmarket.villages import campaign

MONTHS = 12
LICENCES_EXPIRING_WITHIN_DAYS = 60
LIST_LIMIT = 20
_CATEGORIES = tuple(IncomeByCategory.__struct_fields__)


def month_starts(today: date, months: int = MONTHS) -> list[date]:
    """The first days of the ``months`` calendar months ending with today's, oldest first."""
    index = today.year * 12 + today.month - 1
    return [date(i // 12, i % 12 + 1, 1) for i in range(index - months + 1, index + 1)]


def _sum_categories(parts: list[IncomeByCategory]) -> IncomeByCategory:
    return IncomeByCategory(**{c: sum(getattr(p, c) for p in parts) for c in _CATEGORIES})


async def dashboard(
    conn: AsyncConnection, settings: Settings, principal: Principal, *, today: date
) -> Dashboard:
    """Staff only (403 ``forbidden_role``): income of the last 12 months by street, village, month and
    category; licences ending within 60 days; cooperatives awaiting a decision; the contract
    clean-up campaign over the same months. Every figure is for the caller's region, and the income
    figures are the collective-income report's own."""
    principal.require_staff()
    code = principal.region_code
    root = await regions_service.find_region(conn, code) if code else None
    if root is None or not principal.covers_region(root.code):
        raise NotFound("Your region is not known.", code="region_not_found")
    starts = month_starts(today)
    date_from = starts[0]

    async def report(group_by: str, interval: str | None = None) -> CollectiveIncomeReport:
        return await reports_service.collective_income_report(
            conn,
            settings,
            principal,
            date_from=date_from,
            date_to=today,
            group_by=group_by,
            region_code=root.code,
            interval=interval,
        )

    # One report by village and month gives the villages and, summed, each month's figure.
    series = await report("village", "month")
    assert isinstance(series, CollectiveIncomeSeries)
    villages = series.items
    streets = (await report("street")).items if root.level in ("district", "street") else []
    months = [
        MonthIncome(
            month=period.period,
            from_=period.from_,
            to=period.to,
            total_fen=period.total_fen,
            by_category=_sum_categories([item.by_category for item in period.items]),
        )
        for period in series.periods
    ]
    licences = await brand_service.list_licences(
        conn,
        principal,
        today=today,
        status=None,
        expiring_within_days=LICENCES_EXPIRING_WITHIN_DAYS,
        cooperative_id=None,
        limit=LIST_LIMIT,
        cursor=None,
    )
    pending = await coops_service.list_cooperatives(
        conn, principal, status=coops_service.PENDING, region_code=root.code, limit=LIST_LIMIT
    )
    clean_up = await campaign.campaign_figures(conn, root.code, date_from, today, today=today)
    return Dashboard(
        region_code=root.code,
        region_name=root.name,
        region_level=root.level,
        today=today,
        from_=date_from,
        to=today,
        total_fen=sum(item.total_fen for item in villages),
        by_category=_sum_categories([item.by_category for item in villages]),
        streets=streets,
        villages=villages,
        months=months,
        licences_expiring_within_days=LICENCES_EXPIRING_WITHIN_DAYS,
        licences_expiring=[
            ExpiringLicence(
                id=item.id,
                number=item.number,
                brand=item.brand,
                cooperative_id=item.cooperative_id,
                cooperative_name=item.cooperative_name,
                status=item.status,
                valid_to=item.valid_to,
                days_left=(item.valid_to - today).days,
            )
            for item in licences.items
        ],
        cooperatives_pending=[
            PendingCooperative(
                id=item.id, name=item.name, village_code=item.village_code, village_name=item.village_name
            )
            for item in pending.items
        ],
        campaign=clean_up,
    )
