"""No response or log line carries a password, a token or a full phone number."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.accounts.builders import LOGIN, ME, PASSWORD, REGISTER, bearer

PHONE = "13812345678"


async def test_registration_and_sign_in_never_log_the_phone_password_or_token(
    client: AsyncTestClient[Any], caplog: pytest.LogCaptureFixture
) -> None:
    # Given every logger recording at DEBUG
    caplog.set_level(logging.DEBUG)
    # When a buyer registers, fails a sign-in, signs in, asks who they are and registers again
    registered = await client.post(
        REGISTER, json={"phone": PHONE, "password": PASSWORD, "display_name": "王小花"}
    )
    wrong = await client.post(LOGIN, json={"phone": PHONE, "password": PASSWORD + "x"})
    login = await client.post(LOGIN, json={"phone": PHONE, "password": PASSWORD})
    me = await client.get(ME, headers=bearer(login.json()["access_token"]))
    again = await client.post(REGISTER, json={"phone": PHONE, "password": PASSWORD, "display_name": "x"})
    assert [r.status_code for r in (registered, wrong, login, me, again)] == [201, 401, 200, 200, 409]
    tokens = [registered.json()["access_token"], login.json()["access_token"]]
    # Then no log line carries any of them
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    for secret in (PHONE, PASSWORD, *tokens):
        assert secret not in logged
    # And no answer carries the full phone or the password, nor (except when issued) a token
    for response in (registered, wrong, login, me, again):
        assert PHONE not in response.text
        assert PASSWORD not in response.text
    for response in (wrong, me, again):
        assert all(token not in response.text for token in tokens)
