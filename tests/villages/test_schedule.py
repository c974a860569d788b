"""Rent schedules: periods counted as the Civil Code counts them, rent split to the fen. Pure."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coopmarket.villages import schedule
from coopmarket.villages.schedule import build, corresponding_day, cut_amount, total_rent


def rows(items: list[schedule.ScheduledInstalment]) -> list[tuple[str, str, str, int]]:
    return [
        (i.period_start.isoformat(), i.period_end.isoformat(), i.due_on.isoformat(), i.amount_fen)
        for i in items
    ]


def test_three_whole_years_paid_yearly_are_three_equal_instalments_due_on_each_anniversary() -> None:
    assert rows(build(date(2026, 1, 1), date(2028, 12, 31), 5_000_000, "yearly")) == [
        ("2026-01-01", "2026-12-31", "2026-01-01", 5_000_000),
        ("2027-01-01", "2027-12-31", "2027-01-01", 5_000_000),
        ("2028-01-01", "2028-12-31", "2028-01-01", 5_000_000),
    ]


def test_a_leap_year_is_a_whole_year_and_costs_the_annual_rent() -> None:
    # 2028 has 366 days; a year is a year
    assert rows(build(date(2028, 1, 1), date(2028, 12, 31), 3_650_000, "yearly")) == [
        ("2028-01-01", "2028-12-31", "2028-01-01", 3_650_000)
    ]


def test_a_term_starting_on_29_february_has_full_years_ending_on_28_february() -> None:
    assert rows(build(date(2024, 2, 29), date(2029, 2, 28), 1_000_000, "yearly")) == [
        ("2024-02-29", "2025-02-28", "2024-02-29", 1_000_000),
        ("2025-03-01", "2026-02-28", "2025-03-01", 1_000_000),
        ("2026-03-01", "2027-02-28", "2026-03-01", 1_000_000),
        ("2027-03-01", "2028-02-28", "2027-03-01", 1_000_000),
        ("2028-02-29", "2029-02-28", "2028-02-29", 1_000_000),
    ]


def test_half_years_from_31_august_end_on_the_last_day_of_february() -> None:
    assert rows(build(date(2023, 8, 31), date(2025, 8, 30), 1_000_001, "half_yearly")) == [
        ("2023-08-31", "2024-02-29", "2023-08-31", 500_001),  # leap February
        ("2024-03-01", "2024-08-30", "2024-03-01", 500_000),
        ("2024-08-31", "2025-02-28", "2024-08-31", 500_001),
        ("2025-03-01", "2025-08-30", "2025-03-01", 500_000),
    ]


def test_quarters_split_each_year_to_the_fen_and_never_drift_from_the_31st() -> None:
    # 100,001 fen a year is 25,000.25 a quarter: each year's first quarter takes the extra fen
    assert rows(build(date(2024, 1, 31), date(2026, 1, 30), 100_001, "quarterly")) == [
        ("2024-01-31", "2024-04-30", "2024-01-31", 25_001),
        ("2024-05-01", "2024-07-30", "2024-05-01", 25_000),
        ("2024-07-31", "2024-10-30", "2024-07-31", 25_000),
        ("2024-10-31", "2025-01-30", "2024-10-31", 25_000),
        ("2025-01-31", "2025-04-30", "2025-01-31", 25_001),
        ("2025-05-01", "2025-07-30", "2025-05-01", 25_000),
        ("2025-07-31", "2025-10-30", "2025-07-31", 25_000),
        ("2025-10-31", "2026-01-30", "2025-10-31", 25_000),
    ]


def test_a_contract_ending_mid_quarter_pays_the_last_quarter_pro_rata_by_its_days() -> None:
    # The last quarter would run 2027-01-01..2027-03-31 (90 days); the term stops on 2027-02-14 (45 days)
    items = build(date(2026, 1, 1), date(2027, 2, 14), 1_200_000, "quarterly")
    assert rows(items)[-1] == ("2027-01-01", "2027-02-14", "2027-01-01", 150_000)
    assert [i.amount_fen for i in items[:4]] == [300_000] * 4
    assert sum(i.amount_fen for i in items) == total_rent(
        date(2026, 1, 1), date(2027, 2, 14), 1_200_000, "quarterly"
    )


def test_a_contract_ending_mid_year_in_a_leap_year_counts_the_leap_day_once() -> None:
    # Second year 2028-01-01..2028-12-31 has 366 days; the term ends 2028-02-29 (60 days)
    items = build(date(2027, 1, 1), date(2028, 2, 29), 3_660_000, "yearly")
    assert rows(items) == [
        ("2027-01-01", "2027-12-31", "2027-01-01", 3_660_000),
        ("2028-01-01", "2028-02-29", "2028-01-01", 600_000),
    ]


def test_a_single_payment_is_the_whole_rent_due_on_the_first_day() -> None:
    # Two full years and 2029-01-01..2029-06-30 (181 of 365 days)
    assert rows(build(date(2027, 1, 1), date(2029, 6, 30), 730_000, "single")) == [
        ("2027-01-01", "2029-06-30", "2027-01-01", 730_000 * 2 + 362_000)
    ]


def test_a_period_whose_rent_rounds_to_nothing_has_no_instalment() -> None:
    # 100 fen a year, quarterly, ending one day into a quarter: 25 × 1/90 fen rounds to 0
    items = build(date(2026, 1, 1), date(2026, 4, 1), 100, "quarterly")
    assert rows(items) == [("2026-01-01", "2026-03-31", "2026-01-01", 25)]


def test_corresponding_day_moves_to_the_first_of_the_next_month_when_the_month_is_short() -> None:
    assert corresponding_day(date(2024, 1, 31), 1) == date(2024, 3, 1)
    assert corresponding_day(date(2024, 2, 29), 12) == date(2025, 3, 1)
    assert corresponding_day(date(2024, 2, 29), 48) == date(2028, 2, 29)
    assert corresponding_day(date(2024, 5, 15), 3) == date(2024, 8, 15)


@pytest.mark.parametrize(
    ("last_day", "expected"),
    [
        (date(2026, 12, 31), 365_000),  # the whole period
        (date(2027, 3, 1), 365_000),  # after it
        (date(2026, 1, 31), 31_000),  # 31 of 365 days
        (date(2025, 12, 31), 0),  # before it
    ],
)
def test_cutting_an_instalment_keeps_the_days_up_to_the_new_last_day(last_day: date, expected: int) -> None:
    assert cut_amount(365_000, date(2026, 1, 1), date(2026, 12, 31), last_day) == expected


terms = st.tuples(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)),
    st.integers(min_value=0, max_value=12 * 366),
)


@settings(max_examples=300)
@given(
    term=terms,
    annual_rent=st.integers(min_value=1, max_value=10**11),
    name=st.sampled_from(schedule.SCHEDULES),
)
def test_any_schedule_covers_the_term_and_sums_to_the_total_rent(
    term: tuple[date, int], annual_rent: int, name: str
) -> None:
    starts_on, days = term
    ends_on = starts_on + timedelta(days=days)
    items = build(starts_on, ends_on, annual_rent, name)
    # The instalments sum exactly to the contract's total rent
    assert sum(i.amount_fen for i in items) == total_rent(starts_on, ends_on, annual_rent, name)
    months = 12 if name == "single" else schedule.PERIOD_MONTHS[name]
    cut = schedule.periods(starts_on, ends_on, months)
    # The periods tile the term with no gap and no overlap
    assert cut[0].start == starts_on and cut[-1].end == ends_on
    assert all(a.end + timedelta(days=1) == b.start for a, b in pairwise(cut))
    assert all(p.is_full for p in cut[:-1])
    # Every whole contract year costs exactly the annual rent
    per_year = 12 // months
    if name != "single":
        amounts = {(i.period_start, i.period_end): i.amount_fen for i in items}
        for year in range(len(cut) // per_year):
            group = cut[year * per_year : (year + 1) * per_year]
            if all(p.is_full for p in group):
                assert sum(amounts.get((p.start, p.end), 0) for p in group) == annual_rent
        # and each instalment is within one fen of its share of its year's total, which is the
        # year's exact rent rounded to the fen (so within one and a half fen of its exact rent)
        for period in cut:
            exact = Fraction(annual_rent * months, 12) * Fraction(period.days, period.full_days)
            assert abs(amounts.get((period.start, period.end), 0) - exact) < Fraction(3, 2)
    # Rent is due on the first day of each period
    assert all(i.due_on == i.period_start for i in items)
