"""The current request's id, for logs and error answers."""

from __future__ import annotations

import os
import random
import re
import time
from contextvars import ContextVar

from coopmarket.core.ids import encode

_request_id: ContextVar[str | None] = ContextVar("coopmarket_request_id", default=None)
# An id a proxy or client sent is kept only when it is short and plain, so it cannot inject
# anything into a log line or a header.
_ACCEPTABLE = re.compile(r"[A-Za-z0-9._-]{8,64}")

# Request ids have the layout of ``core.ids.new_id`` (26 Crockford base32 characters: 10 of
# wall-clock milliseconds, then 16 of 80 random bits) but are made more cheaply: the wall clock
# rather than the one (movable) clock, no lock and no monotonic sequence (nothing sorts request
# ids within a millisecond), and the bits from a generator of their own seeded from the OS rather
# than a ``getrandom`` call each. ``new_id`` took about 18 us of a request's CPU in a running
# server. The generator is private, so the ids it shows callers say nothing about the state of
# the ``random`` module, and is reseeded in a forked child, so no two workers repeat a sequence.
_bits = random.Random(os.urandom(32))  # noqa: S311 (request ids are labels, not secrets)
os.register_at_fork(after_in_child=lambda: _bits.seed(os.urandom(32)))


def new_request_id() -> str:
    """A fresh request id: 26 characters, the first 10 the wall clock's milliseconds."""
    return encode(time.time_ns() // 1_000_000, _bits.getrandbits(80))


def current_request_id() -> str | None:
    return _request_id.get()


def begin_request(incoming: str | None) -> str:
    """Set (and return) the id of the request now starting: the caller's if acceptable, else a new one."""
    request_id = incoming if incoming and _ACCEPTABLE.fullmatch(incoming) else new_request_id()
    _request_id.set(request_id)
    return request_id
