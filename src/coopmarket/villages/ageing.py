"""How long an instalment has been in arrears, in the bands the district reports. Pure.

An instalment is in arrears on every day after its due date while something of it is unpaid. On
``as_of`` it is ``as_of - due_on`` days overdue, and falls in the first band that holds it:
at most 90 days, at most one year, at most three years, older. Years are calendar years (a debt
due on 29 February is a year overdue on 28 February of the next year).
"""

from __future__ import annotations

from datetime import date

from coopmarket.villages.schedule import add_years_clamped

WITHIN_90_DAYS = "within_90_days"
WITHIN_1_YEAR = "within_1_year"
WITHIN_3_YEARS = "within_3_years"
OLDER = "older"
BANDS = (WITHIN_90_DAYS, WITHIN_1_YEAR, WITHIN_3_YEARS, OLDER)
BAND_NAMES = {
    WITHIN_90_DAYS: "90天以内",
    WITHIN_1_YEAR: "90天至1年",
    WITHIN_3_YEARS: "1至3年",
    OLDER: "3年以上",
}


def is_in_arrears(due_on: date, as_of: date) -> bool:
    return due_on < as_of


def days_overdue(due_on: date, as_of: date) -> int:
    return (as_of - due_on).days


def band(due_on: date, as_of: date) -> str:
    """The age band of an instalment due on ``due_on`` that is still unpaid on ``as_of``."""
    if not is_in_arrears(due_on, as_of):
        raise ValueError("not in arrears before its due date has passed")
    if days_overdue(due_on, as_of) <= 90:
        return WITHIN_90_DAYS
    if as_of <= add_years_clamped(due_on, 1):
        return WITHIN_1_YEAR
    if as_of <= add_years_clamped(due_on, 3):
        return WITHIN_3_YEARS
    return OLDER


def instalment_status(amount_fen: int, paid_fen: int, written_off_fen: int, due_on: date, today: date) -> str:
    """``paid``, ``written_off`` (settled with a write-off), ``in_arrears`` (unpaid after its due
    date) or ``due`` (not yet due, or due today)."""
    if paid_fen >= amount_fen:
        return "paid"
    if paid_fen + written_off_fen >= amount_fen:
        return "written_off"
    if is_in_arrears(due_on, today):
        return "in_arrears"
    return "due"


__all__ = [
    "BANDS",
    "BAND_NAMES",
    "OLDER",
    "WITHIN_1_YEAR",
    "WITHIN_3_YEARS",
    "WITHIN_90_DAYS",
    "band",
    "days_overdue",
    "instalment_status",
    "is_in_arrears",
]
