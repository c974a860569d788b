"""Ids: 26 Crockford base32 characters, 10 of milliseconds then 16 random, sorting by time."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from coopmarket.core import ids

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def reference(value: int, length: int) -> str:
    """The plain digit-by-digit encoding the ids were first written with."""
    out = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        out.append(ALPHABET[rem])
    return "".join(reversed(out))


@given(st.integers(0, 2**50 - 1), st.integers(0, 2**80 - 1))
def test_the_fast_encoding_writes_the_same_characters(ms: int, rand: int) -> None:
    assert ids._encode26(ms << 80 | rand) == reference(ms, 10) + reference(rand, 16)


@given(st.lists(st.tuples(st.integers(0, 2**50 - 1), st.integers(0, 2**80 - 1)), min_size=2, max_size=20))
def test_ids_sort_as_their_time_and_sequence(pairs: list[tuple[int, int]]) -> None:
    encoded = {ids._encode26(ms << 80 | rand): (ms, rand) for ms, rand in pairs}
    assert [encoded[e] for e in sorted(encoded)] == sorted(set(pairs))


def test_new_ids_are_26_characters_and_grow() -> None:
    made = [ids.new_id() for _ in range(1000)]
    assert all(len(i) == 26 and set(i) <= set(ALPHABET) for i in made)
    assert made == sorted(made) and len(set(made)) == len(made)
