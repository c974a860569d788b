"""Brand licence rules without I/O: transitions, expiry by date, numbers."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coopmarket.coops.licence_rules import (
    LicenceAction,
    LicenceStatus,
    TransitionRefused,
    effective_status,
    is_in_force,
    licence_number,
    transition,
)

TODAY = date(2026, 6, 1)
stored = st.sampled_from(["applied", "granted", "suspended", "revoked"])
days = st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31))


@pytest.mark.parametrize(
    ("action", "source", "target"),
    [
        (LicenceAction.GRANT, "applied", LicenceStatus.GRANTED),
        (LicenceAction.GRANT, "suspended", LicenceStatus.GRANTED),
        (LicenceAction.SUSPEND, "granted", LicenceStatus.SUSPENDED),
        (LicenceAction.REVOKE, "applied", LicenceStatus.REVOKED),
        (LicenceAction.REVOKE, "granted", LicenceStatus.REVOKED),
        (LicenceAction.REVOKE, "suspended", LicenceStatus.REVOKED),
    ],
)
def test_allowed_transitions(action: LicenceAction, source: str, target: LicenceStatus) -> None:
    assert transition(action, source, TODAY, TODAY) == target


@pytest.mark.parametrize(
    ("action", "source"),
    [
        (LicenceAction.GRANT, "granted"),
        (LicenceAction.GRANT, "revoked"),
        (LicenceAction.SUSPEND, "applied"),
        (LicenceAction.SUSPEND, "suspended"),
        (LicenceAction.SUSPEND, "revoked"),
        (LicenceAction.REVOKE, "revoked"),
    ],
)
def test_refused_transitions(action: LicenceAction, source: str) -> None:
    with pytest.raises(TransitionRefused) as refused:
        transition(action, source, TODAY, TODAY)
    assert not refused.value.expired


@given(status=stored, valid_to=days, today=days)
def test_a_licence_past_its_term_is_expired_unless_revoked(status: str, valid_to: date, today: date) -> None:
    effective = effective_status(status, valid_to, today)
    if today > valid_to and status != "revoked":
        assert effective == LicenceStatus.EXPIRED
    else:
        assert effective == LicenceStatus(status)


@given(status=stored, valid_from=days, length=st.integers(0, 2000), today=days)
def test_in_force_exactly_when_granted_and_today_in_term(
    status: str, valid_from: date, length: int, today: date
) -> None:
    valid_to = valid_from + timedelta(days=length)
    in_force = is_in_force(status, valid_from, valid_to, today)
    assert in_force == (status == "granted" and valid_from <= today <= valid_to)
    if in_force:
        assert effective_status(status, valid_to, today) == LicenceStatus.GRANTED


@given(status=stored, action=st.sampled_from(list(LicenceAction)[1:]), valid_to=days)
def test_no_decision_once_expired(status: str, action: LicenceAction, valid_to: date) -> None:
    with pytest.raises(TransitionRefused) as refused:
        transition(action, status, valid_to, valid_to + timedelta(days=1))
    assert refused.value.expired == (status != "revoked")


def test_numbers() -> None:
    assert licence_number("YFSP", 2026, 1) == "YFSP-2026-0001"
    assert licence_number("YFSP", 2026, 12345) == "YFSP-2026-12345"
    with pytest.raises(ValueError, match="starts at 1"):
        licence_number("YFSP", 2026, 0)
