"""approve / reject / suspend / reinstate: who may decide, which transitions exist, the audit trail."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from tests.coops.builders import (
    OTHER_STREET,
    OTHER_VILLAGE,
    cooperative_row,
    decide,
    register_cooperative,
    status_events,
)
from tests.factories import STREET, VILLAGE, approved_cooperative, coop_payload, make_staff, register_buyer

URL = "/api/v1/cooperatives"


async def _pending(client: AsyncTestClient[Any], **overrides: Any) -> tuple[Any, dict[str, Any]]:
    manager = await register_buyer(client)
    return manager, await register_cooperative(client, manager, **overrides)


async def test_district_staff_approve_a_pending_cooperative(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given a pending cooperative and a district staff member
    staff = await make_staff(client, db)
    manager, coop = await _pending(client)
    # When they approve it with a reason
    response = await client.post(
        f"{URL}/{coop['id']}/approve", json={"reason": "材料齐全"}, headers=staff.headers
    )
    # Then it is approved, and the decision is on record
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == coop["id"]
    assert body["status"] == "approved"
    assert body["status_reason"] == "材料齐全"
    assert await status_events(db, coop["id"]) == [
        (None, "pending", None, manager.id),
        ("pending", "approved", "材料齐全", staff.id),
    ]


@pytest.mark.parametrize("body", [None, {}])
async def test_approval_needs_no_reason(
    client: AsyncTestClient[Any], db: Database, body: dict[str, Any] | None
) -> None:
    staff = await make_staff(client, db)
    _, coop = await _pending(client)
    response = await client.post(f"{URL}/{coop['id']}/approve", json=body, headers=staff.headers)
    assert response.status_code == 200
    assert response.json()["status"] == "approved"
    assert response.json()["status_reason"] is None


async def test_street_staff_approve_in_their_street(client: AsyncTestClient[Any], db: Database) -> None:
    staff = await make_staff(client, db, role="street_staff", region_code=STREET)
    _, coop = await _pending(client)
    response = await client.post(f"{URL}/{coop['id']}/approve", json={"reason": "ok"}, headers=staff.headers)
    assert response.status_code == 200
    assert response.json()["status"] == "approved"


async def test_street_staff_of_another_street_get_404_and_nothing_changes(
    client: AsyncTestClient[Any], db: Database
) -> None:
    staff = await make_staff(client, db, role="street_staff", region_code=OTHER_STREET)
    manager, coop = await _pending(client)
    response = await client.post(f"{URL}/{coop['id']}/approve", json={"reason": "ok"}, headers=staff.headers)
    assert response.status_code == 404
    assert response.json()["code"] == "cooperative_not_found"
    row = await cooperative_row(db, coop["id"])
    assert row is not None
    assert row["status"] == "pending"
    assert await status_events(db, coop["id"]) == [(None, "pending", None, manager.id)]


async def test_village_staff_may_not_approve(client: AsyncTestClient[Any], db: Database) -> None:
    staff = await make_staff(client, db, role="village_staff", region_code=VILLAGE)
    manager, coop = await _pending(client)
    response = await client.post(f"{URL}/{coop['id']}/approve", json={"reason": "ok"}, headers=staff.headers)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden_role"
    row = await cooperative_row(db, coop["id"])
    assert row is not None
    assert row["status"] == "pending"
    assert await status_events(db, coop["id"]) == [(None, "pending", None, manager.id)]


async def test_a_buyer_may_not_approve(client: AsyncTestClient[Any], db: Database) -> None:
    buyer = await register_buyer(client)
    manager, coop = await _pending(client)
    response = await client.post(f"{URL}/{coop['id']}/approve", json={"reason": "ok"}, headers=buyer.headers)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden_role"
    row = await cooperative_row(db, coop["id"])
    assert row is not None
    assert row["status"] == "pending"
    assert await status_events(db, coop["id"]) == [(None, "pending", None, manager.id)]


async def test_a_manager_may_not_approve_their_own_cooperative(
    client: AsyncTestClient[Any], db: Database
) -> None:
    manager, coop = await _pending(client)
    response = await client.post(
        f"{URL}/{coop['id']}/approve", json={"reason": "ok"}, headers=manager.headers
    )
    assert response.status_code == 403
    row = await cooperative_row(db, coop["id"])
    assert row is not None
    assert row["status"] == "pending"


async def test_deciding_needs_sign_in(client: AsyncTestClient[Any], db: Database) -> None:
    _, coop = await _pending(client)
    response = await client.post(f"{URL}/{coop['id']}/approve", json={"reason": "ok"})
    assert response.status_code == 401
    row = await cooperative_row(db, coop["id"])
    assert row is not None
    assert row["status"] == "pending"


async def test_district_staff_get_404_for_an_unknown_cooperative(
    client: AsyncTestClient[Any], db: Database
) -> None:
    staff = await make_staff(client, db)
    response = await client.post(f"{URL}/01hzzzzzzzzzzzzzzzzzzzzzzz/approve", json={}, headers=staff.headers)
    assert response.status_code == 404


async def test_district_staff_decide_anywhere_in_the_district(
    client: AsyncTestClient[Any], db: Database
) -> None:
    staff = await make_staff(client, db)
    _, coop = await _pending(client, village_code=OTHER_VILLAGE)
    response = await client.post(f"{URL}/{coop['id']}/approve", json={}, headers=staff.headers)
    assert response.status_code == 200


async def test_reject_with_a_reason(client: AsyncTestClient[Any], db: Database) -> None:
    staff = await make_staff(client, db)
    _, coop = await _pending(client)
    response = await client.post(
        f"{URL}/{coop['id']}/reject", json={"reason": "章程缺失"}, headers=staff.headers
    )
    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    assert response.json()["status_reason"] == "章程缺失"


@pytest.mark.parametrize("action", ["reject", "suspend"])
@pytest.mark.parametrize("body", [None, {}, {"reason": None}, {"reason": "   "}])
async def test_reject_and_suspend_need_a_reason(
    client: AsyncTestClient[Any], db: Database, action: str, body: dict[str, Any] | None
) -> None:
    staff = await make_staff(client, db)
    _, coop = await approved_cooperative(client, staff) if action == "suspend" else await _pending(client)
    before = await status_events(db, coop["id"])
    response = await client.post(f"{URL}/{coop['id']}/{action}", json=body, headers=staff.headers)
    assert response.status_code == 422
    assert response.json()["code"] == "reason_required"
    assert response.json()["errors"] == [{"field": "reason", "message": "required"}]
    assert await status_events(db, coop["id"]) == before


async def test_suspend_then_reinstate(client: AsyncTestClient[Any], db: Database) -> None:
    staff = await make_staff(client, db)
    manager, coop = await approved_cooperative(client, staff)
    suspended = await client.post(
        f"{URL}/{coop['id']}/suspend", json={"reason": "抽检不合格"}, headers=staff.headers
    )
    assert suspended.status_code == 200
    assert suspended.json()["status"] == "suspended"
    assert suspended.json()["status_reason"] == "抽检不合格"
    reinstated = await client.post(
        f"{URL}/{coop['id']}/reinstate", json={"reason": "整改完成"}, headers=staff.headers
    )
    assert reinstated.status_code == 200
    assert reinstated.json()["status"] == "approved"
    assert await status_events(db, coop["id"]) == [
        (None, "pending", None, manager.id),
        ("pending", "approved", "材料齐全", staff.id),
        ("approved", "suspended", "抽检不合格", staff.id),
        ("suspended", "approved", "整改完成", staff.id),
    ]


@pytest.mark.parametrize(
    ("path", "action"),
    [
        ([], "reinstate"),
        ([], "suspend"),
        (["approve"], "approve"),
        (["approve"], "reject"),
        (["approve"], "reinstate"),
        (["reject"], "approve"),
        (["reject"], "suspend"),
        (["reject"], "reinstate"),
        (["approve", "suspend"], "approve"),
        (["approve", "suspend"], "suspend"),
        (["approve", "suspend"], "reject"),
    ],
)
async def test_invalid_transition_is_409(
    client: AsyncTestClient[Any], db: Database, path: list[str], action: str
) -> None:
    # Given a cooperative brought to some status
    staff = await make_staff(client, db)
    _, coop = await _pending(client)
    for step in path:
        await decide(client, staff, coop["id"], step)
    before_row = await cooperative_row(db, coop["id"])
    before_events = await status_events(db, coop["id"])
    # When a decision that does not start from that status is made
    response = await client.post(
        f"{URL}/{coop['id']}/{action}", json={"reason": "再次"}, headers=staff.headers
    )
    # Then it is refused and nothing changes
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    assert await cooperative_row(db, coop["id"]) == before_row
    assert await status_events(db, coop["id"]) == before_events


async def test_two_concurrent_decisions_apply_once(client: AsyncTestClient[Any], db: Database) -> None:
    first, second = await make_staff(client, db), await make_staff(client, db)
    _, coop = await _pending(client)
    responses = await asyncio.gather(
        client.post(f"{URL}/{coop['id']}/approve", json={"reason": "一"}, headers=first.headers),
        client.post(f"{URL}/{coop['id']}/reject", json={"reason": "二"}, headers=second.headers),
    )
    assert sorted(r.status_code for r in responses) == [200, 409]
    events = await status_events(db, coop["id"])
    assert len(events) == 2
    row = await cooperative_row(db, coop["id"])
    assert row is not None
    assert row["status"] == events[-1][1]


async def test_staff_may_not_register_a_cooperative(client: AsyncTestClient[Any], db: Database) -> None:
    # Given a street staff member (they approve cooperatives)
    staff = await make_staff(client, db, role="street_staff", region_code=STREET)
    # When they try to register one
    response = await client.post("/api/v1/cooperatives", json=coop_payload(), headers=staff.headers)
    # Then they are refused, and no cooperative exists
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden_role"
    listed = await client.get("/api/v1/cooperatives", params={"status": "pending"}, headers=staff.headers)
    assert listed.json()["items"] == []
