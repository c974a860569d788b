"""HMAC signatures of the local store's upload policies and file URLs (pure functions).

The keys are derived from the JWT secret with distinct labels, so a token signature can never
pass for an upload or URL signature and the other way round, and no extra secret is needed.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
from dataclasses import dataclass

from coopmarket.core.mac import HmacSha256

UPLOAD_LABEL = b"coopmarket/storage/local/upload-policy/v1"
URL_LABEL = b"coopmarket/storage/local/file-url/v1"
# URLs signed within one step share their expiry (and so are byte-identical: cacheable).
MAX_URL_STEP_SECONDS = 3600


def derive_key(secret: str, label: bytes) -> bytes:
    """A signing key for one purpose, derived from ``secret``."""
    return hmac.new(secret.encode(), label, hashlib.sha256).digest()


@functools.lru_cache(maxsize=16)
def _signer(key: bytes) -> HmacSha256:
    return HmacSha256(key)


def _mac(key: bytes, message: str) -> str:
    # A list signs each cover's URL: the key's HMAC states are hashed once (core/mac.py).
    return _signer(key).hexdigest(message.encode())


@dataclass(frozen=True)
class UploadPolicy:
    """What one signed upload may store: exactly ``key``, of ``content_type``, at most ``max_bytes``,
    before ``expires`` (Unix seconds)."""

    key: str
    content_type: str
    max_bytes: int
    expires: int


def encode_policy(signing_key: bytes, policy: UploadPolicy) -> tuple[str, str]:
    """``(policy, signature)`` form fields for ``policy``."""
    document = json.dumps(
        {"k": policy.key, "t": policy.content_type, "n": policy.max_bytes, "e": policy.expires},
        separators=(",", ":"),
    ).encode()
    encoded = base64.urlsafe_b64encode(document).decode().rstrip("=")
    return encoded, _mac(signing_key, encoded)


def decode_policy(signing_key: bytes, encoded: str, signature: str) -> UploadPolicy | None:
    """The policy when ``signature`` is ours for ``encoded``; ``None`` otherwise (never raises)."""
    if not hmac.compare_digest(_mac(signing_key, encoded), signature):
        return None
    try:
        document = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
        policy = UploadPolicy(
            key=document["k"], content_type=document["t"], max_bytes=document["n"], expires=document["e"]
        )
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None
    if not (
        isinstance(policy.key, str)
        and isinstance(policy.content_type, str)
        and isinstance(policy.max_bytes, int)
        and isinstance(policy.expires, int)
    ):
        return None
    return policy


def url_expiry(now: int, ttl: int) -> int:
    """An expiry at least ``ttl`` seconds after ``now``, rounded up to a step so that URLs signed
    close together are equal (a browser or CDN can cache them)."""
    step = max(1, min(MAX_URL_STEP_SECONDS, ttl // 4))
    return -(-(now + ttl) // step) * step


def sign_url(signing_key: bytes, key: str, expires: int) -> str:
    return _mac(signing_key, f"{key}\n{expires}")


def url_signature_is_valid(signing_key: bytes, key: str, expires: int, signature: str, now: int) -> bool:
    return now < expires and hmac.compare_digest(sign_url(signing_key, key, expires), signature)


__all__ = [
    "UploadPolicy",
    "decode_policy",
    "derive_key",
    "encode_policy",
    "sign_url",
    "url_expiry",
    "url_signature_is_valid",
]
