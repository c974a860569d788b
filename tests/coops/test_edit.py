"""PATCH /api/v1/cooperatives/{id}: its manager edits while pending or approved."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.core import clock
from coopmarket.db import Database
from tests.coops.builders import cooperative_row, decide, register_cooperative
from tests.factories import approved_cooperative, make_staff, register_buyer

URL = "/api/v1/cooperatives"


async def test_its_manager_edits_names_and_charter(client: AsyncTestClient[Any], db: Database) -> None:
    # Given an approved cooperative
    staff = await make_staff(client, db)
    manager, coop = await approved_cooperative(client, staff)
    # When its manager changes the name, chairperson and one charter field
    response = await client.patch(
        f"{URL}/{coop['id']}",
        json={
            "name": "新名称合作社",
            "chairperson": "王秀英",
            "charter": {"collective_sales_share_bps": 3000},
        },
        headers=manager.headers,
    )
    # Then those change and the rest stays
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "新名称合作社"
    assert body["chairperson"] == "王秀英"
    assert body["party_organization"] == coop["party_organization"]
    assert body["charter"] == {
        "reserve_rate_bps": 1000,
        "patronage_return_bps": 7000,
        "collective_sales_share_bps": 3000,
    }
    assert body["status"] == "approved"
    row = await cooperative_row(db, coop["id"])
    assert row is not None
    assert (row["name"], row["chairperson"], row["collective_sales_share_bps"]) == (
        "新名称合作社",
        "王秀英",
        3000,
    )


async def test_an_edit_moves_updated_at_only(client: AsyncTestClient[Any]) -> None:
    clock.set_now(datetime(2026, 3, 1, 8, 0, tzinfo=UTC))
    manager = await register_buyer(client)
    coop = await register_cooperative(client, manager)
    clock.set_now(datetime(2026, 3, 1, 8, 5, tzinfo=UTC))
    response = await client.patch(
        f"{URL}/{coop['id']}", json={"party_organization": "新党支部"}, headers=manager.headers
    )
    assert coop["updated_at"] == "2026-03-01T08:00:00Z"
    assert response.json()["created_at"] == "2026-03-01T08:00:00Z"
    assert response.json()["updated_at"] == "2026-03-01T08:05:00Z"


async def test_a_pending_cooperative_is_editable(client: AsyncTestClient[Any]) -> None:
    manager = await register_buyer(client)
    coop = await register_cooperative(client, manager)
    response = await client.patch(f"{URL}/{coop['id']}", json={"name": "改名合作社"}, headers=manager.headers)
    assert response.status_code == 200
    assert response.json()["name"] == "改名合作社"
    assert response.json()["status"] == "pending"


async def test_patronage_below_minimum_is_refused_and_nothing_changes(
    client: AsyncTestClient[Any], db: Database
) -> None:
    manager = await register_buyer(client)
    coop = await register_cooperative(client, manager)
    before = await cooperative_row(db, coop["id"])
    response = await client.patch(
        f"{URL}/{coop['id']}",
        json={"name": "不应生效", "charter": {"patronage_return_bps": 5000}},
        headers=manager.headers,
    )
    assert response.status_code == 422
    assert response.json()["code"] == "patronage_return_below_minimum"
    assert await cooperative_row(db, coop["id"]) == before


@pytest.mark.parametrize(
    "body", [{"name": ""}, {"name": None}, {"charter": {"reserve_rate_bps": 10001}}, {"uscc": "x"}]
)
async def test_bad_edits_are_422(client: AsyncTestClient[Any], db: Database, body: dict[str, Any]) -> None:
    manager = await register_buyer(client)
    coop = await register_cooperative(client, manager)
    before = await cooperative_row(db, coop["id"])
    response = await client.patch(f"{URL}/{coop['id']}", json=body, headers=manager.headers)
    assert response.status_code == 422
    assert await cooperative_row(db, coop["id"]) == before


@pytest.mark.parametrize("steps", [["reject"], ["approve", "suspend"]])
async def test_rejected_or_suspended_is_not_editable(
    client: AsyncTestClient[Any], db: Database, steps: list[str]
) -> None:
    staff = await make_staff(client, db)
    manager = await register_buyer(client)
    coop = await register_cooperative(client, manager)
    for step in steps:
        await decide(client, staff, coop["id"], step)
    before = await cooperative_row(db, coop["id"])
    response = await client.patch(f"{URL}/{coop['id']}", json={"name": "改名"}, headers=manager.headers)
    assert response.status_code == 409
    assert response.json()["code"] == "cooperative_not_editable"
    assert await cooperative_row(db, coop["id"]) == before


async def test_another_manager_gets_404_and_nothing_changes(
    client: AsyncTestClient[Any], db: Database
) -> None:
    staff = await make_staff(client, db)
    _, coop = await approved_cooperative(client, staff)
    other_manager, _ = await approved_cooperative(client, staff)
    before = await cooperative_row(db, coop["id"])
    response = await client.patch(f"{URL}/{coop['id']}", json={"name": "抢注"}, headers=other_manager.headers)
    assert response.status_code == 404
    assert response.json()["code"] == "cooperative_not_found"
    assert await cooperative_row(db, coop["id"]) == before


async def test_a_buyer_gets_404_and_nothing_changes(client: AsyncTestClient[Any], db: Database) -> None:
    staff = await make_staff(client, db)
    _, coop = await approved_cooperative(client, staff)
    buyer = await register_buyer(client)
    before = await cooperative_row(db, coop["id"])
    response = await client.patch(f"{URL}/{coop['id']}", json={"name": "抢注"}, headers=buyer.headers)
    assert response.status_code == 404
    assert await cooperative_row(db, coop["id"]) == before


async def test_staff_in_scope_do_not_edit_and_nothing_changes(
    client: AsyncTestClient[Any], db: Database
) -> None:
    staff = await make_staff(client, db)
    _, coop = await approved_cooperative(client, staff)
    before = await cooperative_row(db, coop["id"])
    response = await client.patch(f"{URL}/{coop['id']}", json={"name": "代改"}, headers=staff.headers)
    assert response.status_code == 404
    assert await cooperative_row(db, coop["id"]) == before


async def test_editing_needs_sign_in(client: AsyncTestClient[Any], db: Database) -> None:
    manager = await register_buyer(client)
    coop = await register_cooperative(client, manager)
    before = await cooperative_row(db, coop["id"])
    response = await client.patch(f"{URL}/{coop['id']}", json={"name": "匿名"})
    assert response.status_code == 401
    assert await cooperative_row(db, coop["id"]) == before
