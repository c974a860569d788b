"""Resident identity numbers (GB 11643-1999) and masking of identifiers and names. Pure.

PIPL: an identity number is sensitive personal information. It is stored only when given and is
masked (``mask_identifier``) in every answer except to those who keep the record.
"""

from __future__ import annotations

from datetime import date

LENGTH = 18
# Weights W_i = 2^(17 - i) mod 11 for positions 1..17; the check character indexes this string.
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"
EARLIEST_BIRTH_YEAR = 1900
MASK = "*"


def normalise_resident_id(raw: str) -> str:
    """Trimmed, with a lower-case ``x`` check character upper-cased."""
    return raw.strip().upper()


def resident_id_check_character(first17: str) -> str:
    """The 18th character for the first 17 digits: ``(Σ digit·weight) mod 11`` indexes ``10X98765432``."""
    if len(first17) != LENGTH - 1 or not first17.isascii() or not first17.isdigit():
        raise ValueError("the first 17 characters of a resident identity number are digits")
    total = sum(int(digit) * weight for digit, weight in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARACTERS[total % 11]


def is_valid_resident_id(raw: str, *, today: date | None = None) -> bool:
    """18 characters, 17 digits then the check character, and a real birth date (not after ``today``).

    The check is on the normalised value (``normalise_resident_id``). The six-digit region of
    first registration is not checked: codes of abolished counties stay valid for life.
    """
    value = normalise_resident_id(raw)
    if len(value) != LENGTH or not value[:17].isascii() or not value[:17].isdigit():
        return False
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if born.year < EARLIEST_BIRTH_YEAR or (today is not None and born > today):
        return False
    return resident_id_check_character(value[:17]) == value[17]


def mask_identifier(value: str | None) -> str | None:
    """Keep the first four and last four characters: ``370702198001011234`` → ``3707**********1234``.

    Shorter values keep less, so that at least half of any identifier is hidden.
    """
    if value is None:
        return None
    if len(value) >= 12:
        return value[:4] + MASK * (len(value) - 8) + value[-4:]
    keep = len(value) // 4
    return value[:keep] + MASK * (len(value) - 2 * keep) + (value[-keep:] if keep else "")


def mask_person_name(name: str) -> str:
    """A natural person's name for public pages: the first character (the surname) and one ``*`` per
    character hidden (``张三丰`` → ``张**``, ``欧阳娜娜`` → ``欧***``)."""
    stripped = name.strip()
    if len(stripped) <= 1:
        return MASK
    return stripped[0] + MASK * (len(stripped) - 1)


__all__ = [
    "is_valid_resident_id",
    "mask_identifier",
    "mask_person_name",
    "normalise_resident_id",
    "resident_id_check_character",
]
