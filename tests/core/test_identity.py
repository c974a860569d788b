"""Resident identity numbers (GB 11643-1999) and the masks of identifiers and names."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coopmarket.core.identity import (
    is_valid_resident_id,
    mask_identifier,
    mask_person_name,
    normalise_resident_id,
    resident_id_check_character,
)

# The standard's own example, and numbers built with a known check character.
VALID = ["11010519491231002X", "370704198001011232", "370702200002290015"]


@pytest.mark.parametrize("value", VALID)
def test_valid_numbers_pass(value: str) -> None:
    assert is_valid_resident_id(value)


def test_a_lower_case_x_and_spaces_are_normalised() -> None:
    assert normalise_resident_id(" 11010519491231002x ") == "11010519491231002X"
    assert is_valid_resident_id(" 11010519491231002x ")


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("110105194912310021", "wrong check character"),
        ("11010519491231002", "17 characters"),
        ("11010519491231002XX", "19 characters"),
        ("1101051949123100AX", "a letter among the digits"),
        ("110105194902300028", "30 February"),
        ("110105189912310027", "born before 1900"),
        ("１１０１０５１９４９１２３１００２X", "full-width digits"),
    ],
)
def test_invalid_numbers_fail(value: str, why: str) -> None:
    assert not is_valid_resident_id(value), why


def test_a_birth_date_after_today_fails() -> None:
    first17 = "37070420300101001"
    value = first17 + resident_id_check_character(first17)
    assert is_valid_resident_id(value)
    assert not is_valid_resident_id(value, today=date(2026, 6, 15))


@given(
    region=st.integers(110000, 659999),
    born=st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)),
    sequence=st.integers(0, 999),
    position=st.integers(0, 16),
    delta=st.integers(1, 9),
)
def test_any_single_digit_error_is_caught(
    region: int, born: date, sequence: int, position: int, delta: int
) -> None:
    # Given a well-formed number
    first17 = f"{region:06d}{born:%Y%m%d}{sequence:03d}"
    value = first17 + resident_id_check_character(first17)
    assert is_valid_resident_id(value)
    # When one of its first 17 digits is mistyped
    digits = list(first17)
    digits[position] = str((int(digits[position]) + delta) % 10)
    mistyped = "".join(digits) + value[17]
    # Then the check character no longer matches (mod 11 with weights prime to 11 catches it)
    assert resident_id_check_character("".join(digits)) != value[17]
    assert not is_valid_resident_id(mistyped)


def test_identifiers_keep_their_first_and_last_four_characters() -> None:
    assert mask_identifier("11010519491231002X") == "1101**********002X"
    assert mask_identifier("91350100M000100Y43") == "9135**********0Y43"
    assert mask_identifier(None) is None


def test_short_identifiers_hide_at_least_half() -> None:
    assert mask_identifier("12345678") == "12****78"
    assert mask_identifier("abc") == "***"


def test_person_names_keep_the_surname() -> None:
    assert mask_person_name("张三丰") == "张**"
    assert mask_person_name("欧阳娜娜") == "欧***"
    assert mask_person_name("王") == "*"
