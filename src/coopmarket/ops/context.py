"""The current request's id, for logs and error answers."""

from __future__ import annotations

import re
from contextvars import ContextVar

from coopmarket.core.ids import new_id

_request_id: ContextVar[str | None] = ContextVar("coopmarket_request_id", default=None)
# An id a proxy or client sent is kept only when it is short and plain, so it cannot inject
# anything into a log line or a header.
_ACCEPTABLE = re.compile(r"[A-Za-z0-9._-]{8,64}")


def current_request_id() -> str | None:
    return _request_id.get()


def begin_request(incoming: str | None) -> str:
    """Set (and return) the id of the request now starting: the caller's if acceptable, else a new one."""
    request_id = incoming if incoming and _ACCEPTABLE.fullmatch(incoming) else new_id()
    _request_id.set(request_id)
    return request_id
