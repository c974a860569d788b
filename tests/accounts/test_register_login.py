"""Registration and password sign-in over HTTP."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from coopmarket.settings import Settings
from tests.accounts.builders import LOGIN, ME, PASSWORD, REGISTER, bearer, count_users, register, user_row


async def test_register_answers_201_with_a_token_and_the_new_buyer(
    client: AsyncTestClient[Any], settings: Settings
) -> None:
    # Given a new phone number
    # When someone registers with it
    _, response = await register(client, phone="13812345678", display_name="王小花")
    # Then they get a bearer token and a buyer account with the phone masked
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "user"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == settings.jwt_ttl_seconds
    assert body["access_token"].count(".") == 2
    user = body["user"]
    assert len(user["id"]) == 26
    assert user == {
        "id": user["id"],
        "role": "buyer",
        "display_name": "王小花",
        "phone_masked": "138****5678",
        "cooperative_ids": [],
        "region_code": None,
    }


async def test_register_stores_an_argon2_hash_not_the_password(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given a registration
    _, response = await register(client)
    # When we look at the stored row
    row = await user_row(db, response.json()["user"]["id"])
    # Then the password is kept only as an Argon2id hash
    assert row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash


async def test_register_trims_the_display_name(client: AsyncTestClient[Any]) -> None:
    _, response = await register(client, display_name="  王小花 ")
    assert response.status_code == 201
    assert response.json()["user"]["display_name"] == "王小花"


async def test_register_twice_with_one_phone_is_409_registration_refused(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given a registered phone number
    body, first = await register(client)
    assert first.status_code == 201
    # When it registers again
    response = await client.post(REGISTER, json={**body, "display_name": "另一个人"})
    # Then the second is refused and only one account exists
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "registration_refused"
    assert "registered" not in response.json()["detail"]
    assert await count_users(db) == 1


async def test_register_with_a_bad_phone_is_422_naming_the_field(
    client: AsyncTestClient[Any], db: Database
) -> None:
    _, response = await register(client, phone="12812345678")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert [error["field"] for error in body["errors"]] == ["phone"]
    assert await count_users(db) == 0


async def test_register_with_a_short_password_is_422_naming_the_field(
    client: AsyncTestClient[Any], db: Database
) -> None:
    _, response = await register(client, password="short7!")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert [error["field"] for error in body["errors"]] == ["password"]
    assert await count_users(db) == 0


async def test_register_with_a_blank_display_name_is_422_naming_the_field(
    client: AsyncTestClient[Any], db: Database
) -> None:
    _, response = await register(client, display_name="   ")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert [error["field"] for error in body["errors"]] == ["display_name"]
    assert await count_users(db) == 0


async def test_register_may_not_choose_a_role(client: AsyncTestClient[Any], db: Database) -> None:
    # Unknown fields are refused, so nobody can ask for a staff role at sign-up.
    _, response = await register(client, role="district_staff")
    assert response.status_code == 422
    assert await count_users(db) == 0


async def test_login_answers_200_with_a_token_for_the_same_user(client: AsyncTestClient[Any]) -> None:
    # Given a registered buyer
    body, registered = await register(client)
    # When they sign in with phone and password
    response = await client.post(LOGIN, json={"phone": body["phone"], "password": PASSWORD})
    # Then they get a token for the same account
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == {"access_token", "token_type", "expires_in", "user"}
    assert answer["token_type"] == "Bearer"
    assert answer["user"] == registered.json()["user"]
    me = await client.get(ME, headers=bearer(answer["access_token"]))
    assert me.status_code == 200
    assert me.json()["id"] == registered.json()["user"]["id"]


async def test_login_with_a_wrong_password_is_401_invalid_credentials(client: AsyncTestClient[Any]) -> None:
    body, _ = await register(client)
    response = await client.post(LOGIN, json={"phone": body["phone"], "password": "not the password"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "invalid_credentials"


async def test_login_answers_alike_for_an_unknown_phone_and_a_wrong_password(
    client: AsyncTestClient[Any],
) -> None:
    # Given a registered phone and one never registered
    body, _ = await register(client)
    # When each is tried with a wrong password
    wrong_password = await client.post(LOGIN, json={"phone": body["phone"], "password": "not the password"})
    unknown_phone = await client.post(LOGIN, json={"phone": "13900000000", "password": "not the password"})
    # Then the answers cannot tell the two apart
    assert wrong_password.status_code == unknown_phone.status_code == 401
    assert wrong_password.json() == unknown_phone.json()
    assert unknown_phone.json()["code"] == "invalid_credentials"
