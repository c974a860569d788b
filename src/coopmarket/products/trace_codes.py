"""Trace codes (pure): 16 Crockford base32 characters, 80 bits from ``secrets``.

Crockford's alphabet has no I, L, O or U, and reading a code back maps the look-alikes a person
types from a label (O → 0, I and L → 1), ignores case, spaces and hyphens. Codes are stored in the
normalised form and printed in four groups of four (``7K3M-Q9XD-2F8P-WT4H``).
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 16  # 16 × 5 = 80 random bits
GROUP = 4
_LOOK_ALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = str.maketrans("", "", " -_.\u00a0\u3000")
_ALLOWED = frozenset(ALPHABET)


def new_trace_code() -> str:
    """A fresh code in normalised form (80 bits from the operating system's CSPRNG)."""
    value = secrets.randbits(LENGTH * 5)
    chars = []
    for _ in range(LENGTH):
        value, digit = divmod(value, 32)
        chars.append(ALPHABET[digit])
    return "".join(chars)


def normalise(raw: str) -> str | None:
    """The stored form of what a person typed, or ``None`` when it cannot be a trace code."""
    if len(raw) > 64:
        return None
    code = raw.translate(_SEPARATORS).upper().translate(_LOOK_ALIKES)
    if len(code) != LENGTH or not set(code) <= _ALLOWED:
        return None
    return code


def display(code: str) -> str:
    """Grouped for a label: ``7K3M-Q9XD-2F8P-WT4H``."""
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))
