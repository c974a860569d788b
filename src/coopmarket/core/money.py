"""Money in integer fen and the largest-remainder split. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

BPS_DENOMINATOR = 10_000


def allocate(amount_fen: int, weights: Sequence[int]) -> list[int]:
    """Split ``amount_fen`` by integer ``weights`` with the largest-remainder method.

    Every exact share is floored (exact rational arithmetic); the leftover fen go one each to
    the largest remainders; a tie goes to the larger weight, and between equal weights to the
    lower index, so the order of the weights does not matter (5 by 70:30 → 4/1, by 30:70 → 1/4).
    Parts sum to the whole and each is within one fen of its exact share. Negative amounts split
    symmetrically (``-allocate(-a, w)``).
    """
    if not weights:
        raise ValueError("weights must not be empty")
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    total = sum(weights)
    if total == 0:
        raise ValueError("weights must not all be zero")
    if amount_fen < 0:
        return [-part for part in allocate(-amount_fen, weights)]
    exact = [Fraction(amount_fen * w, total) for w in weights]
    floors = [int(e) for e in exact]  # exact >= 0, so int() floors
    leftover = amount_fen - sum(floors)
    # Largest remainder first; on a tie the larger weight, then the lower index.
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), -weights[i], i))
    for i in order[:leftover]:
        floors[i] += 1
    return floors


def format_yuan(amount_fen: int) -> str:
    """``12345`` → ``"123.45"``; exact, for exports and humans."""
    sign = "-" if amount_fen < 0 else ""
    whole, cents = divmod(abs(amount_fen), 100)
    return f"{sign}{whole}.{cents:02d}"
