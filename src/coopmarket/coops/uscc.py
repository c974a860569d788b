"""Unified Social Credit Code (GB 32100-2015): normalisation and the mod-31 check. Pure."""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1, 3, 9, 27, 19, 26, 16, ...
LENGTH = 18
COOPERATIVE_PREFIX = "93"  # authority 9 (market regulation), category 3 (farmers' cooperative)


def normalise(raw: str) -> str:
    """Input is trimmed and upper-cased before anything else."""
    return raw.strip().upper()


def check_character(first17: str) -> str:
    """The 18th character for the first 17 (which must be in the alphabet)."""
    total = sum(_VALUE[ch] * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def is_valid(code: str) -> bool:
    """True for a well-formed code whose check character matches (after normalising)."""
    code = normalise(code)
    if len(code) != LENGTH or any(ch not in _VALUE for ch in code):
        return False
    if not code[2:8].isdigit():  # positions 3–8: the administrative division code
        return False
    return check_character(code[:17]) == code[17]


def is_cooperative(code: str) -> bool:
    """Registered by market regulation as a farmers' professional cooperative (``93…``)."""
    return normalise(code).startswith(COOPERATIVE_PREFIX)
