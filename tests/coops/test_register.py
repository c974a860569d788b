"""POST /api/v1/cooperatives: registration as pending, USCC, region and charter rules."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from tests.coops.builders import cooperative_count, cooperative_row, manager_ids, status_events
from tests.factories import VILLAGE, coop_payload, register_buyer, unique_uscc

URL = "/api/v1/cooperatives"


async def test_registration_answers_201_with_a_pending_cooperative(client: AsyncTestClient[Any]) -> None:
    # Given a signed-in buyer
    buyer = await register_buyer(client)
    payload = coop_payload()
    # When they register a cooperative
    response = await client.post(URL, json=payload, headers=buyer.headers)
    # Then it is pending, with every field
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "pending"
    assert body["name"] == payload["name"]
    assert body["uscc"] == payload["uscc"]
    assert body["village_code"] == VILLAGE
    assert body["village_name"] == "赵家村委会"
    assert body["party_organization"] == "赵家村党支部"
    assert body["chairperson"] == "赵建国"
    assert body["founded_on"] == "2021-03-15"
    assert body["charter"] == {
        "reserve_rate_bps": 1000,
        "patronage_return_bps": 7000,
        "collective_sales_share_bps": 1000,
    }
    assert body["status_reason"] is None
    assert body["warnings"] == []


async def test_registering_user_becomes_its_manager(client: AsyncTestClient[Any], db: Database) -> None:
    buyer = await register_buyer(client)
    response = await client.post(URL, json=coop_payload(), headers=buyer.headers)
    coop_id = response.json()["id"]
    assert await manager_ids(db, coop_id) == [buyer.id]
    me = (await client.get("/api/v1/me", headers=buyer.headers)).json()
    assert me["role"] == "coop_manager"
    assert me["cooperative_ids"] == [coop_id]


async def test_creation_is_recorded_as_a_status_event(client: AsyncTestClient[Any], db: Database) -> None:
    buyer = await register_buyer(client)
    coop_id = (await client.post(URL, json=coop_payload(), headers=buyer.headers)).json()["id"]
    assert await status_events(db, coop_id) == [(None, "pending", None, buyer.id)]


async def test_uscc_is_trimmed_and_upper_cased(client: AsyncTestClient[Any], db: Database) -> None:
    buyer = await register_buyer(client)
    code = unique_uscc()
    response = await client.post(URL, json=coop_payload(uscc=f"  {code.lower()} "), headers=buyer.headers)
    assert response.status_code == 201, response.text
    assert response.json()["uscc"] == code
    row = await cooperative_row(db, response.json()["id"])
    assert row is not None
    assert row["uscc"] == code


@pytest.mark.parametrize("bad", ["93370704MA3C4QNK25", "9337O704MA3C4QNK24", "93370704MA3C4QNK2", ""])
async def test_invalid_uscc_is_422_and_nothing_is_stored(
    client: AsyncTestClient[Any], db: Database, bad: str
) -> None:
    buyer = await register_buyer(client)
    response = await client.post(URL, json=coop_payload(uscc=bad), headers=buyer.headers)
    assert response.status_code == 422
    body = response.json()
    if bad:  # an empty string is refused by the schema before the check
        assert body["code"] == "invalid_uscc"
        assert body["errors"] == [{"field": "uscc", "message": "not a valid unified social credit code"}]
    else:
        assert body["code"] == "validation_error"
    assert await cooperative_count(db) == 0
    me = (await client.get("/api/v1/me", headers=buyer.headers)).json()
    assert me["role"] == "buyer"


async def test_uscc_taken_is_409(client: AsyncTestClient[Any], db: Database) -> None:
    first, second = await register_buyer(client), await register_buyer(client)
    code = unique_uscc()
    assert (await client.post(URL, json=coop_payload(uscc=code), headers=first.headers)).status_code == 201
    response = await client.post(URL, json=coop_payload(uscc=code.lower()), headers=second.headers)
    assert response.status_code == 409
    assert response.json()["code"] == "uscc_taken"
    assert await cooperative_count(db) == 1
    me = (await client.get("/api/v1/me", headers=second.headers)).json()
    assert me["role"] == "buyer"
    assert me["cooperative_ids"] == []


async def test_two_registrations_of_one_uscc_at_once_admit_one(
    client: AsyncTestClient[Any], db: Database
) -> None:
    first, second = await register_buyer(client), await register_buyer(client)
    code = unique_uscc()
    responses = await asyncio.gather(
        client.post(URL, json=coop_payload(uscc=code), headers=first.headers),
        client.post(URL, json=coop_payload(uscc=code), headers=second.headers),
    )
    assert sorted(r.status_code for r in responses) == [201, 409]
    assert await cooperative_count(db) == 1


async def test_valid_code_outside_category_93_is_accepted_with_a_warning(
    client: AsyncTestClient[Any],
) -> None:
    buyer = await register_buyer(client)
    response = await client.post(URL, json=coop_payload(uscc=unique_uscc("91370704")), headers=buyer.headers)
    assert response.status_code == 201, response.text
    assert response.json()["warnings"] == ["uscc_not_cooperative_category"]
    assert response.json()["status"] == "pending"


@pytest.mark.parametrize("code", ["370704003", "370704", "370704003999", "110101001001"])
async def test_village_code_must_be_a_village(client: AsyncTestClient[Any], db: Database, code: str) -> None:
    buyer = await register_buyer(client)
    response = await client.post(URL, json=coop_payload(village_code=code), headers=buyer.headers)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_region"
    assert response.json()["errors"] == [
        {"field": "village_code", "message": "not a village-level region code"}
    ]
    assert await cooperative_count(db) == 0


async def test_patronage_return_below_60_percent_is_refused(
    client: AsyncTestClient[Any], db: Database
) -> None:
    buyer = await register_buyer(client)
    charter = {"reserve_rate_bps": 1000, "patronage_return_bps": 5999, "collective_sales_share_bps": 1000}
    response = await client.post(URL, json=coop_payload(charter=charter), headers=buyer.headers)
    assert response.status_code == 422
    assert response.json()["code"] == "patronage_return_below_minimum"
    assert response.json()["errors"][0]["field"] == "charter.patronage_return_bps"
    assert await cooperative_count(db) == 0


async def test_patronage_return_of_exactly_60_percent_is_accepted(client: AsyncTestClient[Any]) -> None:
    buyer = await register_buyer(client)
    charter = {"reserve_rate_bps": 0, "patronage_return_bps": 6000, "collective_sales_share_bps": 10000}
    response = await client.post(URL, json=coop_payload(charter=charter), headers=buyer.headers)
    assert response.status_code == 201, response.text
    assert response.json()["charter"] == charter


@pytest.mark.parametrize(
    "charter",
    [
        {"reserve_rate_bps": 10001, "patronage_return_bps": 7000, "collective_sales_share_bps": 0},
        {"reserve_rate_bps": -1, "patronage_return_bps": 7000, "collective_sales_share_bps": 0},
        {"reserve_rate_bps": 0, "patronage_return_bps": 10001, "collective_sales_share_bps": 0},
        {"reserve_rate_bps": 0, "patronage_return_bps": 7000, "collective_sales_share_bps": 10001},
        {"reserve_rate_bps": 0, "patronage_return_bps": 7000},
    ],
)
async def test_charter_out_of_range_is_422(
    client: AsyncTestClient[Any], db: Database, charter: dict[str, int]
) -> None:
    buyer = await register_buyer(client)
    response = await client.post(URL, json=coop_payload(charter=charter), headers=buyer.headers)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert await cooperative_count(db) == 0


async def test_blank_name_is_422(client: AsyncTestClient[Any], db: Database) -> None:
    buyer = await register_buyer(client)
    response = await client.post(URL, json=coop_payload(name="   "), headers=buyer.headers)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "name", "message": "blank"}]
    assert await cooperative_count(db) == 0


async def test_registration_needs_sign_in(client: AsyncTestClient[Any], db: Database) -> None:
    response = await client.post(URL, json=coop_payload())
    assert response.status_code == 401
    assert await cooperative_count(db) == 0
