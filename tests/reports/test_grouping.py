"""The pure parts of the report: bands, competition ranks, grouping up the tree, local days."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coopmarket.core import clock
from coopmarket.core.errors import ValidationFailed
from coopmarket.ledger.schemas import CollectiveIncomeRow
from coopmarket.regions.schemas import RegionOut
from coopmarket.reports import service

LIMITS = [5_000_000, 10_000_000, 50_000_000]


def test_band_names_come_from_the_limits() -> None:
    assert service.band_names(LIMITS) == ["shell", "under_100k", "under_500k", "over_500k"]
    assert service.band_names([100_000_000, 200_000_000]) == ["shell", "under_2m", "over_2m"]
    assert service.band_names([5_000_050]) == ["shell", "over_50000_50"]


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "shell"),
        (-5, "shell"),
        (4_999_999, "shell"),
        (5_000_000, "under_100k"),
        (9_999_999, "under_100k"),
        (10_000_000, "under_500k"),
        (49_999_999, "under_500k"),
        (50_000_000, "over_500k"),
    ],
)
def test_income_band_cuts_at_each_limit(total: int, band: str) -> None:
    assert service.income_band(total, LIMITS) == band


def test_competition_ranks_share_ties_and_skip() -> None:
    assert service.competition_ranks([5, 9, 5, 0, 9, 1]) == [3, 1, 3, 6, 1, 5]


@given(st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=30))
def test_a_rank_is_one_more_than_the_number_of_higher_totals(totals: list[int]) -> None:
    ranks = service.competition_ranks(totals)
    assert ranks == [1 + sum(other > total for other in totals) for total in totals]


def test_local_days_become_utc_instants() -> None:
    assert clock.local_days_to_utc(date(2026, 4, 1), date(2026, 4, 30), "Asia/Shanghai") == (
        datetime(2026, 3, 31, 16, 0, tzinfo=UTC),
        datetime(2026, 4, 30, 16, 0, tzinfo=UTC),
    )


def test_a_range_from_29_february_may_run_three_years_less_a_day() -> None:
    service.check_date_range(date(2024, 2, 29), date(2027, 2, 28))
    with pytest.raises(ValidationFailed):
        service.check_date_range(date(2024, 2, 29), date(2027, 3, 1))


def _region(code: str, level: str, parent: str | None) -> RegionOut:
    return RegionOut(code=code, name=f"n{code}", level=level, parent_code=parent)


# A district with one street; the street has a community holding one village and a village of its own.
TREE = [
    _region("370704", "district", None),
    _region("370704003", "street", "370704"),
    _region("370704003900", "community", "370704003"),
    _region("370704003200", "village", "370704003900"),
    _region("370704003201", "village", "370704003"),
]
ROWS = [
    CollectiveIncomeRow("370704003200", "operating_income", 700),
    CollectiveIncomeRow("370704003200", "subsidy_income", 50),
    CollectiveIncomeRow("370704003201", "other_income", 300),
    CollectiveIncomeRow("370704999999", "other_income", 1),  # not in the tree: in no item
]


def test_villages_in_a_community_count_towards_it_and_their_street() -> None:
    communities = service.group_income(
        TREE, ROWS, group_by="community", root_code="370704", band_limits_fen=LIMITS
    )
    streets = service.group_income(TREE, ROWS, group_by="street", root_code="370704", band_limits_fen=LIMITS)
    assert [(i.region_code, i.total_fen, i.by_category.subsidy_income) for i in communities] == [
        ("370704003900", 750, 50)
    ]
    assert [(i.region_code, i.total_fen) for i in streets] == [("370704003", 1050)]


def test_grouping_by_village_keeps_only_villages_under_the_root() -> None:
    items = service.group_income(
        TREE, ROWS, group_by="village", root_code="370704003900", band_limits_fen=LIMITS
    )
    assert [(i.region_code, i.total_fen, i.rank) for i in items] == [("370704003200", 750, 1)]
