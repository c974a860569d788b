"""Password hashing (Argon2id) and JWT access tokens. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
# A hash to verify against when the phone is unknown, so both paths cost the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password-for-timing")


def configure_password_hashing(*, time_cost: int, memory_kib: int) -> None:
    """Set Argon2id's cost (from settings; the test suite lowers it). Existing hashes still verify."""
    global _hasher, _DUMMY_HASH
    if (_hasher.time_cost, _hasher.memory_cost) == (time_cost, memory_kib):
        return
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
    _DUMMY_HASH = _hasher.hash("not-a-real-password-for-timing")


ALGORITHM = "HS256"
_IAT_LEEWAY_SECONDS = 60


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; runs a full verification even for unknown users."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    token_version: int


def issue_token(
    *, user_id: str, token_version: int, secret: str, issuer: str, now: datetime, ttl: int
) -> str:
    payload = {
        "sub": user_id,
        "ver": token_version,
        "iss": issuer,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl)).timestamp()),
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


# Tokens whose signature, issuer and claims were verified, keyed by the exact token string with
# the secret and issuer it was verified under: PyJWT's decode (base64, JSON, HMAC, claim checks)
# was about 5% of a checkout's CPU, for the same few tokens over and over. Only what the signature
# proves is kept (user, version, issued, expires); the times are judged against the clock on every
# call (so a cached token still expires, and one "issued in the future" waits for the clock), and
# the caller still reads the user row every request (version, active), so signing out everywhere,
# a password change or a deactivation ends a cached token at once. A token that fails is never
# kept: a tampered token is a different string and is verified in full. Bounded: the oldest entry
# goes first when full.
VERIFIED_TOKENS_MAX = 4096


@dataclass(frozen=True, slots=True)
class _Verified:
    claims: TokenClaims
    issued: int
    expires: int


_verified: dict[tuple[str, str, str], _Verified] = {}


def _verify(token: str, secret: str, issuer: str) -> _Verified | None:
    """The signature, the issuer and the claims' presence and types (not yet the times)."""
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=issuer,
            # Times are checked below against the one clock, not the wall clock, so tests can move
            # time (PyJWT would refuse a token issued "in the future" by a clock moved forward).
            options={
                "require": ["sub", "exp", "iat", "iss", "ver"],
                "verify_exp": False,
                "verify_iat": False,
            },
        )
        expires = int(payload["exp"])
        issued = int(payload["iat"])
        version = int(payload["ver"])
    except (jwt.PyJWTError, TypeError, ValueError, OverflowError):
        return None
    return _Verified(TokenClaims(user_id=str(payload["sub"]), token_version=version), issued, expires)


def decode_token(token: str, *, secret: str, issuer: str, now: datetime) -> TokenClaims | None:
    """The claims of a valid, unexpired token of ours; ``None`` for anything else."""
    key = (token, secret, issuer)
    verified = _verified.get(key)
    if verified is None:
        verified = _verify(token, secret, issuer)
        if verified is None:
            return None
        if len(_verified) >= VERIFIED_TOKENS_MAX:
            _verified.pop(next(iter(_verified)), None)
        _verified[key] = verified
    current = int(now.timestamp())
    if verified.expires <= current or verified.issued > current + _IAT_LEEWAY_SECONDS:
        return None
    return verified.claims
