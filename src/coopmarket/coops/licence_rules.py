"""The brand licence's life, as pure rules (no I/O): statuses, transitions, expiry by date.

applied → granted → suspended ⇄ granted (a grant reinstates a suspended licence, after the same
certificate check), and applied / granted / suspended → revoked. A licence whose ``valid_to`` has
passed is *expired* by date alone: nothing needs to run for the badge to go, and a listing by
status agrees with what each licence answers.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum


class LicenceStatus(StrEnum):
    APPLIED = "applied"
    GRANTED = "granted"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    EXPIRED = "expired"  # derived: never stored


class LicenceAction(StrEnum):
    APPLY = "apply"
    GRANT = "grant"
    SUSPEND = "suspend"
    REVOKE = "revoke"


# Stored statuses that turn into "expired" once the term is over (a revoked licence stays revoked).
EXPIRABLE = frozenset({LicenceStatus.APPLIED, LicenceStatus.GRANTED, LicenceStatus.SUSPENDED})
STORED = frozenset({*EXPIRABLE, LicenceStatus.REVOKED})

# action -> (stored statuses it applies to, stored status it leads to)
TRANSITIONS: dict[LicenceAction, tuple[frozenset[LicenceStatus], LicenceStatus]] = {
    LicenceAction.GRANT: (frozenset({LicenceStatus.APPLIED, LicenceStatus.SUSPENDED}), LicenceStatus.GRANTED),
    LicenceAction.SUSPEND: (frozenset({LicenceStatus.GRANTED}), LicenceStatus.SUSPENDED),
    LicenceAction.REVOKE: (
        frozenset({LicenceStatus.APPLIED, LicenceStatus.GRANTED, LicenceStatus.SUSPENDED}),
        LicenceStatus.REVOKED,
    ),
}
REASON_REQUIRED = frozenset({LicenceAction.SUSPEND, LicenceAction.REVOKE})


def effective_status(stored: str, valid_to: date, today: date) -> LicenceStatus:
    """What a licence is on ``today``: its stored status, or ``expired`` once ``valid_to`` is past."""
    status = LicenceStatus(stored)
    if status in EXPIRABLE and today > valid_to:
        return LicenceStatus.EXPIRED
    return status


def is_in_force(stored: str, valid_from: date, valid_to: date, today: date) -> bool:
    """Granted, and ``today`` within its term: the products it names show the brand badge."""
    return stored == LicenceStatus.GRANTED and valid_from <= today <= valid_to


class TransitionRefused(Exception):
    """``action`` does not apply; ``expired`` tells the licence's term is over."""

    def __init__(self, action: LicenceAction, status: LicenceStatus) -> None:
        super().__init__(f"cannot {action} a licence that is {status}")
        self.action = action
        self.status = status

    @property
    def expired(self) -> bool:
        return self.status == LicenceStatus.EXPIRED


def transition(action: LicenceAction, stored: str, valid_to: date, today: date) -> LicenceStatus:
    """The stored status ``action`` leads to; raises ``TransitionRefused`` when it does not apply
    (including any decision on an expired licence)."""
    sources, target = TRANSITIONS[action]
    current = effective_status(stored, valid_to, today)
    if current == LicenceStatus.EXPIRED or current not in sources:
        raise TransitionRefused(action, current)
    return target


def licence_number(prefix: str, year: int, sequence: int) -> str:
    """``YFSP-2026-0001``: prefix, the year of the grant, the year's sequence (at least 4 digits)."""
    if sequence < 1:
        raise ValueError("sequence starts at 1")
    return f"{prefix}-{year}-{sequence:04d}"
