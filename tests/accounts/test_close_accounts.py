"""Accounts that can be closed: password change (with the current one) and sign-out everywhere;
both move the token version on, so every older token is refused at once."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from tests.factories import login, register_buyer


async def test_a_password_change_needs_the_current_one_and_ends_old_tokens(
    client: AsyncTestClient[Any],
) -> None:
    buyer = await register_buyer(client)
    wrong = await client.post(
        "/api/v1/me/password",
        json={"current_password": "not it at all", "new_password": "a new password 1"},
        headers=buyer.headers,
    )
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "invalid_credentials"
    assert (await client.get("/api/v1/me", headers=buyer.headers)).status_code == 200

    changed = await client.post(
        "/api/v1/me/password",
        json={"current_password": buyer.password, "new_password": "a new password 1"},
        headers=buyer.headers,
    )
    assert changed.status_code == 204, changed.text
    assert (await client.get("/api/v1/me", headers=buyer.headers)).status_code == 401
    old = await client.post("/api/v1/auth/login", json={"phone": buyer.phone, "password": buyer.password})
    assert old.status_code == 401
    again = await login(client, buyer.phone, "a new password 1")
    assert (await client.get("/api/v1/me", headers=again.headers)).status_code == 200


async def test_sign_out_everywhere_ends_every_token(client: AsyncTestClient[Any]) -> None:
    buyer = await register_buyer(client)
    second = await login(client, buyer.phone, buyer.password)
    response = await client.post("/api/v1/me/sign-out-everywhere", headers=second.headers)
    assert response.status_code == 204
    for actor in (buyer, second):
        refused = await client.get("/api/v1/me", headers=actor.headers)
        assert refused.status_code == 401
        assert refused.json()["code"] == "invalid_token"
    assert (await client.post("/api/v1/me/sign-out-everywhere")).status_code == 401


async def test_a_token_used_before_sign_out_everywhere_is_refused_after_it(
    client: AsyncTestClient[Any],
) -> None:
    # Given a token that has just been accepted (and so is among the verified tokens kept)
    buyer = await register_buyer(client)
    assert (await client.get("/api/v1/me", headers=buyer.headers)).status_code == 200
    # When its user signs out everywhere
    response = await client.post("/api/v1/me/sign-out-everywhere", headers=buyer.headers)
    assert response.status_code == 204
    # Then the very same token is refused: the user row is read on every request
    refused = await client.get("/api/v1/me", headers=buyer.headers)
    assert refused.status_code == 401
    assert refused.json()["code"] == "invalid_token"
