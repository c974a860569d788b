"""Collective-income reports: village collective income from the ledger, grouped up the region tree."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from coopmarket.core.errors import FieldError, NotFound, ValidationFailed
from coopmarket.core.principal import Principal
from coopmarket.ledger import posting
from coopmarket.ledger import service as ledger_service
from coopmarket.ledger.schemas import CollectiveIncomeRow, MonthlyIncomeRow
from coopmarket.regions import service as regions_service
from coopmarket.regions.schemas import RegionOut
from coopmarket.reports.schemas import (
    CollectiveIncomeItem,
    CollectiveIncomeReport,
    CollectiveIncomeSeries,
    IncomeByCategory,
    IncomePeriod,
)
from coopmarket.settings import Settings

# Depth in the tree: a report groups at the level of its region or below.
LEVEL_DEPTH = {"district": 0, "street": 1, "community": 2, "village": 3}
MAX_RANGE_YEARS = 3
SHELL_BAND = "shell"


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return date(day.year + years, 3, 1)


def check_date_range(date_from: date, date_to: date) -> None:
    """422 when ``from`` is after ``to`` or the range spans more than three years."""
    if date_from > date_to:
        raise ValidationFailed(
            "`from` must not be after `to`.",
            code="invalid_date_range",
            errors=[FieldError("from", "after `to`")],
        )
    if date_to >= _add_years(date_from, MAX_RANGE_YEARS):
        raise ValidationFailed(
            f"A report covers at most {MAX_RANGE_YEARS} years.",
            code="date_range_too_long",
            errors=[FieldError("to", f"more than {MAX_RANGE_YEARS} years after `from`")],
        )


def _yuan_label(amount_fen: int) -> str:
    yuan, fen = divmod(amount_fen, 100)
    if fen:
        return f"{yuan}_{fen:02d}"
    if yuan and yuan % 1_000_000 == 0:
        return f"{yuan // 1_000_000}m"
    if yuan and yuan % 1_000 == 0:
        return f"{yuan // 1_000}k"
    return str(yuan)


def band_names(limits_fen: Sequence[int]) -> list[str]:
    """Names of the bands the ascending ``limits_fen`` cut: ``shell``, ``under_100k``…, ``over_500k``."""
    limits = sorted(limits_fen)
    if not limits:
        return [SHELL_BAND]
    return [
        SHELL_BAND,
        *(f"under_{_yuan_label(limit)}" for limit in limits[1:]),
        f"over_{_yuan_label(limits[-1])}",
    ]


def income_band(total_fen: int, limits_fen: Sequence[int]) -> str:
    """The band of ``total_fen``: below the first limit (zero included) is ``shell``."""
    limits = sorted(limits_fen)
    return band_names(limits)[bisect_right(limits, total_fen) if limits else 0]


def competition_ranks(totals: Sequence[int]) -> list[int]:
    """Rank 1 for the highest total; equal totals share a rank and the next rank skips (1, 1, 3)."""
    ordered = sorted(totals, reverse=True)
    first_position: dict[int, int] = {}
    for position, total in enumerate(ordered, start=1):
        first_position.setdefault(total, position)
    return [first_position[total] for total in totals]


def period_spans(date_from: date, date_to: date, interval: str) -> list[tuple[str, date, date]]:
    """``(label, first, last)`` of each month (``2026-04``) or quarter (``2026-Q2``) that
    ``[date_from, date_to]`` touches, cut to the range."""
    spans: list[tuple[str, date, date]] = []
    start = date_from
    while start <= date_to:
        if interval == "quarter":
            quarter = (start.month - 1) // 3
            label = f"{start.year}-Q{quarter + 1}"
            end_month = quarter * 3 + 3
        else:
            label = f"{start.year}-{start.month:02d}"
            end_month = start.month
        after = date(start.year + 1, 1, 1) if end_month == 12 else date(start.year, end_month + 1, 1)
        last = min(date_to, after - timedelta(days=1))
        spans.append((label, start, last))
        start = after
    return spans


def _ancestors(code: str, parents: dict[str, str | None]) -> Iterator[str]:
    """``code`` and then its parents up to the root."""
    seen: set[str] = set()
    current: str | None = code
    while current is not None and current not in seen:
        seen.add(current)
        yield current
        current = parents.get(current)


def group_income(
    regions: Iterable[RegionOut],
    rows: Iterable[CollectiveIncomeRow | MonthlyIncomeRow],
    *,
    group_by: str,
    root_code: str,
    band_limits_fen: Sequence[int],
    related_party_rows: Iterable[CollectiveIncomeRow] = (),
) -> list[CollectiveIncomeItem]:
    """One item per region of level ``group_by`` under ``root_code`` (zero income included), ranked.

    Each village's income counts towards its nearest ancestor of that level; a village with no
    such ancestor (e.g. not in a community) is in no item. ``related_party_rows`` (part of
    ``rows``) sum into each item's ``related_party_fen``. Pure.
    """
    tree = list(regions)
    # A village in a rural community counts towards it, and the community towards its street.
    parents = {r.code: r.community_code if isinstance(r.community_code, str) else r.parent_code for r in tree}
    levels = {r.code: r.level for r in tree}
    selected = [r for r in tree if r.level == group_by and root_code in _ancestors(r.code, parents)]
    sums: dict[str, dict[str, int]] = {r.code: dict.fromkeys(posting.INCOME_CATEGORIES, 0) for r in selected}
    related: dict[str, int] = dict.fromkeys(sums, 0)

    targets: dict[str, str | None] = {}

    def target_of(village_code: str) -> str | None:
        if village_code not in targets:
            targets[village_code] = next(
                (c for c in _ancestors(village_code, parents) if levels.get(c) == group_by), None
            )
        return targets[village_code]

    for row in rows:
        target = target_of(row.village_code)
        if target in sums and row.category in sums[target]:
            sums[target][row.category] += row.amount_fen
    for row in related_party_rows:
        target = target_of(row.village_code)
        if target in related and row.category in posting.INCOME_CATEGORIES:
            related[target] += row.amount_fen
    totals = [sum(sums[r.code].values()) for r in selected]
    ranks = competition_ranks(totals)
    limits = sorted(band_limits_fen)
    names = band_names(limits)
    items = [
        CollectiveIncomeItem(
            region_code=region.code,
            region_name=region.name,
            total_fen=total,
            by_category=IncomeByCategory(**sums[region.code]),
            band=names[bisect_right(limits, total) if limits else 0],
            rank=rank,
            related_party_fen=related[region.code],
        )
        for region, total, rank in zip(selected, totals, ranks, strict=True)
    ]
    items.sort(key=lambda item: (item.rank, item.region_code))
    return items


async def collective_income_report(
    conn: AsyncConnection,
    settings: Settings,
    principal: Principal,
    *,
    date_from: date,
    date_to: date,
    group_by: str,
    region_code: str | None,
    interval: str | None = None,
) -> CollectiveIncomeReport:
    """Collective income per region of level ``group_by`` in the caller's scope, from the ledger only
    (its monthly rollup for whole months, its postings for the partial months at the edges).

    With ``interval`` (``month`` or ``quarter``) the answer is a ``CollectiveIncomeSeries``: the
    same items for the whole range, and the items of each month or quarter the range touches
    (the first and last cut to the range)."""
    principal.require_staff()
    check_date_range(date_from, date_to)
    code = region_code or principal.region_code
    regions = await regions_service.all_regions(conn)
    root = next((r for r in regions if r.code == code), None)
    if root is None or not principal.covers_region(root.code):
        raise NotFound(f"No region with code {code} in your scope.", code="region_not_found")
    if LEVEL_DEPTH[group_by] < LEVEL_DEPTH.get(root.level, 0):
        raise ValidationFailed(
            f"A {root.level} report groups by its own level or below.",
            code="invalid_group_by",
            errors=[FieldError("group_by", f"above the level of {root.code} ({root.level})")],
        )
    rows = await ledger_service.monthly_income_rows(
        conn, date_from, date_to, settings.report_timezone, by_month=interval is not None
    )

    def grouped(selected: Iterable[MonthlyIncomeRow]) -> list[CollectiveIncomeItem]:
        chosen = list(selected)
        return group_income(
            regions,
            chosen,
            group_by=group_by,
            root_code=root.code,
            band_limits_fen=settings.income_band_limits_fen,
            related_party_rows=[
                CollectiveIncomeRow(r.village_code, r.category, r.related_party_fen)
                for r in chosen
                if r.related_party_fen
            ],
        )

    items = grouped(rows)
    if interval is not None:
        periods = []
        for period, first, last in period_spans(date_from, date_to, interval):
            period_items = grouped(r for r in rows if first.replace(day=1) <= r.month <= last)
            periods.append(
                IncomePeriod(
                    period=period,
                    from_=first,
                    to=last,
                    items=period_items,
                    total_fen=sum(item.total_fen for item in period_items),
                    related_party_fen=sum(item.related_party_fen for item in period_items),
                )
            )
        return CollectiveIncomeSeries(
            from_=date_from,
            to=date_to,
            group_by=group_by,
            region_code=root.code,
            items=items,
            total_fen=sum(item.total_fen for item in items),
            related_party_fen=sum(item.related_party_fen for item in items),
            interval=interval,
            periods=periods,
        )
    return CollectiveIncomeReport(
        from_=date_from,
        to=date_to,
        group_by=group_by,
        region_code=root.code,
        items=items,
        total_fen=sum(item.total_fen for item in items),
        related_party_fen=sum(item.related_party_fen for item in items),
    )
