"""Properties of the largest-remainder split (DOMAIN.md, Money)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from coopmarket.core.money import allocate, format_yuan

# Small values make ties between remainders common; large ones check exactness.
amounts = st.one_of(
    st.integers(min_value=-200, max_value=200), st.integers(min_value=-(10**12), max_value=10**12)
)
weight_lists = st.lists(
    st.one_of(st.integers(min_value=0, max_value=100), st.integers(min_value=0, max_value=10_000)),
    min_size=1,
    max_size=8,
).filter(lambda ws: sum(ws) > 0)


@given(amount=amounts, weights=weight_lists)
def test_allocate_parts_sum_to_the_whole(amount: int, weights: list[int]) -> None:
    # Given any amount and weights / When split / Then nothing is lost or created
    assert sum(allocate(amount, weights)) == amount


@given(amount=amounts, weights=weight_lists)
def test_allocate_each_part_is_within_one_fen_of_its_exact_share(amount: int, weights: list[int]) -> None:
    parts = allocate(amount, weights)
    total = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        assert abs(part - Fraction(amount * weight, total)) < 1


@given(amount=amounts, weights=weight_lists)
def test_allocate_zero_weight_gets_nothing(amount: int, weights: list[int]) -> None:
    parts = allocate(amount, weights)
    assert [p for p, w in zip(parts, weights, strict=True) if w == 0] == [0] * weights.count(0)


def _parts_by_weight(weights: list[int], parts: list[int]) -> dict[int, list[int]]:
    """The parts of each weight value, in index order."""
    grouped: dict[int, list[int]] = {}
    for weight, part in zip(weights, parts, strict=True):
        grouped.setdefault(weight, []).append(part)
    return grouped


# Few distinct small weights: remainders tie between different weights often.
small_weight_lists = st.lists(st.integers(min_value=0, max_value=12), min_size=2, max_size=6).filter(
    lambda ws: sum(ws) > 0
)
weights_and_permutation = st.one_of(small_weight_lists, weight_lists).flatmap(
    lambda ws: st.tuples(st.just(ws), st.permutations(ws))
)


@settings(max_examples=1000)  # a tie between different weights is rare in random draws
@given(amount=st.one_of(st.integers(min_value=-60, max_value=60), amounts), case=weights_and_permutation)
@example(amount=5, case=([30, 70], [70, 30]))
@example(amount=100, case=([1, 1, 1], [1, 1, 1]))
def test_allocate_permuting_weights_permutes_parts(amount: int, case: tuple[list[int], list[int]]) -> None:
    # Given weights and a permutation of them
    weights, permuted = case
    # When both are split
    original = allocate(amount, weights)
    moved = allocate(amount, permuted)
    # Then every weight keeps its part wherever it stands; between equal weights the lower index
    # comes first, so equal weights' parts read the same in index order
    assert _parts_by_weight(permuted, moved) == _parts_by_weight(weights, original)


@given(amount=amounts, weights=weight_lists)
def test_allocate_gives_equal_weights_parts_in_index_order(amount: int, weights: list[int]) -> None:
    # Given equal weights / When split / Then an extra fen goes to the lower index first
    for parts in _parts_by_weight(weights, allocate(amount, weights)).values():
        assert parts == sorted(parts, key=abs, reverse=True)
        assert parts[0] - parts[-1] <= 1


@given(amount=st.integers(min_value=1, max_value=10**12), weights=weight_lists)
def test_allocate_negative_amount_is_symmetric(amount: int, weights: list[int]) -> None:
    assert allocate(-amount, weights) == [-p for p in allocate(amount, weights)]


@pytest.mark.parametrize(
    ("amount", "weights", "expected"),
    [
        (100, [1, 1, 1], [34, 33, 33]),
        (5, [70, 30], [4, 1]),
        (5, [30, 70], [1, 4]),
        (0, [1, 2], [0, 0]),
        (1, [0, 5], [0, 1]),
    ],
)
def test_allocate_worked_examples(amount: int, weights: list[int], expected: list[int]) -> None:
    assert allocate(amount, weights) == expected


@pytest.mark.parametrize("weights", [[], [0, 0], [1, -1]])
def test_allocate_refuses_weights_that_cannot_split(weights: list[int]) -> None:
    with pytest.raises(ValueError):
        allocate(100, weights)


@pytest.mark.parametrize(
    ("fen", "text"), [(0, "0.00"), (5, "0.05"), (12345, "123.45"), (-1, "-0.01"), (-100, "-1.00")]
)
def test_format_yuan_is_exact(fen: int, text: str) -> None:
    assert format_yuan(fen) == text
