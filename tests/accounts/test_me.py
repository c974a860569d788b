"""``GET /api/v1/me`` and bearer-token checks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar.testing import AsyncTestClient

from coopmarket.core import clock
from coopmarket.settings import Settings
from tests.accounts.builders import LOGIN, ME, PASSWORD, bearer, forged_token, register


async def test_me_answers_the_callers_profile(client: AsyncTestClient[Any]) -> None:
    # Given a signed-in buyer
    _, registered = await register(client, phone="13812345678", display_name="王小花")
    body = registered.json()
    # When they ask who they are
    response = await client.get(ME, headers=bearer(body["access_token"]))
    # Then they get their own profile, phone masked
    assert response.status_code == 200
    assert response.json() == {
        "id": body["user"]["id"],
        "role": "buyer",
        "display_name": "王小花",
        "phone_masked": "138****5678",
        "cooperative_ids": [],
        "region_code": None,
    }


async def test_me_without_a_token_is_401_not_authenticated(client: AsyncTestClient[Any]) -> None:
    response = await client.get(ME)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["code"] == "not_authenticated"


async def test_me_with_another_auth_scheme_is_401_not_authenticated(client: AsyncTestClient[Any]) -> None:
    response = await client.get(ME, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


async def test_me_with_a_garbage_token_is_401_invalid_token(client: AsyncTestClient[Any]) -> None:
    response = await client.get(ME, headers=bearer("not.a.token"))
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert response.json()["code"] == "invalid_token"


async def test_me_with_an_expired_token_is_401_invalid_token(
    client: AsyncTestClient[Any], settings: Settings
) -> None:
    # Given a token
    _, registered = await register(client)
    token = registered.json()["access_token"]
    # When its lifetime has passed
    clock.advance(timedelta(seconds=settings.jwt_ttl_seconds + 1))
    response = await client.get(ME, headers=bearer(token))
    # Then it is refused
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


async def test_a_token_works_until_just_before_it_expires(
    client: AsyncTestClient[Any], settings: Settings
) -> None:
    _, registered = await register(client)
    token = registered.json()["access_token"]
    clock.advance(timedelta(seconds=settings.jwt_ttl_seconds - 5))
    response = await client.get(ME, headers=bearer(token))
    assert response.status_code == 200


async def test_a_token_issued_after_the_clock_moved_forward_is_accepted(
    client: AsyncTestClient[Any],
) -> None:
    # Given the one clock runs ahead of the wall clock (as in tests of expiry sweeps)
    body, _ = await register(client)
    clock.advance(timedelta(hours=2))
    # When the user signs in again and uses the new token
    login = await client.post(LOGIN, json={"phone": body["phone"], "password": PASSWORD})
    response = await client.get(ME, headers=bearer(login.json()["access_token"]))
    # Then the token is judged by the one clock, not the wall clock
    assert response.status_code == 200


async def test_me_with_a_token_signed_by_another_secret_is_401_invalid_token(
    client: AsyncTestClient[Any],
) -> None:
    # Given a real user id in a token signed with a secret that is not the server's
    _, registered = await register(client)
    token = forged_token(registered.json()["user"]["id"], secret="another-secret-of-32-bytes-or-more!!")
    # When it is used
    response = await client.get(ME, headers=bearer(token))
    # Then it is refused
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


async def test_me_with_a_token_from_another_issuer_is_401_invalid_token(
    client: AsyncTestClient[Any], settings: Settings
) -> None:
    _, registered = await register(client)
    token = forged_token(
        registered.json()["user"]["id"],
        secret=settings.jwt_secret.get_secret_value(),
        issuer="somebody-else",
    )
    response = await client.get(ME, headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


async def test_a_token_accepted_before_is_refused_once_expired(
    client: AsyncTestClient[Any], settings: Settings
) -> None:
    # Given a token accepted once (and so among the verified tokens kept)
    _, registered = await register(client)
    token = registered.json()["access_token"]
    assert (await client.get(ME, headers=bearer(token))).status_code == 200
    # When its lifetime has passed
    clock.advance(timedelta(seconds=settings.jwt_ttl_seconds + 1))
    response = await client.get(ME, headers=bearer(token))
    # Then the same token is refused
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


async def test_a_tampered_copy_of_an_accepted_token_is_refused(client: AsyncTestClient[Any]) -> None:
    _, registered = await register(client)
    token = registered.json()["access_token"]
    assert (await client.get(ME, headers=bearer(token))).status_code == 200
    header, payload, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    response = await client.get(ME, headers=bearer(f"{header}.{payload}.{flipped}"))
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"
