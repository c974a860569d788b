"""WeChat sign-in on a server without an app id and secret (the real client, no stand-in)."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from tests.accounts.builders import WECHAT, count_users


async def test_wechat_sign_in_without_configuration_is_503_not_configured(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given no COOPMARKET_WECHAT_APPID / COOPMARKET_WECHAT_SECRET
    # When the mini-program signs in
    response = await client.post(WECHAT, json={"code": "081Kq4000Gd0pT1u4k300xYQm14Kq40c"})
    # Then the server says so without calling anyone, and makes no account
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "wechat_not_configured"
    assert await count_users(db) == 0
