"""Tokens and the secret that signs them."""

from __future__ import annotations

from datetime import UTC, datetime

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
