"""Rent schedules: a contract's term cut into periods, and the rent of each. Pure.

Rules (docs/API-NOTES.md, "Village contracts"):

- Periods are counted from the first day of the term, as the Civil Code counts periods in months
  and years (Art. 202): a period ends on the day before the corresponding day of the month it
  reaches; when that month has no corresponding day (31 August + 6 months), the period ends on the
  last day of the month. Every boundary is counted from the first day of the term, so 31 January
  never drifts to the 28th, and a term starting on 29 February has full years ending on 28 February.
- The rent of a full period is the annual rent times its months / 12. A period cut short by the
  end of the term is charged pro rata by days of that period (so a leap day is neither charged
  twice nor lost). ``single`` is one payment of the whole term: full contract years at the annual
  rent and a final part year pro rata by days of that year.
- Within each contract year the instalments are split with the largest-remainder method, so every
  full year sums exactly to the annual rent and the schedule sums to the contract's total rent.
- Rent is paid in advance: an instalment is due on the first day of its period.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from itertools import groupby

from coopmarket.core.money import allocate

YEARLY = "yearly"
HALF_YEARLY = "half_yearly"
QUARTERLY = "quarterly"
SINGLE = "single"
SCHEDULES = (YEARLY, HALF_YEARLY, QUARTERLY, SINGLE)
PERIOD_MONTHS = {YEARLY: 12, HALF_YEARLY: 6, QUARTERLY: 3}
ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Period:
    """``start``..``end`` (inclusive) of a period whose full length would run to ``full_end``."""

    start: date
    end: date
    full_end: date
    months: int

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def full_days(self) -> int:
        return (self.full_end - self.start).days + 1

    @property
    def is_full(self) -> bool:
        return self.end == self.full_end


@dataclass(frozen=True, slots=True)
class ScheduledInstalment:
    seq: int
    period_start: date
    period_end: date
    due_on: date
    amount_fen: int


def corresponding_day(anchor: date, months: int) -> date:
    """The day ``months`` after ``anchor`` with the same day of the month; when that month is too
    short, the first day of the next month (so the period before it ends on the month's last day)."""
    years, month_index = divmod(anchor.month - 1 + months, 12)
    year, month = anchor.year + years, month_index + 1
    last = calendar.monthrange(year, month)[1]
    if anchor.day <= last:
        return date(year, month, anchor.day)
    return date(year, month, last) + ONE_DAY


def add_years_clamped(day: date, years: int) -> date:
    """The same day ``years`` later (or earlier); 29 February becomes 28 February."""
    year = day.year + years
    return date(year, day.month, min(day.day, calendar.monthrange(year, day.month)[1]))


def term_exceeds_years(starts_on: date, ends_on: date, years: int) -> bool:
    """Whether ``starts_on..ends_on`` is longer than ``years`` years (counted as periods are)."""
    return ends_on >= corresponding_day(starts_on, 12 * years)


def periods(starts_on: date, ends_on: date, months: int) -> list[Period]:
    """The periods of ``months`` months covering ``starts_on..ends_on``; the last may be cut short."""
    if ends_on < starts_on:
        raise ValueError("a term ends on or after the day it starts")
    out: list[Period] = []
    k = 0
    start = starts_on
    while start <= ends_on:
        next_start = corresponding_day(starts_on, (k + 1) * months)
        full_end = next_start - ONE_DAY
        out.append(Period(start, min(full_end, ends_on), full_end, months))
        k += 1
        start = next_start
    return out


def _exact_rent(annual_rent_fen: int, period: Period) -> Fraction:
    """Annual rent × months / 12 × days covered / days of the full period."""
    return Fraction(annual_rent_fen * period.months, 12) * Fraction(period.days, period.full_days)


def _round_half_up(value: Fraction) -> int:
    return int(value + Fraction(1, 2)) if value >= 0 else -int(-value + Fraction(1, 2))


def _split_year(total_fen: int, exact: Sequence[Fraction]) -> list[int]:
    """``total_fen`` split over periods in proportion to their exact rents (largest remainder)."""
    if len(exact) == 1:
        return [total_fen]
    denominator = math.lcm(*(share.denominator for share in exact))
    weights = [int(share * denominator) for share in exact]
    if sum(weights) == 0:
        return [0] * len(exact)
    return allocate(total_fen, weights)


def _year_of(period_index: int, months: int) -> int:
    return period_index * months // 12


def build(starts_on: date, ends_on: date, annual_rent_fen: int, schedule: str) -> list[ScheduledInstalment]:
    """The instalments of a term at ``annual_rent_fen`` paid on ``schedule``; they sum to ``total_rent``.

    A period whose rent rounds to 0 fen (a day or two at a tiny rent) has no instalment.
    """
    if annual_rent_fen < 0:
        raise ValueError("rent is not negative")
    if schedule == SINGLE:
        amount = total_rent(starts_on, ends_on, annual_rent_fen, schedule)
        return [ScheduledInstalment(1, starts_on, ends_on, starts_on, amount)] if amount else []
    months = PERIOD_MONTHS[schedule]
    cut = periods(starts_on, ends_on, months)
    charged: list[tuple[Period, int]] = []
    for _year, group in groupby(enumerate(cut), key=lambda item: _year_of(item[0], months)):
        members = [period for _, period in group]
        exact = [_exact_rent(annual_rent_fen, period) for period in members]
        amounts = _split_year(_round_half_up(sum(exact, Fraction(0))), exact)
        charged += [(period, amount) for period, amount in zip(members, amounts, strict=True) if amount]
    return [
        ScheduledInstalment(seq, period.start, period.end, period.start, amount)
        for seq, (period, amount) in enumerate(charged, start=1)
    ]


def total_rent(starts_on: date, ends_on: date, annual_rent_fen: int, schedule: str) -> int:
    """The rent of the whole term on ``schedule``: each contract year rounded to the fen, then summed."""
    months = 12 if schedule == SINGLE else PERIOD_MONTHS[schedule]
    cut = periods(starts_on, ends_on, months)
    total = 0
    for _year, group in groupby(enumerate(cut), key=lambda item: _year_of(item[0], months)):
        total += _round_half_up(sum((_exact_rent(annual_rent_fen, p) for _, p in group), Fraction(0)))
    return total


def cut_amount(amount_fen: int, period_start: date, period_end: date, last_day: date) -> int:
    """What an instalment of ``amount_fen`` for ``period_start..period_end`` still charges when the
    contract's last day becomes ``last_day``: all of it, a pro-rata share by days, or nothing."""
    if last_day >= period_end:
        return amount_fen
    if last_day < period_start:
        return 0
    covered = (last_day - period_start).days + 1
    whole = (period_end - period_start).days + 1
    return _round_half_up(Fraction(amount_fen * covered, whole))


__all__ = [
    "SCHEDULES",
    "Period",
    "ScheduledInstalment",
    "add_years_clamped",
    "build",
    "corresponding_day",
    "cut_amount",
    "periods",
    "term_exceeds_years",
    "total_rent",
]
