"""``POST /api/v1/staff``: district staff create staff accounts."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from tests.accounts.builders import LOGIN, ME, STAFF, bearer, count_users
from tests.factories import DISTRICT, STREET, VILLAGE, make_staff, register_buyer, unique_phone

STAFF_PASSWORD = "street staff pw 1"


def staff_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "phone": unique_phone(),
        "password": STAFF_PASSWORD,
        "display_name": "凤凰街道干部",
        "role": "street_staff",
        "region_code": STREET,
    }
    body.update(overrides)
    return body


async def test_district_staff_create_street_staff_for_a_street(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given district staff
    district = await make_staff(client, db, role="district_staff", region_code=DISTRICT)
    # When they create a street staff account for 凤凰街道
    response = await client.post(STAFF, json=staff_body(phone="13712345678"), headers=district.headers)
    # Then the account exists with that role and region
    assert response.status_code == 201
    body = response.json()
    assert body == {
        "id": body["id"],
        "role": "street_staff",
        "display_name": "凤凰街道干部",
        "phone_masked": "137****5678",
        "cooperative_ids": [],
        "region_code": STREET,
    }


async def test_created_staff_can_sign_in_and_see_their_role_and_region(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given a street staff account made by district staff
    district = await make_staff(client, db, role="district_staff", region_code=DISTRICT)
    body = staff_body()
    created = await client.post(STAFF, json=body, headers=district.headers)
    assert created.status_code == 201
    # When they sign in
    login = await client.post(LOGIN, json={"phone": body["phone"], "password": STAFF_PASSWORD})
    assert login.status_code == 200
    me = await client.get(ME, headers=bearer(login.json()["access_token"]))
    # Then /me shows the role and region they were given
    assert me.status_code == 200
    assert me.json()["id"] == created.json()["id"]
    assert me.json()["role"] == "street_staff"
    assert me.json()["region_code"] == STREET


async def test_district_staff_create_village_staff_for_a_village(
    client: AsyncTestClient[Any], db: Database
) -> None:
    district = await make_staff(client, db, role="district_staff", region_code=DISTRICT)
    response = await client.post(
        STAFF, json=staff_body(role="village_staff", region_code=VILLAGE), headers=district.headers
    )
    assert response.status_code == 201
    assert response.json()["role"] == "village_staff"
    assert response.json()["region_code"] == VILLAGE


async def test_a_region_of_the_wrong_level_is_422_invalid_region(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given district staff
    district = await make_staff(client, db, role="district_staff", region_code=DISTRICT)
    before = await count_users(db)
    # When they ask for street staff on a village code
    response = await client.post(STAFF, json=staff_body(region_code=VILLAGE), headers=district.headers)
    # Then it is refused naming the field, and no account is made
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_region"
    assert [error["field"] for error in body["errors"]] == ["region_code"]
    assert await count_users(db) == before


async def test_an_unknown_region_is_422_invalid_region(client: AsyncTestClient[Any], db: Database) -> None:
    district = await make_staff(client, db, role="district_staff", region_code=DISTRICT)
    before = await count_users(db)
    response = await client.post(STAFF, json=staff_body(region_code="370704999"), headers=district.headers)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_region"
    assert await count_users(db) == before


async def test_a_taken_phone_is_409_phone_taken(client: AsyncTestClient[Any], db: Database) -> None:
    district = await make_staff(client, db, role="district_staff", region_code=DISTRICT)
    buyer = await register_buyer(client)
    before = await count_users(db)
    response = await client.post(STAFF, json=staff_body(phone=buyer.phone), headers=district.headers)
    assert response.status_code == 409
    assert response.json()["code"] == "phone_taken"
    assert await count_users(db) == before


async def test_a_buyer_may_not_create_staff(client: AsyncTestClient[Any], db: Database) -> None:
    # Given a buyer
    buyer = await register_buyer(client)
    before = await count_users(db)
    # When they try to create a staff account
    response = await client.post(STAFF, json=staff_body(), headers=buyer.headers)
    # Then they are refused and nothing is created
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden_role"
    assert await count_users(db) == before


async def test_street_staff_may_not_create_staff(client: AsyncTestClient[Any], db: Database) -> None:
    # Given street staff
    street = await make_staff(client, db, role="street_staff", region_code=STREET)
    before = await count_users(db)
    # When they try to create village staff in their own street
    response = await client.post(
        STAFF, json=staff_body(role="village_staff", region_code=VILLAGE), headers=street.headers
    )
    # Then they are refused and nothing is created
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden_role"
    assert await count_users(db) == before


async def test_creating_staff_needs_a_token(client: AsyncTestClient[Any], db: Database) -> None:
    response = await client.post(STAFF, json=staff_body())
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert await count_users(db) == 0
