"""Tokens and the secret that signs them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from pydantic import ValidationError

from coopmarket.accounts import security
from coopmarket.settings import DEV_JWT_SECRET, Settings

SECRET = "a-test-secret-that-is-long-enough-000"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(ValidationError, match="must be set outside development"):
        Settings(environment="production", jwt_secret=DEV_JWT_SECRET)


def test_production_refuses_a_short_secret() -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        Settings(environment="production", jwt_secret="short-secret")


def test_production_accepts_a_long_secret() -> None:
    assert Settings(environment="production", jwt_secret="x" * 32).environment == "production"


def test_a_token_without_its_version_claim_is_refused() -> None:
    payload = {
        "sub": "u1",
        "iss": "coopmarket",
        "iat": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 60,
    }
    token = jwt.encode(payload, SECRET, algorithm="HS256")
    assert security.decode_token(token, secret=SECRET, issuer="coopmarket", now=NOW) is None


def test_a_token_of_ours_is_accepted() -> None:
    token = security.issue_token(
        user_id="u1", token_version=3, secret=SECRET, issuer="coopmarket", now=NOW, ttl=60
    )
    claims = security.decode_token(token, secret=SECRET, issuer="coopmarket", now=NOW)
    assert claims == security.TokenClaims(user_id="u1", token_version=3)


# A verified token is kept (security._verified) so that the next request skips PyJWT; what the
# cache may never change is which tokens are accepted.


def _token(*, user_id: str = "u1", now: datetime = NOW) -> str:
    return security.issue_token(
        user_id=user_id, token_version=3, secret=SECRET, issuer="coopmarket", now=now, ttl=60
    )


def test_a_tampered_copy_of_a_cached_token_is_refused() -> None:
    token = _token()
    assert security.decode_token(token, secret=SECRET, issuer="coopmarket", now=NOW) is not None
    header, payload, signature = token.split(".")
    forged_payload = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(b'"u1"', b'"u2"')
    ).decode()
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    for tampered in (f"{header}.{forged_payload}.{signature}", f"{header}.{payload}.{flipped}", token + " "):
        assert security.decode_token(tampered, secret=SECRET, issuer="coopmarket", now=NOW) is None
    # Nor does the refusal poison the good token.
    assert security.decode_token(token, secret=SECRET, issuer="coopmarket", now=NOW) is not None


def test_a_cached_token_still_expires_by_the_clock() -> None:
    token = _token()
    assert security.decode_token(token, secret=SECRET, issuer="coopmarket", now=NOW) is not None
    later = NOW + timedelta(seconds=60)
    assert security.decode_token(token, secret=SECRET, issuer="coopmarket", now=later) is None
    # And a token issued "in the future" waits for the clock, cached or not.
    ahead = _token(now=NOW + timedelta(hours=1))
    assert security.decode_token(ahead, secret=SECRET, issuer="coopmarket", now=NOW) is None
    assert security.decode_token(ahead, secret=SECRET, issuer="coopmarket", now=NOW + timedelta(hours=1))


def test_a_cached_token_is_refused_under_another_secret_or_issuer() -> None:
    token = _token()
    assert security.decode_token(token, secret=SECRET, issuer="coopmarket", now=NOW) is not None
    other = "another-test-secret-long-enough-0000"
    assert security.decode_token(token, secret=other, issuer="coopmarket", now=NOW) is None
    assert security.decode_token(token, secret=SECRET, issuer="somebody-else", now=NOW) is None


def test_the_cache_of_verified_tokens_is_bounded() -> None:
    for n in range(security.VERIFIED_TOKENS_MAX + 10):
        token = _token(user_id=f"u{n}")
        assert security.decode_token(token, secret=SECRET, issuer="coopmarket", now=NOW) is not None
    assert len(security._verified) <= security.VERIFIED_TOKENS_MAX
