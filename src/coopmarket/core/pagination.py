"""Cursor pagination shared by every list endpoint.

A cursor is the sort key of the last item returned, as JSON in URL-safe base64, followed by an
HMAC of it (``payload.signature``): a client can hand back only what the API issued, so no forged
value (an integer larger than its column, a NUL in an id, a string where a number belongs) ever
reaches SQL. A cursor that does not verify is 422 ``invalid_cursor``. The key is derived from the
JWT secret (``configure_cursor_key``, called by ``create_app``), so every worker of a deployment
accepts the cursors of the others; until it is configured a random per-process key is used.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from typing import Any

from coopmarket.core.errors import FieldError, ValidationFailed
from coopmarket.core.mac import HmacSha256

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_SIGNATURE_BYTES = 12
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

_signer = HmacSha256(os.urandom(32))


def configure_cursor_key(secret: bytes) -> None:
    """Sign cursors with a key derived from ``secret`` (the same on every worker)."""
    global _signer
    _signer = HmacSha256(hmac.new(secret, b"coopmarket pagination cursor v1", hashlib.sha256).digest())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii"))


def _signature(payload: str) -> str:
    # HMAC-SHA256, the key's states hashed once (core/mac.py: hmac.digest costs several times more).
    return _b64(_signer.digest(payload.encode("ascii"))[:_SIGNATURE_BYTES])


def encode_cursor(values: list[Any]) -> str:
    """Opaque, signed cursor from the sort key of the last item returned."""
    payload = _b64(json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode())
    return f"{payload}.{_signature(payload)}"


def _invalid(message: str, detail: str = "The cursor is not one this API issued.") -> ValidationFailed:
    return ValidationFailed(detail, code="invalid_cursor", errors=[FieldError("cursor", message)])


def _plain(value: Any) -> bool:
    """A value a cursor may carry: an id-like string or a 64-bit integer."""
    if isinstance(value, str):
        return len(value) <= 200 and value.isprintable()
    return isinstance(value, int) and not isinstance(value, bool) and _INT64_MIN <= value <= _INT64_MAX


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    """The sort key inside ``cursor``; a cursor the API did not issue is a 422 ``invalid_cursor``."""
    if cursor is None or cursor == "":
        return None
    payload, _, signature = cursor.rpartition(".")
    if (
        not payload
        or not cursor.isascii()
        or not hmac.compare_digest(signature.encode(), _signature(payload).encode())
    ):
        raise _invalid("malformed or altered cursor")
    try:
        values = json.loads(_unb64(payload))
    except (ValueError, UnicodeDecodeError) as exc:  # pragma: no cover - only if the key leaked
        raise _invalid("malformed cursor") from exc
    if not isinstance(values, list) or len(values) != arity or not all(_plain(v) for v in values):
        raise _invalid("cursor from another listing or sort order", "The cursor does not fit this listing.")
    return values
