"""Cursor pagination shared by every list endpoint."""

from __future__ import annotations

import base64
import json
from typing import Any

from coopmarket.core.errors import FieldError, ValidationFailed

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def encode_cursor(values: list[Any]) -> str:
    """Opaque cursor from the sort key of the last item returned."""
    raw = json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    """The sort key inside ``cursor``; a malformed cursor is a 422 ``invalid_cursor``."""
    if cursor is None or cursor == "":
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            "The cursor is not one this API issued.",
            code="invalid_cursor",
            errors=[FieldError("cursor", "malformed cursor")],
        ) from exc
    if not isinstance(values, list) or len(values) != arity:
        raise ValidationFailed(
            "The cursor does not fit this listing.",
            code="invalid_cursor",
            errors=[FieldError("cursor", "cursor from another listing or sort order")],
        )
    return values
