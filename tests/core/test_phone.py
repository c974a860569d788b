"""Mainland mobile numbers: validation and masking."""

from __future__ import annotations

import msgspec
import pytest

from coopmarket.accounts.schemas import RegisterIn
from coopmarket.core.phone import is_valid_phone, mask_phone


@pytest.mark.parametrize("phone", ["13812345678", "19912345678", "15000000000"])
def test_mainland_mobile_numbers_are_valid(phone: str) -> None:
    assert is_valid_phone(phone)


@pytest.mark.parametrize(
    "phone",
    [
        "12812345678",  # second digit must be 3-9
        "1381234567",  # ten digits
        "138123456789",  # twelve digits
        "+8613812345678",  # country code
        "138-1234-5678",
        "1381234567a",
        "13812345678\n",
        "",
    ],
)
def test_other_strings_are_not_valid(phone: str) -> None:
    assert not is_valid_phone(phone)


def test_masking_keeps_the_first_three_and_last_four_digits() -> None:
    assert mask_phone("13812345678") == "138****5678"


def test_masking_a_short_number_keeps_only_its_last_two_digits() -> None:
    assert mask_phone("12345") == "***45"


def test_masking_nothing_is_nothing() -> None:
    assert mask_phone(None) is None


def test_a_number_with_a_trailing_newline_is_refused_at_the_api_edge() -> None:
    # msgspec searches with the pattern, where Python's "$" would accept a trailing newline.
    body = b'{"phone": "13812345678\\n", "password": "long enough", "display_name": "x"}'
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(body, type=RegisterIn)
