"""GET /api/v1/cooperatives and /{id}: who sees which cooperatives and which fields."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from tests.coops.builders import OTHER_STREET, OTHER_VILLAGE, decide, register_cooperative
from tests.factories import STREET, VILLAGE, approved_cooperative, make_staff, register_buyer

URL = "/api/v1/cooperatives"
PUBLIC_FIELDS = {
    "contact_phone_masked",
    "business_scope",
    "id",
    "name",
    "village_code",
    "village_name",
    "party_organization",
    "status",
    "founded_on",
    "charter",
}
FULL_FIELDS = PUBLIC_FIELDS | {
    "uscc",
    "chairperson",
    "status_reason",
    "created_at",
    "updated_at",
    "contact_phone",
    "legal_representative",
    "registered_address",
    "administrative_licences",
    "identity_verified_on",
    "reverify_due_on",
}


def ids(body: dict[str, Any]) -> list[str]:
    return [item["id"] for item in body["items"]]


@pytest.fixture
async def world(client: AsyncTestClient[Any], db: Database) -> dict[str, Any]:
    """An approved and a pending cooperative in 凤凰街道, a pending one in 坊安街道."""
    district = await make_staff(client, db)
    manager, approved = await approved_cooperative(client, district, name="阳光种植专业合作社")
    pending_manager = await register_buyer(client)
    pending = await register_cooperative(client, pending_manager, name="赵家村果蔬专业合作社")
    far_manager = await register_buyer(client)
    far_pending = await register_cooperative(
        client, far_manager, village_code=OTHER_VILLAGE, name="远方合作社"
    )
    return {
        "district": district,
        "manager": manager,
        "approved": approved,
        "pending_manager": pending_manager,
        "pending": pending,
        "far_manager": far_manager,
        "far_pending": far_pending,
    }


async def test_the_public_list_shows_approved_only(
    client: AsyncTestClient[Any], world: dict[str, Any]
) -> None:
    response = await client.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert ids(body) == [world["approved"]["id"]]
    assert body["next_cursor"] is None
    assert set(body["items"][0]) == PUBLIC_FIELDS


async def test_a_buyer_sees_approved_only(client: AsyncTestClient[Any], world: dict[str, Any]) -> None:
    buyer = await register_buyer(client)
    response = await client.get(URL, headers=buyer.headers)
    assert ids(response.json()) == [world["approved"]["id"]]


async def test_a_buyer_asking_for_pending_gets_nothing(
    client: AsyncTestClient[Any], world: dict[str, Any]
) -> None:
    buyer = await register_buyer(client)
    response = await client.get(URL, params={"status": "pending"}, headers=buyer.headers)
    assert response.json() == {"items": [], "next_cursor": None}


async def test_district_staff_see_every_status_newest_first(
    client: AsyncTestClient[Any], world: dict[str, Any]
) -> None:
    response = await client.get(URL, headers=world["district"].headers)
    body = response.json()
    assert ids(body) == [world["far_pending"]["id"], world["pending"]["id"], world["approved"]["id"]]
    assert all(set(item) == FULL_FIELDS for item in body["items"])


async def test_street_staff_see_their_street_and_approved_elsewhere(
    client: AsyncTestClient[Any], db: Database, world: dict[str, Any]
) -> None:
    street = await make_staff(client, db, role="street_staff", region_code=OTHER_STREET)
    response = await client.get(URL, headers=street.headers)
    body = response.json()
    assert ids(body) == [world["far_pending"]["id"], world["approved"]["id"]]
    # Outside their street they see only what the public sees.
    assert set(body["items"][1]) == PUBLIC_FIELDS


async def test_a_manager_also_sees_their_own_pending_cooperative(
    client: AsyncTestClient[Any], world: dict[str, Any]
) -> None:
    response = await client.get(URL, headers=world["pending_manager"].headers)
    assert ids(response.json()) == [world["pending"]["id"], world["approved"]["id"]]


async def test_status_filter(client: AsyncTestClient[Any], world: dict[str, Any]) -> None:
    response = await client.get(URL, params={"status": "pending"}, headers=world["district"].headers)
    assert ids(response.json()) == [world["far_pending"]["id"], world["pending"]["id"]]


async def test_region_filter_is_a_prefix(client: AsyncTestClient[Any], world: dict[str, Any]) -> None:
    response = await client.get(URL, params={"region_code": STREET}, headers=world["district"].headers)
    assert ids(response.json()) == [world["pending"]["id"], world["approved"]["id"]]


async def test_q_matches_part_of_the_name(client: AsyncTestClient[Any], world: dict[str, Any]) -> None:
    response = await client.get(URL, params={"q": "果蔬"}, headers=world["district"].headers)
    assert ids(response.json()) == [world["pending"]["id"]]


async def test_unknown_status_is_422(client: AsyncTestClient[Any]) -> None:
    response = await client.get(URL, params={"status": "deleted"})
    assert response.status_code == 422


async def test_pages_follow_the_cursor(client: AsyncTestClient[Any], db: Database) -> None:
    staff = await make_staff(client, db)
    made = [(await approved_cooperative(client, staff))[1]["id"] for _ in range(3)]
    first = (await client.get(URL, params={"limit": 2})).json()
    assert ids(first) == [made[2], made[1]]
    assert first["next_cursor"] is not None
    second = (await client.get(URL, params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert ids(second) == [made[0]]
    assert second["next_cursor"] is None


@pytest.mark.parametrize("limit", [0, 101])
async def test_limit_outside_1_to_100_is_422(client: AsyncTestClient[Any], limit: int) -> None:
    response = await client.get(URL, params={"limit": limit})
    assert response.status_code == 422


async def test_limit_of_100_is_accepted(client: AsyncTestClient[Any]) -> None:
    response = await client.get(URL, params={"limit": 100})
    assert response.status_code == 200


async def test_a_foreign_cursor_is_422(client: AsyncTestClient[Any]) -> None:
    response = await client.get(URL, params={"cursor": "bm9wZQ"})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_cursor"


async def test_an_approved_cooperative_shows_public_fields_to_anyone(
    client: AsyncTestClient[Any], world: dict[str, Any]
) -> None:
    approved = world["approved"]
    response = await client.get(f"{URL}/{approved['id']}")
    assert response.status_code == 200
    assert response.json() == {
        "contact_phone_masked": None,
        "business_scope": None,
        "id": approved["id"],
        "name": "阳光种植专业合作社",
        "village_code": VILLAGE,
        "village_name": "赵家村委会",
        "party_organization": "赵家村党支部",
        "status": "approved",
        "founded_on": "2021-03-15",
        "charter": {
            "reserve_rate_bps": 1000,
            "patronage_return_bps": 7000,
            "collective_sales_share_bps": 1000,
        },
    }


async def test_its_manager_sees_every_field(client: AsyncTestClient[Any], world: dict[str, Any]) -> None:
    approved = world["approved"]
    response = await client.get(f"{URL}/{approved['id']}", headers=world["manager"].headers)
    body = response.json()
    assert set(body) == FULL_FIELDS
    assert body["uscc"] == approved["uscc"]
    assert body["status_reason"] == "材料齐全"


async def test_a_stranger_cannot_read_a_pending_cooperative(
    client: AsyncTestClient[Any], world: dict[str, Any]
) -> None:
    buyer = await register_buyer(client)
    response = await client.get(f"{URL}/{world['pending']['id']}", headers=buyer.headers)
    assert response.status_code == 404
    assert response.json()["code"] == "cooperative_not_found"
    anonymous = await client.get(f"{URL}/{world['pending']['id']}")
    assert anonymous.status_code == 404


async def test_another_manager_cannot_read_a_pending_cooperative(
    client: AsyncTestClient[Any], world: dict[str, Any]
) -> None:
    response = await client.get(f"{URL}/{world['pending']['id']}", headers=world["far_manager"].headers)
    assert response.status_code == 404


async def test_its_manager_reads_it_while_pending(
    client: AsyncTestClient[Any], world: dict[str, Any]
) -> None:
    response = await client.get(f"{URL}/{world['pending']['id']}", headers=world["pending_manager"].headers)
    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    assert response.json()["uscc"] == world["pending"]["uscc"]


async def test_village_staff_read_a_pending_cooperative_of_their_village(
    client: AsyncTestClient[Any], db: Database, world: dict[str, Any]
) -> None:
    village = await make_staff(client, db, role="village_staff", region_code=VILLAGE)
    response = await client.get(f"{URL}/{world['pending']['id']}", headers=village.headers)
    assert response.status_code == 200
    assert set(response.json()) == FULL_FIELDS


async def test_staff_of_another_street_cannot_read_a_pending_cooperative(
    client: AsyncTestClient[Any], db: Database, world: dict[str, Any]
) -> None:
    street = await make_staff(client, db, role="street_staff", region_code=OTHER_STREET)
    response = await client.get(f"{URL}/{world['pending']['id']}", headers=street.headers)
    assert response.status_code == 404


async def test_a_suspended_cooperative_is_hidden_from_the_public(
    client: AsyncTestClient[Any], world: dict[str, Any]
) -> None:
    approved_id = world["approved"]["id"]
    await decide(client, world["district"], approved_id, "suspend")
    assert (await client.get(f"{URL}/{approved_id}")).status_code == 404
    assert ids((await client.get(URL)).json()) == []


async def test_a_reinstated_cooperative_is_public_again(
    client: AsyncTestClient[Any], world: dict[str, Any]
) -> None:
    approved_id = world["approved"]["id"]
    await decide(client, world["district"], approved_id, "suspend")
    await decide(client, world["district"], approved_id, "reinstate")
    assert (await client.get(f"{URL}/{approved_id}")).status_code == 200


async def test_an_unknown_id_is_404(client: AsyncTestClient[Any]) -> None:
    response = await client.get(f"{URL}/01hzzzzzzzzzzzzzzzzzzzzzzz")
    assert response.status_code == 404
    assert response.json()["code"] == "cooperative_not_found"


async def test_a_bad_token_is_401_even_on_public_reads(client: AsyncTestClient[Any]) -> None:
    response = await client.get(URL, headers={"Authorization": "Bearer nonsense"})
    assert response.status_code == 401
