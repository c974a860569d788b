"""居民身份证号码 (GB 11643-1999): 17 digits and a check character (ISO 7064 MOD 11-2), and masking."""

from __future__ import annotations

import re
from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_SHAPE = re.compile(r"^[1-9][0-9]{16}[0-9X]$")


def normalise(value: str) -> str:
    """Trimmed, the check character ``x`` written upper case."""
    return value.strip().upper()


def check_character(first17: str) -> str:
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def is_valid(value: str) -> bool:
    """18 characters, a real date of birth, and the right check character."""
    if not _SHAPE.match(value):
        return False
    try:
        date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return check_character(value[:17]) == value[17]


def mask(value: str | None) -> str | None:
    """``370***********123X``: the first three and last four characters only."""
    if value is None:
        return None
    return value[:3] + "*" * (len(value) - 7) + value[-4:]
