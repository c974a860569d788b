"""Builders and checks for the accounts tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from coopmarket.accounts.models import User
from coopmarket.db import Database
from tests.factories import unique_phone

PASSWORD = "correct horse battery"
REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
WECHAT = "/api/v1/auth/wechat"
ME = "/api/v1/me"
STAFF = "/api/v1/staff"


def registration(**overrides: Any) -> dict[str, Any]:
    """A valid registration body with a phone number never used before in this run."""
    body: dict[str, Any] = {"phone": unique_phone(), "password": PASSWORD, "display_name": "王小花"}
    body.update(overrides)
    return body


async def register(client: AsyncTestClient[Any], **overrides: Any) -> tuple[dict[str, Any], httpx.Response]:
    body = registration(**overrides)
    return body, await client.post(REGISTER, json=body)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def forged_token(user_id: str, *, secret: str, issuer: str = "coopmarket") -> str:
    """A well-formed token for ``user_id`` signed with ``secret``."""
    now = datetime.now(UTC)
    payload = {
        "sub": user_id,
        "ver": 0,
        "iss": issuer,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=1)).timestamp()),
    }
    return jwt.encode(payload, secret, algorithm="HS256")


async def count_users(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(User))).scalar_one())


async def user_row(db: Database, user_id: str) -> Any:
    async with db.read() as conn:
        return (await conn.execute(select(User).where(User.id == user_id))).one()
