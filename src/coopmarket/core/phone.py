"""Mainland mobile numbers: validation and masking (PIPL: mask in every output not the owner's)."""

from __future__ import annotations

import re

# ``(?!\n)``: Python's ``$`` also matches before a trailing newline, and msgspec searches with
# this pattern, so without it "13812345678\n" would pass as a second, different number.
PHONE_PATTERN = r"^1[3-9][0-9]{9}(?!\n)$"
_PHONE_RE = re.compile(PHONE_PATTERN)


def is_valid_phone(phone: str) -> bool:
    return bool(_PHONE_RE.fullmatch(phone))


def mask_phone(phone: str | None) -> str | None:
    """``13812345678`` → ``138****5678``; anything shorter keeps only its last two digits."""
    if phone is None:
        return None
    if len(phone) >= 11:
        return f"{phone[:3]}****{phone[-4:]}"
    return "*" * max(len(phone) - 2, 0) + phone[-2:]
