"""The object-storage interface every backend implements, and what it answers.

A backend does I/O and translation only: it never touches the database or a session. Keys are
``/``-separated relative names (``products/{product_id}/...``); :func:`check_key` refuses anything
that could escape a prefix or a directory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from coopmarket.core.errors import UpstreamUnavailable

# Lower-case letters, digits, ``_``, ``-`` and ``.`` in segments separated by single ``/``;
# no empty, ``.`` or ``..`` segment, no leading ``/``.
_KEY = re.compile(r"^[a-z0-9_-][a-z0-9_.-]{0,127}(/[a-z0-9_-][a-z0-9_.-]{0,127}){0,7}$")
MAX_KEY_LENGTH = 512


class StorageError(UpstreamUnavailable):
    """The store failed or could not be reached: 503 ``storage_unavailable`` (never the client's fault)."""

    default_code = "storage_unavailable"


class StorageConfigurationError(RuntimeError):
    """The store is not usable as configured (raised at start-up with an operator-facing message)."""


class InvalidKey(ValueError):
    """A key that is not one this app could have made."""


def is_valid_key(key: str) -> bool:
    """True for keys of the shape this app makes (no traversal, no absolute path, no odd bytes)."""
    return len(key) <= MAX_KEY_LENGTH and _KEY.fullmatch(key) is not None and ".." not in key


def check_key(key: str) -> str:
    if not is_valid_key(key):
        raise InvalidKey(f"not a storage key: {key[:80]!r}")
    return key


@dataclass(frozen=True)
class StoredObject:
    """What a ``head`` tells about a stored object."""

    size: int
    content_type: str | None


@dataclass(frozen=True)
class UploadTarget:
    """Where and how a client uploads one object directly to the store.

    ``method`` is ``POST``: multipart form data with every entry of ``fields`` (in order), then the
    file in the field ``file`` (what S3 presigned POST and ``wx.uploadFile`` send).
    """

    method: str
    url: str
    fields: dict[str, str]
    expires_at: datetime
    headers: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class ObjectStorage(Protocol):
    """One object store (local disk or S3). Async methods do I/O; ``url`` and ``upload_target`` are
    local computations, cheap enough for a list answer."""

    name: str

    async def check(self) -> None:
        """Raise :class:`StorageConfigurationError` with a clear message when the store is unusable."""
        ...

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key`` (replacing any object there)."""
        ...

    async def head(self, key: str) -> StoredObject | None:
        """Size and type of the object, or ``None`` when there is none."""
        ...

    async def read(self, key: str, *, length: int, start: int = 0) -> bytes | None:
        """At most ``length`` bytes from ``start`` (a ranged GET), or ``None`` when there is no object."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; removing a missing object is not an error."""
        ...

    def upload_target(self, key: str, *, content_type: str, max_bytes: int, expires_in: int) -> UploadTarget:
        """A signed, expiring direct-upload target for exactly ``key``, ``content_type`` and at most
        ``max_bytes``."""
        ...

    def url(self, key: str) -> str:
        """A URL a browser or mini-program can fetch the object from."""
        ...

    async def aclose(self) -> None:
        """Release connections (end of the app's lifespan)."""
        ...


__all__ = [
    "InvalidKey",
    "ObjectStorage",
    "StorageConfigurationError",
    "StorageError",
    "StoredObject",
    "UploadTarget",
    "check_key",
    "is_valid_key",
]
