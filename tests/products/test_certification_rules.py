"""Certificate rules without I/O: number formats per kind, validity windows, term coverage."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coopmarket.products import certification_rules as rules


@pytest.mark.parametrize(
    ("kind", "typed", "stored"),
    [
        ("green_food", "LB-15-1811030391A", "LB-15-1811030391A"),
        ("green_food", " lb－15－1811030391a ", "LB-15-1811030391A"),  # full-width dashes, lower case
        ("green_food", "ＬＢ—45—19010103981Ａ", "LB-45-19010103981A"),  # full-width letters, em dashes
        ("geographical_indication", "AGI01459", "AGI01459"),
        ("geographical_indication", "agi 01459", "AGI01459"),
        ("organic", "227OP2100127", "227OP2100127"),
        ("compliance_certificate", "HG-2026-0001", "HG-2026-0001"),
    ],
)
def test_numbers_are_normalised_and_accepted(kind: str, typed: str, stored: str) -> None:
    number = rules.normalise_number(typed)
    assert number == stored
    assert rules.number_matches(kind, number)


@pytest.mark.parametrize(
    ("kind", "typed"),
    [
        ("green_food", "AGI01459"),  # another kind's number
        ("green_food", "LB-1-1811030391A"),  # one-digit class
        ("green_food", "LB-15-12345"),  # too short a serial
        ("geographical_indication", "AGI1459X"),
        ("geographical_indication", "LB-15-1811030391A"),
        ("organic", "OP1"),
        ("organic", "有机证书"),
        ("compliance_certificate", "x" * 65),
    ],
)
def test_numbers_of_the_wrong_shape_are_refused(kind: str, typed: str) -> None:
    assert not rules.number_matches(kind, rules.normalise_number(typed))


def test_an_organic_certificate_runs_at_most_one_year() -> None:
    start = date(2026, 3, 1)
    assert rules.term_problem("organic", start, date(2027, 2, 28)) is None
    assert rules.term_problem("organic", start, date(2027, 3, 1)) == (
        "an organic certificate is valid for at most one year"
    )
    # Other kinds have no such limit (a green food certificate runs three years).
    assert rules.term_problem("green_food", start, date(2029, 2, 28)) is None
    assert rules.term_problem("green_food", start, date(2026, 2, 28)) == "valid_to is before valid_from"


def test_one_year_after_a_leap_day_is_the_28th() -> None:
    assert rules.one_year_after(date(2028, 2, 29)) == date(2029, 2, 28)


def test_validity_is_inclusive_and_never_for_a_withdrawn_certificate() -> None:
    window = (date(2026, 1, 1), date(2026, 12, 31))
    assert rules.is_valid_on("active", *window, date(2026, 1, 1))
    assert rules.is_valid_on("active", *window, date(2026, 12, 31))
    assert not rules.is_valid_on("active", *window, date(2025, 12, 31))  # not yet valid
    assert not rules.is_valid_on("active", *window, date(2027, 1, 1))  # expired
    assert not rules.is_valid_on("withdrawn", *window, date(2026, 6, 1))


def test_chained_renewals_cover_a_term_and_a_missing_day_is_found() -> None:
    term = (date(2026, 3, 1), date(2028, 2, 29))
    renewals = [(date(2026, 1, 1), date(2026, 12, 31)), (date(2027, 1, 1), date(2027, 12, 31))]
    assert rules.first_gap(renewals, *term) == date(2028, 1, 1)
    assert rules.first_gap([*renewals, (date(2028, 1, 1), date(2028, 6, 30))], *term) is None
    # A one-day hole between two certificates is a gap.
    assert rules.first_gap(
        [(date(2026, 1, 1), date(2026, 6, 30)), (date(2026, 7, 2), date(2029, 1, 1))], *term
    ) == (date(2026, 7, 1))
    assert rules.first_gap([], *term) == term[0]


days = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))
windows = st.lists(st.tuples(days, days).map(lambda w: (min(w), max(w))), max_size=6)


@given(windows=windows, start=days, length=st.integers(min_value=0, max_value=800))
def test_first_gap_agrees_with_checking_every_day(
    windows: list[tuple[date, date]], start: date, length: int
) -> None:
    end = start + timedelta(days=length)
    uncovered = [
        start + timedelta(days=i)
        for i in range(length + 1)
        if not any(a <= start + timedelta(days=i) <= b for a, b in windows)
    ]
    assert rules.first_gap(windows, start, end) == (uncovered[0] if uncovered else None)


@given(st.text(max_size=80))
def test_normalising_is_idempotent(raw: str) -> None:
    once = rules.normalise_number(raw)
    assert rules.normalise_number(once) == once
    assert once == once.upper() and not any(c.isspace() for c in once)
