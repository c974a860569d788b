"""Opaque, time-ordered identifiers (ULID layout: 48-bit milliseconds + 80 random bits)."""

from __future__ import annotations

import base64
import os
import threading

from coopmarket.core import clock

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
_lock = threading.Lock()
_last_ms = -1
_last_rand = 0


# RFC 4648 base32 (what the C encoder writes) to Crockford's, in one bytes.translate.
_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET.encode())


def _encode26(value: int) -> str:
    """``value`` (< 2**130) as 26 Crockford base32 characters, most significant first.

    The 20 bytes of the value are 32 base32 characters whose first six are zeros: the rest are
    the id. One C call instead of 26 divisions (every written row takes an id).
    """
    return base64.b32encode(value.to_bytes(20, "big")).translate(_CROCKFORD)[6:].decode()


def new_id() -> str:
    """A 26-character id that sorts by creation time, monotonic within one process."""
    global _last_ms, _last_rand
    ms = int(clock.now().timestamp() * 1000)
    with _lock:
        if ms <= _last_ms:
            ms = _last_ms
            _last_rand += 1
        else:
            _last_ms = ms
            _last_rand = int.from_bytes(os.urandom(10), "big") >> 1  # room to increment
        rand = _last_rand
    return _encode26(ms << 80 | rand)  # 10 characters of milliseconds, 16 of randomness
