"""Certificates as pure rules (no I/O): kinds, loose number formats, validity, term coverage.

DOMAIN.md: green food product numbers look like ``LB-15-1811030391A``, agricultural geographical
indications like ``AGI01459``, an organic certificate runs for one year, and the commitment
compliance certificate (承诺达标合格证) is numbered by whoever issues it. "Validate formats loosely;
track expiry": numbers are normalised (full-width characters, dashes and spaces as people type them
on a phone) and checked against a loose pattern per kind.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Literal

CertificationKind = Literal["green_food", "organic", "geographical_indication", "compliance_certificate"]
KINDS: tuple[str, ...] = ("green_food", "organic", "geographical_indication", "compliance_certificate")

# Loose patterns on the normalised number (upper case, no spaces, ASCII hyphens).
_PATTERNS: dict[str, re.Pattern[str]] = {
    # 绿色食品企业产品编号: LB-<2-digit product class>-<digits, typically 10-11><optional letter>
    "green_food": re.compile(r"LB-\d{2}-\d{6,16}[A-Z]{0,2}"),
    # 农产品地理标志登记证书编号: AGI + digits (AGI00001 … AGI03xxx today)
    "geographical_indication": re.compile(r"AGI\d{4,6}"),
    # 有机产品认证证书编号: certification body code, "OP" and a serial, e.g. 227OP2100127; loosely
    "organic": re.compile(r"[0-9A-Z][0-9A-Z/-]{5,39}"),
    # 承诺达标合格证: numbered by the producer; anything printable of sensible length
    "compliance_certificate": re.compile(r"[^\s]{1,64}"),
}
FORMAT_HINTS: dict[str, str] = {
    "green_food": "a green food product number such as LB-15-1811030391A",
    "geographical_indication": "a geographical indication number such as AGI01459",
    "organic": "an organic certificate number (6-40 letters, digits, - or /), such as 227OP2100127",
    "compliance_certificate": "the certificate's number as printed (at most 64 characters, no spaces)",
}
_DASHES = dict.fromkeys(map(ord, "‐‑‒–—―−－﹣"), "-")


def normalise_number(raw: str) -> str:
    """The number as stored: NFKC (full-width to ASCII), dashes unified, spaces removed, upper case.

    Repeated until nothing changes (a few passes at most): removing a space or upper-casing can
    leave a sequence that NFKC composes differently, and a stored number must normalise to itself.
    """
    text = raw
    for _ in range(4):
        again = "".join(unicodedata.normalize("NFKC", text).translate(_DASHES).split()).upper()
        if again == text:
            break
        text = again
    return text


def number_matches(kind: str, number: str) -> bool:
    """Whether the normalised ``number`` fits ``kind``'s loose format."""
    return _PATTERNS[kind].fullmatch(number) is not None


def one_year_after(day: date) -> date:
    """The same day a year later (29 February → 28 February)."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)


def term_problem(kind: str, valid_from: date, valid_to: date) -> str | None:
    """Why the validity window cannot be, or ``None``: from ≤ to; an organic certificate runs at
    most one year (valid_to no later than the day before the same date a year on)."""
    if valid_from > valid_to:
        return "valid_to is before valid_from"
    if kind == "organic" and valid_to >= one_year_after(valid_from):
        return "an organic certificate is valid for at most one year"
    return None


def is_valid_on(status: str, valid_from: date, valid_to: date, day: date) -> bool:
    """A standing (not withdrawn) certificate whose window contains ``day``."""
    return status == "active" and valid_from <= day <= valid_to


def first_gap(windows: Iterable[tuple[date, date]], start: date, end: date) -> date | None:
    """The first day of ``[start, end]`` that no window covers, or ``None`` when they cover it all.

    Windows are inclusive date ranges; windows that touch (one ends the day before the next
    begins) cover without a gap, so yearly renewals chain.
    """
    if start > end:
        return None
    covered_to = start - timedelta(days=1)  # every day up to this one is covered
    for window_from, window_to in sorted(windows):
        if window_from > covered_to + timedelta(days=1):
            break
        covered_to = max(covered_to, window_to)
        if covered_to >= end:
            return None
    return covered_to + timedelta(days=1)
