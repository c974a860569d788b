"""Manager teams: several managers per cooperative, added by phone, removed (never the last one);
a removed manager's token stops working for that cooperative at once; audited; scoped."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from tests.coops.builders import manager_ids
from tests.factories import (
    OTHER_STREET,
    Actor,
    approved_cooperative,
    create_product,
    make_staff,
    product_payload,
    register_buyer,
)

URL = "/api/v1/cooperatives"


def team(coop: dict[str, Any]) -> str:
    return f"{URL}/{coop['id']}/managers"


async def audit_actions(client: AsyncTestClient[Any], staff: Actor, coop: dict[str, Any]) -> list[str]:
    response = await client.get(
        "/api/v1/audit", params={"entity": "cooperative", "id": coop["id"]}, headers=staff.headers
    )
    assert response.status_code == 200, response.text
    return [e["action"] for e in response.json()["items"]]


async def test_a_manager_adds_another_by_phone_who_then_acts_for_it(
    client: AsyncTestClient[Any], db: Database
) -> None:
    staff = await make_staff(client, db)
    manager, coop = await approved_cooperative(client, staff)
    helper = await register_buyer(client, display_name="副理事长")

    added = await client.post(team(coop), json={"phone": helper.phone}, headers=manager.headers)

    assert added.status_code == 201, added.text
    assert added.json()["user_id"] == helper.id
    assert helper.phone not in added.text
    assert sorted(await manager_ids(db, coop["id"])) == sorted([manager.id, helper.id])
    # The helper's existing token acts for the cooperative now (looked up per request).
    assert (await create_product(client, helper, coop["id"]))["cooperative_id"] == coop["id"]
    listed = (await client.get(team(coop), headers=helper.headers)).json()["items"]
    assert {m["user_id"] for m in listed} == {manager.id, helper.id}
    assert "cooperative.manager_added" in await audit_actions(client, staff, coop)

    again = await client.post(team(coop), json={"phone": helper.phone}, headers=manager.headers)
    assert again.status_code == 409
    assert again.json()["code"] == "already_manager"


async def test_unknown_phone_and_staff_are_refused_without_audit(
    client: AsyncTestClient[Any], db: Database
) -> None:
    staff = await make_staff(client, db)
    manager, coop = await approved_cooperative(client, staff)
    before = await audit_actions(client, staff, coop)
    unknown = await client.post(team(coop), json={"phone": "13700000001"}, headers=manager.headers)
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "user_not_found"
    staffer = await client.post(team(coop), json={"phone": staff.phone}, headers=manager.headers)
    assert staffer.status_code == 409
    assert staffer.json()["code"] == "staff_cannot_manage"
    assert await audit_actions(client, staff, coop) == before


async def test_a_removed_managers_token_stops_working_for_it_at_once(
    client: AsyncTestClient[Any], db: Database
) -> None:
    staff = await make_staff(client, db)
    manager, coop = await approved_cooperative(client, staff)
    helper = await register_buyer(client)
    await client.post(team(coop), json={"phone": helper.phone}, headers=manager.headers)

    removed = await client.delete(f"{team(coop)}/{helper.id}", headers=manager.headers)

    assert removed.status_code == 204, removed.text
    assert await manager_ids(db, coop["id"]) == [manager.id]
    refused = await client.post(
        f"{URL}/{coop['id']}/products",
        json=product_payload(),
        headers=helper.headers,
    )
    assert refused.status_code in (403, 404)
    assert (await client.get(team(coop), headers=helper.headers)).status_code == 404
    assert "cooperative.manager_removed" in await audit_actions(client, staff, coop)


async def test_the_last_manager_cannot_be_removed(client: AsyncTestClient[Any], db: Database) -> None:
    staff = await make_staff(client, db)
    manager, coop = await approved_cooperative(client, staff)
    before = await audit_actions(client, staff, coop)
    response = await client.delete(f"{team(coop)}/{manager.id}", headers=manager.headers)
    assert response.status_code == 409
    assert response.json()["code"] == "last_manager"
    assert await manager_ids(db, coop["id"]) == [manager.id]
    assert await audit_actions(client, staff, coop) == before


async def test_a_manager_of_a_cannot_touch_bs_team_or_audit(
    client: AsyncTestClient[Any], db: Database
) -> None:
    staff = await make_staff(client, db)
    manager_a, _ = await approved_cooperative(client, staff)
    manager_b, coop_b = await approved_cooperative(client, staff)
    stranger = await register_buyer(client)
    assert (await client.get(team(coop_b), headers=manager_a.headers)).status_code == 404
    added = await client.post(team(coop_b), json={"phone": stranger.phone}, headers=manager_a.headers)
    assert added.status_code == 404
    assert (
        await client.delete(f"{team(coop_b)}/{manager_b.id}", headers=manager_a.headers)
    ).status_code == 404
    assert await manager_ids(db, coop_b["id"]) == [manager_b.id]
    audit = await client.get(
        "/api/v1/audit", params={"entity": "cooperative", "id": coop_b["id"]}, headers=manager_a.headers
    )
    assert audit.status_code == 403
    # Staff: in scope they read the team; street staff elsewhere get 404; anonymous 401.
    assert (await client.get(team(coop_b), headers=staff.headers)).status_code == 200
    outsider = await make_staff(client, db, role="street_staff", region_code=OTHER_STREET)
    assert (await client.get(team(coop_b), headers=outsider.headers)).status_code == 404
    assert (
        await client.post(team(coop_b), json={"phone": stranger.phone}, headers=staff.headers)
    ).status_code == 404
    assert (await client.get(team(coop_b))).status_code == 401
