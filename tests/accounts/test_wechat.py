"""WeChat mini-program sign-in, against an ``httpx.MockTransport`` standing in for ``jscode2session``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from litestar.testing import AsyncTestClient

from coopmarket.accounts.wechat import HttpxWechatClient
from coopmarket.app import Overrides
from coopmarket.db import Database
from coopmarket.settings import Settings
from tests.accounts.builders import ME, WECHAT, bearer, count_users, user_row

APPID = "wx0123456789abcdef"
APP_SECRET = "wechat-app-secret-for-the-tests-0001"
SESSION_KEY = "tiihtNczf5v6AKRyjwEUhQ=="

Answer = dict[str, Any] | Callable[[httpx.Request], httpx.Response]


def ok(openid: str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", **extra: Any) -> dict[str, Any]:
    """A success as WeChat sends it: no ``errcode`` at all."""
    return {"openid": openid, "session_key": SESSION_KEY, **extra}


def refusal(errcode: int) -> dict[str, Any]:
    return {"errcode": errcode, "errmsg": f"error {errcode}, rid: 6573e3b4-1f2c"}


@dataclass
class FakeWechat:
    """Answers queued per test (the last one repeats); records every request it receives."""

    answers: list[Answer] = field(default_factory=lambda: [ok()])
    requests: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if callable(answer):
            return answer(request)
        return httpx.Response(200, json=answer)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"wechat_appid": APPID, "wechat_secret": APP_SECRET}


@pytest.fixture
def wechat() -> FakeWechat:
    return FakeWechat()


@pytest.fixture
def overrides(settings: Settings, wechat: FakeWechat) -> Overrides:
    assert settings.wechat_secret is not None
    client = HttpxWechatClient(
        appid=settings.wechat_appid,
        secret=settings.wechat_secret.get_secret_value(),
        base_url=settings.wechat_api_base,
        timeout=settings.wechat_timeout_seconds,
        transport=httpx.MockTransport(wechat.handle),
        retry_delay=0,
    )
    return Overrides(wechat=client)


async def test_a_new_openid_becomes_a_buyer(client: AsyncTestClient[Any], db: Database) -> None:
    # Given WeChat knows the code
    # When the mini-program signs in with it
    response = await client.post(WECHAT, json={"code": "081Kq4000Gd0pT1u4k300xYQm14Kq40c"})
    # Then a buyer account is made and signed in
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "user"}
    assert body["user"] == {
        "id": body["user"]["id"],
        "role": "buyer",
        "display_name": "微信用户",
        "phone_masked": None,
        "cooperative_ids": [],
        "region_code": None,
    }
    assert await count_users(db) == 1
    me = await client.get(ME, headers=bearer(body["access_token"]))
    assert me.json()["id"] == body["user"]["id"]


async def test_the_request_to_wechat_carries_appid_secret_code_and_grant_type(
    client: AsyncTestClient[Any], wechat: FakeWechat
) -> None:
    await client.post(WECHAT, json={"code": "081Kq4000Gd0pT1u4k300xYQm14Kq40c"})
    assert len(wechat.requests) == 1
    sent = wechat.requests[0]
    assert sent.method == "GET"
    assert sent.url.host == "api.weixin.qq.com"
    assert sent.url.path == "/sns/jscode2session"
    assert parse_qs(sent.url.query.decode()) == {
        "appid": [APPID],
        "secret": [APP_SECRET],
        "js_code": ["081Kq4000Gd0pT1u4k300xYQm14Kq40c"],
        "grant_type": ["authorization_code"],
    }


async def test_the_same_openid_signs_in_to_the_same_user(
    client: AsyncTestClient[Any], db: Database, wechat: FakeWechat
) -> None:
    # Given a WeChat user who signed in once
    wechat.answers = [ok("oSameOpenId"), ok("oSameOpenId")]
    first = await client.post(WECHAT, json={"code": "code-1"})
    # When they sign in again with a new code
    second = await client.post(WECHAT, json={"code": "code-2"})
    # Then it is the same account
    assert first.status_code == second.status_code == 200
    assert second.json()["user"]["id"] == first.json()["user"]["id"]
    assert await count_users(db) == 1


async def test_another_openid_is_another_user(
    client: AsyncTestClient[Any], db: Database, wechat: FakeWechat
) -> None:
    wechat.answers = [ok("oFirstOpenId"), ok("oSecondOpenId")]
    first = await client.post(WECHAT, json={"code": "code-1"})
    second = await client.post(WECHAT, json={"code": "code-2"})
    assert second.json()["user"]["id"] != first.json()["user"]["id"]
    assert await count_users(db) == 2


async def test_a_success_with_errcode_zero_also_works(
    client: AsyncTestClient[Any], wechat: FakeWechat
) -> None:
    wechat.answers = [{"errcode": 0, "errmsg": "ok", **ok(unionid="o6_bmasdasdsad6_2sgVt7hMZOPfL")}]
    response = await client.post(WECHAT, json={"code": "code-1"})
    assert response.status_code == 200
    assert response.json()["user"]["role"] == "buyer"


async def test_the_session_key_is_kept_on_the_server_only(
    client: AsyncTestClient[Any], db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    # Given every logger recording
    caplog.set_level(logging.DEBUG)
    # When a WeChat user signs in twice and asks who they are
    first = await client.post(WECHAT, json={"code": "code-1"})
    second = await client.post(WECHAT, json={"code": "code-2"})
    me = await client.get(ME, headers=bearer(second.json()["access_token"]))
    # Then the session key is stored, but in no answer and no log line (nor is the app secret)
    row = await user_row(db, first.json()["user"]["id"])
    assert row.wechat_session_key == SESSION_KEY
    for response in (first, second, me):
        assert response.status_code == 200
        assert SESSION_KEY not in response.text
        assert "session_key" not in response.text
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    assert SESSION_KEY not in logged
    assert APP_SECRET not in logged


@pytest.mark.parametrize(
    ("errcode", "status", "code"),
    [
        (40029, 401, "wechat_code_invalid"),
        (40163, 401, "wechat_code_invalid"),
        (40226, 403, "wechat_user_blocked"),
        (12345, 502, "wechat_error"),
    ],
)
async def test_a_wechat_refusal_is_a_problem_and_makes_no_user(
    client: AsyncTestClient[Any],
    db: Database,
    wechat: FakeWechat,
    errcode: int,
    status: int,
    code: str,
) -> None:
    # Given WeChat refuses the code
    wechat.answers = [refusal(errcode)]
    # When the mini-program signs in with it
    response = await client.post(WECHAT, json={"code": "code-1"})
    # Then the refusal comes back as a problem, and no account is made
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code
    assert await count_users(db) == 0


async def test_wechat_rate_limiting_is_429_with_retry_after(
    client: AsyncTestClient[Any], wechat: FakeWechat
) -> None:
    wechat.answers = [refusal(45011)]
    response = await client.post(WECHAT, json={"code": "code-1"})
    assert response.status_code == 429
    assert response.json()["code"] == "wechat_rate_limited"
    assert response.headers["retry-after"] == "60"


async def test_a_busy_answer_is_retried_and_then_succeeds(
    client: AsyncTestClient[Any], wechat: FakeWechat
) -> None:
    # Given WeChat is busy once, then answers
    wechat.answers = [refusal(-1), ok()]
    # When the mini-program signs in
    response = await client.post(WECHAT, json={"code": "code-1"})
    # Then the server asked twice and the sign-in succeeded
    assert response.status_code == 200
    assert len(wechat.requests) == 2


async def test_busy_every_time_is_503_wechat_busy(
    client: AsyncTestClient[Any], db: Database, wechat: FakeWechat
) -> None:
    # Given WeChat stays busy
    wechat.answers = [refusal(-1)]
    # When the mini-program signs in
    response = await client.post(WECHAT, json={"code": "code-1"})
    # Then the server gave up after its retries, with a problem to retry later
    assert response.status_code == 503
    assert response.json()["code"] == "wechat_busy"
    assert response.headers["retry-after"] == "1"
    assert len(wechat.requests) == 3
    assert await count_users(db) == 0


async def test_wechat_unreachable_is_503(client: AsyncTestClient[Any], wechat: FakeWechat) -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    wechat.answers = [unreachable]
    response = await client.post(WECHAT, json={"code": "code-1"})
    assert response.status_code == 503
    assert response.json()["code"] == "wechat_unavailable"


async def test_a_non_json_answer_is_503(client: AsyncTestClient[Any], wechat: FakeWechat) -> None:
    wechat.answers = [lambda request: httpx.Response(502, text="<html>Bad Gateway</html>")]
    response = await client.post(WECHAT, json={"code": "code-1"})
    assert response.status_code == 503
    assert response.json()["code"] == "wechat_unavailable"


async def test_an_empty_code_is_422(client: AsyncTestClient[Any], wechat: FakeWechat) -> None:
    response = await client.post(WECHAT, json={"code": ""})
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["code"]
    assert wechat.requests == []
