"""The signature of an outgoing webhook (Stripe's scheme, our header name).

Each delivery carries ``Coopmarket-Signature: t=<unix seconds>,v1=<hex>``, where ``<hex>`` is
HMAC-SHA256, keyed with the subscription's secret, over ``f"{t}.".encode() + body`` (the exact
bytes of the request body). A subscriber recomputes it, compares in constant time, and refuses a
``t`` more than five minutes from its clock (a replayed old delivery). ``verify`` is the reference
implementation (the tests' subscriber uses it).
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "Coopmarket-Signature"
TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, *, now: float, tolerance: int = TOLERANCE_SECONDS) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds of ``now``."""
    fields: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        fields.setdefault(name, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).partition(",v1=")[2]
    return any(hmac.compare_digest(expected, candidate) for candidate in fields.get("v1", []))
