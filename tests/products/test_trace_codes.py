"""Trace codes without I/O: length and randomness, normalising what people type, display groups."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from coopmarket.products import trace_codes

codes = st.text(alphabet=trace_codes.ALPHABET, min_size=16, max_size=16)


def test_a_new_code_is_16_crockford_characters_with_80_bits() -> None:
    drawn = {trace_codes.new_trace_code() for _ in range(2000)}
    assert len(drawn) == 2000
    assert all(len(c) == 16 and set(c) <= set(trace_codes.ALPHABET) for c in drawn)
    assert len(trace_codes.ALPHABET) ** trace_codes.LENGTH == 2**80
    # Every position uses the whole alphabet (a fixed or narrow position would cut the entropy).
    for position in range(16):
        assert len({c[position] for c in drawn}) == 32


def test_the_alphabet_has_no_look_alikes() -> None:
    assert not set("ILOU") & set(trace_codes.ALPHABET)


def test_display_groups_by_four() -> None:
    assert trace_codes.display("7K3MQ9XD2F8PWT4H") == "7K3M-Q9XD-2F8P-WT4H"


@given(codes)
def test_what_a_label_shows_reads_back(code: str) -> None:
    assert trace_codes.normalise(trace_codes.display(code)) == code
    assert trace_codes.normalise(trace_codes.display(code).lower()) == code
    assert trace_codes.normalise(" ".join(code)) == code


@given(codes)
def test_look_alikes_typed_from_a_label_are_forgiven(code: str) -> None:
    typed = code.replace("0", "O").replace("1", "l")
    assert trace_codes.normalise(typed) == code


def test_what_cannot_be_a_code_is_none() -> None:
    assert trace_codes.normalise("") is None
    assert trace_codes.normalise("7K3MQ9XD2F8PWT4") is None  # 15 characters
    assert trace_codes.normalise("7K3MQ9XD2F8PWT4HH") is None  # 17
    assert trace_codes.normalise("7K3MQ9XD2F8PWT4U") is None  # U is not in the alphabet
    assert trace_codes.normalise("7K3M/Q9XD2F8PWT4H") is None
    assert trace_codes.normalise("7" * 10_000) is None
