"""Properties of the Art. 42-44 split: every part adds up exactly to its pool, at least the
patronage rate (never under 60%) goes by transaction volume, and each member's part is within one
fen of its exact share."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coopmarket.core.money import BPS_DENOMINATOR
from coopmarket.reports.distribution import MemberBasis, split
from coopmarket.reports.errors import PatronageBelowMinimum

members_strategy = st.lists(
    st.tuples(st.integers(0, 10**9), st.integers(0, 10**9)), min_size=1, max_size=12
).filter(lambda ms: any(v for v, _ in ms) and any(c for _, c in ms))


@given(
    surplus=st.integers(1, 10**12),
    reserve_bps=st.integers(0, BPS_DENOMINATOR),
    patronage_bps=st.integers(6000, BPS_DENOMINATOR),
    members=members_strategy,
)
def test_parts_sum_exactly_and_sixty_percent_goes_by_volume(
    surplus: int, reserve_bps: int, patronage_bps: int, members: list[tuple[int, int]]
) -> None:
    bases = [MemberBasis(f"m{i}", v, c) for i, (v, c) in enumerate(members)]
    result = split(surplus, reserve_bps, patronage_bps, bases)
    assert result.reserve_fen + result.distributable_fen == surplus
    assert result.patronage_pool_fen + result.capital_pool_fen == result.distributable_fen
    assert sum(m.patronage_fen for m in result.members) == result.patronage_pool_fen
    assert sum(m.capital_fen for m in result.members) == result.capital_pool_fen
    assert sum(m.reserve_share_fen for m in result.members) == result.reserve_fen
    assert sum(m.total_fen for m in result.members) == result.distributable_fen
    # At least the rate, so at least 60%, by transaction volume (exactly, no rounding below).
    assert result.patronage_pool_fen * BPS_DENOMINATOR >= patronage_bps * result.distributable_fen
    assert result.patronage_pool_fen * 10 >= 6 * result.distributable_fen
    assert (
        result.patronage_pool_fen * BPS_DENOMINATOR
        < patronage_bps * result.distributable_fen + BPS_DENOMINATOR
    )
    assert abs(Fraction(result.reserve_fen) - Fraction(surplus * reserve_bps, BPS_DENOMINATOR)) <= Fraction(
        1, 2
    )
    volume_total = sum(v for v, _ in members)
    capital_total = sum(c for _, c in members)
    for (volume, capital), part in zip(members, result.members, strict=True):
        assert part.patronage_fen >= 0 and part.capital_fen >= 0 and part.reserve_share_fen >= 0
        assert abs(part.patronage_fen - Fraction(result.patronage_pool_fen * volume, volume_total)) < 1
        assert abs(part.capital_fen - Fraction(result.capital_pool_fen * capital, capital_total)) < 1
        if volume == 0:
            assert part.patronage_fen == 0


@given(patronage_bps=st.integers(0, 5999), surplus=st.integers(1, 10**9))
def test_under_sixty_percent_is_refused(patronage_bps: int, surplus: int) -> None:
    with pytest.raises(PatronageBelowMinimum) as refused:
        split(surplus, 1000, patronage_bps, [MemberBasis("m", 1, 1)])
    assert "Art. 44" in str(refused.value.detail if hasattr(refused.value, "detail") else refused.value)


def test_the_worked_example_pools() -> None:
    result = split(40_000_000, 1000, 7000, [MemberBasis("a", 1, 1)])
    assert (result.reserve_fen, result.distributable_fen) == (4_000_000, 36_000_000)
    assert (result.patronage_pool_fen, result.capital_pool_fen) == (25_200_000, 10_800_000)
