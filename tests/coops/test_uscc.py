"""The GB 32100-2015 check: published codes, known-bad codes, and the mod-31 property."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coopmarket.coops import uscc

DATA = Path(__file__).resolve().parent.parent / "data"


def _vectors(name: str) -> list[str]:
    lines = (DATA / name).read_text("utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


VALID = _vectors("uscc_valid.txt")
INVALID = _vectors("uscc_invalid.txt")

alphabet_char = st.sampled_from(uscc.ALPHABET)
digit = st.sampled_from("0123456789")
# Positions 1–2 (authority, category), 3–8 (division code, digits), 9–17 (organisation code).
first17 = st.tuples(
    st.text(alphabet_char, min_size=2, max_size=2),
    st.text(digit, min_size=6, max_size=6),
    st.text(alphabet_char, min_size=9, max_size=9),
).map("".join)


def test_vector_files_are_all_read() -> None:
    assert len(VALID) == 207
    assert len(INVALID) == 8


@pytest.mark.parametrize("code", VALID)
def test_published_code_is_valid(code: str) -> None:
    assert uscc.is_valid(code) is True


@pytest.mark.parametrize("code", INVALID)
def test_bad_code_is_rejected(code: str) -> None:
    assert uscc.is_valid(code) is False


def test_worked_example_check_character_is_3() -> None:
    assert uscc.check_character("91350100M000100Y4") == "3"
    assert uscc.is_valid("91350100M000100Y43") is True


def test_input_is_trimmed_and_upper_cased() -> None:
    assert uscc.normalise("  91350100m000100y43\t") == "91350100M000100Y43"
    assert uscc.is_valid("  91350100m000100y43 ") is True


def test_weights_are_powers_of_three_mod_31() -> None:
    assert uscc.WEIGHTS == (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def test_division_code_must_be_digits() -> None:
    first = "91A50100M000100Y4"
    assert uscc.is_valid(first + uscc.check_character(first)) is False


@pytest.mark.parametrize(
    ("code", "expected"),
    [("93370704MA3C4QNK24", True), ("92340602MA2PBQAH7E", False), ("91350100M000100Y43", False)],
)
def test_cooperative_category_is_93(code: str, expected: bool) -> None:
    assert uscc.is_cooperative(code) is expected


@given(st.text(alphabet_char, min_size=17, max_size=17))
def test_check_character_makes_the_weighted_sum_divisible_by_31(first: str) -> None:
    values = [uscc.ALPHABET.index(ch) for ch in first + uscc.check_character(first)]
    weighted = sum(v * w for v, w in zip(values, (*uscc.WEIGHTS, 1), strict=True))
    assert weighted % 31 == 0


@given(first17)
def test_any_well_formed_body_with_its_check_character_is_valid(first: str) -> None:
    assert uscc.is_valid(first + uscc.check_character(first)) is True


@given(first17, st.integers(min_value=0, max_value=17), alphabet_char)
def test_changing_one_character_breaks_the_code(first: str, position: int, replacement: str) -> None:
    code = first + uscc.check_character(first)
    if replacement == code[position]:
        replacement = uscc.ALPHABET[(uscc.ALPHABET.index(replacement) + 1) % 31]
    changed = code[:position] + replacement + code[position + 1 :]
    assert changed != code
    assert uscc.is_valid(changed) is False
