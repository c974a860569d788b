"""Webhook signing secrets at rest: sealed with AES-256-GCM so that a copy of the database (a backup,
a read replica) does not let anyone forge our deliveries.

The key is SHA-256 over a fixed label and ``COOPMARKET_WEBHOOK_SECRET_KEY`` (or, unset, the JWT
secret), so it lives in the environment, never in the database. Each secret has its own random
96-bit nonce; the subscription's id is the associated data (a sealed secret copied onto another
subscription does not open).
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from coopmarket.settings import Settings

_LABEL = b"coopmarket webhook secrets v1\x00"
_VERSION = "v1"


def _key(settings: Settings) -> bytes:
    material = settings.webhook_secret_key or settings.jwt_secret
    return hashlib.sha256(_LABEL + material.get_secret_value().encode()).digest()


def seal(settings: Settings, subscription_id: str, secret: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_key(settings)).encrypt(nonce, secret.encode(), subscription_id.encode())
    return f"{_VERSION}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def unseal(settings: Settings, subscription_id: str, sealed: str) -> str:
    version, _, data = sealed.partition(":")
    if version != _VERSION:
        raise ValueError(f"unknown sealing {version!r}")
    raw = base64.urlsafe_b64decode(data)
    return AESGCM(_key(settings)).decrypt(raw[:12], raw[12:], subscription_id.encode()).decode()
