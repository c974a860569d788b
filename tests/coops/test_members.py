"""Members of a cooperative: who may read and write them, one village collective, capital history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.core import clock
from coopmarket.db import Database
from tests.coops.builders import OTHER_STREET, capital_changes, members
from tests.factories import VILLAGE, Actor, approved_cooperative, make_staff, register_buyer

URL = "/api/v1/cooperatives"


@pytest.fixture
async def setup(client: AsyncTestClient[Any], db: Database) -> tuple[Actor, Actor, dict[str, Any]]:
    """District staff, and an approved cooperative with its manager."""
    staff = await make_staff(client, db)
    manager, coop = await approved_cooperative(client, staff)
    return staff, manager, coop


async def _add(client: AsyncTestClient[Any], manager: Actor, coop_id: str, **body: Any) -> dict[str, Any]:
    payload = {"name": "赵大山", "kind": "household", "capital_fen": 500_000} | body
    response = await client.post(f"{URL}/{coop_id}/members", json=payload, headers=manager.headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def login_again(client: AsyncTestClient[Any], manager: Actor) -> Actor:
    """A fresh token under the frozen clock (the one issued earlier may look issued in the future)."""
    response = await client.post(
        "/api/v1/auth/login", json={"phone": manager.phone, "password": manager.password}
    )
    assert response.status_code == 200, response.text
    return Actor(manager.id, response.json()["access_token"], manager.role, manager.phone, manager.password)


async def test_its_manager_adds_a_member_with_its_opening_capital(
    client: AsyncTestClient[Any], setup: tuple[Actor, Actor, dict[str, Any]]
) -> None:
    _, manager, coop = setup
    clock.set_now(datetime(2026, 4, 1, 2, 0, tzinfo=UTC))
    manager = await login_again(client, manager)
    response = await client.post(
        f"{URL}/{coop['id']}/members",
        json={"name": "赵家村股份经济合作社", "kind": "village_collective", "capital_fen": 3_000_000},
        headers=manager.headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["cooperative_id"] == coop["id"]
    assert body["name"] == "赵家村股份经济合作社"
    assert body["kind"] == "village_collective"
    assert body["capital_fen"] == 3_000_000
    assert body["created_at"] == "2026-04-01T02:00:00Z"
    assert body["capital_history"] == [
        {
            "old_capital_fen": 0,
            "new_capital_fen": 3_000_000,
            "changed_by": manager.id,
            "changed_at": "2026-04-01T02:00:00Z",
            "delta_fen": 3_000_000,
            "reason": "opening contribution",
            "id": body["capital_history"][0]["id"],
        }
    ]
    assert body["id_number"] is None and body["id_number_masked"] is None


async def test_a_second_village_collective_is_409(
    client: AsyncTestClient[Any], db: Database, setup: tuple[Actor, Actor, dict[str, Any]]
) -> None:
    _, manager, coop = setup
    await _add(client, manager, coop["id"], name="集体一", kind="village_collective")
    response = await client.post(
        f"{URL}/{coop['id']}/members",
        json={"name": "集体二", "kind": "village_collective", "capital_fen": 1},
        headers=manager.headers,
    )
    assert response.status_code == 409
    assert response.json()["code"] == "collective_member_exists"
    assert await members(db, coop["id"]) == [("集体一", "village_collective", 500_000)]


async def test_each_cooperative_may_have_its_own_village_collective(
    client: AsyncTestClient[Any], setup: tuple[Actor, Actor, dict[str, Any]]
) -> None:
    staff, manager, coop = setup
    other_manager, other = await approved_cooperative(client, staff)
    await _add(client, manager, coop["id"], kind="village_collective")
    body = await _add(client, other_manager, other["id"], kind="village_collective")
    assert body["kind"] == "village_collective"


async def test_many_households_and_others_are_fine(
    client: AsyncTestClient[Any], db: Database, setup: tuple[Actor, Actor, dict[str, Any]]
) -> None:
    _, manager, coop = setup
    await _add(client, manager, coop["id"], name="甲", kind="household", capital_fen=100)
    await _add(client, manager, coop["id"], name="乙", kind="household", capital_fen=200)
    await _add(client, manager, coop["id"], name="丙", kind="other", capital_fen=0)
    assert await members(db, coop["id"]) == [
        ("甲", "household", 100),
        ("乙", "household", 200),
        ("丙", "other", 0),
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "甲", "kind": "company", "capital_fen": 1},
        {"name": "甲", "kind": "household", "capital_fen": -1},
        {"name": "", "kind": "household", "capital_fen": 1},
        {"name": "甲", "kind": "household"},
        {"name": "甲", "kind": "household", "capital_fen": 1.5},
    ],
)
async def test_bad_member_is_422(
    client: AsyncTestClient[Any],
    db: Database,
    setup: tuple[Actor, Actor, dict[str, Any]],
    body: dict[str, Any],
) -> None:
    _, manager, coop = setup
    response = await client.post(f"{URL}/{coop['id']}/members", json=body, headers=manager.headers)
    assert response.status_code == 422
    assert await members(db, coop["id"]) == []


async def test_a_buyer_adding_a_member_gets_404_and_nothing_changes(
    client: AsyncTestClient[Any], db: Database, setup: tuple[Actor, Actor, dict[str, Any]]
) -> None:
    _, _, coop = setup
    buyer = await register_buyer(client)
    response = await client.post(
        f"{URL}/{coop['id']}/members",
        json={"name": "冒名", "kind": "household", "capital_fen": 1},
        headers=buyer.headers,
    )
    assert response.status_code == 404
    assert response.json()["code"] == "cooperative_not_found"
    assert await members(db, coop["id"]) == []


async def test_staff_adding_a_member_gets_404_and_nothing_changes(
    client: AsyncTestClient[Any], db: Database, setup: tuple[Actor, Actor, dict[str, Any]]
) -> None:
    staff, _, coop = setup
    response = await client.post(
        f"{URL}/{coop['id']}/members",
        json={"name": "代加", "kind": "household", "capital_fen": 1},
        headers=staff.headers,
    )
    assert response.status_code == 404
    assert await members(db, coop["id"]) == []


async def test_another_manager_adding_a_member_gets_404_and_nothing_changes(
    client: AsyncTestClient[Any], db: Database, setup: tuple[Actor, Actor, dict[str, Any]]
) -> None:
    staff, _, coop = setup
    other_manager, _ = await approved_cooperative(client, staff)
    response = await client.post(
        f"{URL}/{coop['id']}/members",
        json={"name": "串门", "kind": "household", "capital_fen": 1},
        headers=other_manager.headers,
    )
    assert response.status_code == 404
    assert await members(db, coop["id"]) == []


async def test_adding_a_member_needs_sign_in(
    client: AsyncTestClient[Any], db: Database, setup: tuple[Actor, Actor, dict[str, Any]]
) -> None:
    _, _, coop = setup
    response = await client.post(
        f"{URL}/{coop['id']}/members", json={"name": "匿名", "kind": "household", "capital_fen": 1}
    )
    assert response.status_code == 401
    assert await members(db, coop["id"]) == []


async def test_its_manager_lists_members_oldest_first(
    client: AsyncTestClient[Any], setup: tuple[Actor, Actor, dict[str, Any]]
) -> None:
    _, manager, coop = setup
    first = await _add(client, manager, coop["id"], name="甲")
    second = await _add(client, manager, coop["id"], name="乙")
    response = await client.get(f"{URL}/{coop['id']}/members", headers=manager.headers)
    assert response.status_code == 200
    assert response.json() == {"items": [first, second], "next_cursor": None}


async def test_members_pages_follow_the_cursor(
    client: AsyncTestClient[Any], setup: tuple[Actor, Actor, dict[str, Any]]
) -> None:
    _, manager, coop = setup
    made = [(await _add(client, manager, coop["id"], name=f"户{i}"))["id"] for i in range(3)]
    first = (
        await client.get(f"{URL}/{coop['id']}/members", params={"limit": 2}, headers=manager.headers)
    ).json()
    assert [m["id"] for m in first["items"]] == made[:2]
    second = (
        await client.get(
            f"{URL}/{coop['id']}/members",
            params={"limit": 2, "cursor": first["next_cursor"]},
            headers=manager.headers,
        )
    ).json()
    assert [m["id"] for m in second["items"]] == made[2:]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(("role", "region"), [("district_staff", "370704"), ("village_staff", VILLAGE)])
async def test_staff_in_scope_list_members(
    client: AsyncTestClient[Any],
    db: Database,
    setup: tuple[Actor, Actor, dict[str, Any]],
    role: str,
    region: str,
) -> None:
    _, manager, coop = setup
    member = await _add(client, manager, coop["id"])
    staff = await make_staff(client, db, role=role, region_code=region)
    response = await client.get(f"{URL}/{coop['id']}/members", headers=staff.headers)
    assert response.status_code == 200
    assert [m["id"] for m in response.json()["items"]] == [member["id"]]


async def test_others_cannot_list_members(
    client: AsyncTestClient[Any], db: Database, setup: tuple[Actor, Actor, dict[str, Any]]
) -> None:
    staff, manager, coop = setup
    await _add(client, manager, coop["id"])
    buyer = await register_buyer(client)
    far_staff = await make_staff(client, db, role="street_staff", region_code=OTHER_STREET)
    other_manager, _ = await approved_cooperative(client, staff)
    for actor in (buyer, far_staff, other_manager):
        response = await client.get(f"{URL}/{coop['id']}/members", headers=actor.headers)
        assert response.status_code == 404, actor.role
    assert (await client.get(f"{URL}/{coop['id']}/members")).status_code == 401


async def test_a_capital_change_is_recorded_not_overwritten(
    client: AsyncTestClient[Any], db: Database, setup: tuple[Actor, Actor, dict[str, Any]]
) -> None:
    # Given a member with 5,000 yuan of capital
    _, manager, coop = setup
    member = await _add(client, manager, coop["id"], capital_fen=500_000)
    # When its manager raises it twice
    for capital in (800_000, 750_000):
        response = await client.patch(
            f"{URL}/{coop['id']}/members/{member['id']}",
            json={"capital_fen": capital},
            headers=manager.headers,
        )
        assert response.status_code == 200, response.text
    # Then the member holds the last value and every change is on record
    assert response.json()["capital_fen"] == 750_000
    assert [(c["old_capital_fen"], c["new_capital_fen"]) for c in response.json()["capital_history"]] == [
        (0, 500_000),
        (500_000, 800_000),
        (800_000, 750_000),
    ]
    assert await capital_changes(db, member["id"]) == [
        (0, 500_000, manager.id),
        (500_000, 800_000, manager.id),
        (800_000, 750_000, manager.id),
    ]


async def test_the_same_capital_adds_no_history(
    client: AsyncTestClient[Any], db: Database, setup: tuple[Actor, Actor, dict[str, Any]]
) -> None:
    _, manager, coop = setup
    member = await _add(client, manager, coop["id"], capital_fen=500_000)
    response = await client.patch(
        f"{URL}/{coop['id']}/members/{member['id']}",
        json={"name": "赵大山（户主）", "capital_fen": 500_000},
        headers=manager.headers,
    )
    assert response.status_code == 200
    assert response.json()["name"] == "赵大山（户主）"
    assert await capital_changes(db, member["id"]) == [(0, 500_000, manager.id)]


async def test_a_member_of_another_cooperative_is_404_through_this_one(
    client: AsyncTestClient[Any], db: Database, setup: tuple[Actor, Actor, dict[str, Any]]
) -> None:
    staff, manager, coop = setup
    other_manager, other = await approved_cooperative(client, staff)
    foreign = await _add(client, other_manager, other["id"], capital_fen=100)
    response = await client.patch(
        f"{URL}/{coop['id']}/members/{foreign['id']}", json={"capital_fen": 1}, headers=manager.headers
    )
    assert response.status_code == 404
    assert response.json()["code"] == "member_not_found"
    assert await capital_changes(db, foreign["id"]) == [(0, 100, other_manager.id)]


async def test_another_manager_changing_capital_gets_404_and_nothing_changes(
    client: AsyncTestClient[Any], db: Database, setup: tuple[Actor, Actor, dict[str, Any]]
) -> None:
    staff, manager, coop = setup
    member = await _add(client, manager, coop["id"], capital_fen=100)
    other_manager, _ = await approved_cooperative(client, staff)
    response = await client.patch(
        f"{URL}/{coop['id']}/members/{member['id']}", json={"capital_fen": 1}, headers=other_manager.headers
    )
    assert response.status_code == 404
    assert response.json()["code"] == "cooperative_not_found"
    assert await members(db, coop["id"]) == [("赵大山", "household", 100)]
    assert await capital_changes(db, member["id"]) == [(0, 100, manager.id)]


async def test_staff_changing_capital_gets_404_and_nothing_changes(
    client: AsyncTestClient[Any], db: Database, setup: tuple[Actor, Actor, dict[str, Any]]
) -> None:
    staff, manager, coop = setup
    member = await _add(client, manager, coop["id"], capital_fen=100)
    response = await client.patch(
        f"{URL}/{coop['id']}/members/{member['id']}", json={"capital_fen": 1}, headers=staff.headers
    )
    assert response.status_code == 404
    assert await capital_changes(db, member["id"]) == [(0, 100, manager.id)]


async def test_negative_capital_is_422(
    client: AsyncTestClient[Any], db: Database, setup: tuple[Actor, Actor, dict[str, Any]]
) -> None:
    _, manager, coop = setup
    member = await _add(client, manager, coop["id"], capital_fen=100)
    response = await client.patch(
        f"{URL}/{coop['id']}/members/{member['id']}", json={"capital_fen": -5}, headers=manager.headers
    )
    assert response.status_code == 422
    assert await capital_changes(db, member["id"]) == [(0, 100, manager.id)]
