"""Every endpoint of the villages slice refuses whom it does not serve, and a refusal changes nothing.

Anonymous: 401. A buyer or a cooperative manager: 403 ``forbidden_role``. Staff whose scope does
not cover the village (village staff of another village, street staff of another street): 404, as
if the object did not exist. Staff in scope whose role may not do the action: 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from tests.factories import approved_cooperative, make_staff, register_buyer
from tests.villages.builders import (
    APPROVAL,
    OTHER_STREET,
    SAME_STREET_VILLAGE,
    TODAY,
    VILLAGE,
    Actor,
    asset_payload,
    contract_payload,
    create_asset,
    create_contract,
    instalments,
    set_today,
    snapshot,
    street_staff,
    village_staff,
)


@dataclass
class World:
    keeper: Actor
    street: Actor
    asset_id: str
    contract_id: str
    instalment_id: str


@dataclass(frozen=True)
class Call:
    name: str
    method: str
    url: str
    body: dict[str, Any] | None
    not_found: str  # the 404 code for staff out of scope
    writer: str  # "keeper" (village staff), "approver" (street/district staff), "staff" (any) or "reader"

    def resolve(self, world: World) -> tuple[str, dict[str, Any] | None]:
        ids = {"asset": world.asset_id, "contract": world.contract_id, "instalment": world.instalment_id}
        return self.url.format(village=VILLAGE, **ids), self.body


RENT = {"annual_rent_fen": 5_000_000, "schedule": "yearly", "document_ref": "补1", "approval_ref": APPROVAL}
CALLS = [
    Call("list assets", "GET", "/api/v1/villages/{village}/assets", None, "village_not_found", "reader"),
    Call(
        "register asset",
        "POST",
        "/api/v1/villages/{village}/assets",
        asset_payload(),
        "village_not_found",
        "keeper",
    ),
    Call("edit asset", "PATCH", "/api/v1/assets/{asset}", {"status": "in_use"}, "asset_not_found", "keeper"),
    Call(
        "idle assets", "GET", "/api/v1/idle-assets?region_code={village}", None, "region_not_found", "reader"
    ),
    Call(
        "list contracts", "GET", "/api/v1/villages/{village}/contracts", None, "village_not_found", "reader"
    ),
    Call(
        "register contract", "POST", "/api/v1/villages/{village}/contracts", {}, "village_not_found", "keeper"
    ),
    Call("read contract", "GET", "/api/v1/contracts/{contract}", None, "contract_not_found", "reader"),
    Call(
        "instalments", "GET", "/api/v1/contracts/{contract}/instalments", None, "contract_not_found", "reader"
    ),
    Call(
        "amend",
        "POST",
        "/api/v1/contracts/{contract}/amendments",
        {"effective_on": "2027-01-01", "ends_on": "2028-12-31", "reason": "调租", **RENT},
        "contract_not_found",
        "keeper",
    ),
    Call(
        "renew",
        "POST",
        "/api/v1/contracts/{contract}/renewals",
        {"ends_on": "2030-12-31", **RENT},
        "contract_not_found",
        "keeper",
    ),
    Call(
        "terminate",
        "POST",
        "/api/v1/contracts/{contract}/termination",
        {"terminated_on": "2026-12-31", "reason": "协商解除"},
        "contract_not_found",
        "keeper",
    ),
    Call(
        "remind",
        "POST",
        "/api/v1/contracts/{contract}/reminders",
        {"sent_on": "2026-06-15", "channel": "letter"},
        "contract_not_found",
        "staff",
    ),
    Call(
        "collection", "GET", "/api/v1/contracts/{contract}/collection", None, "contract_not_found", "reader"
    ),
    Call(
        "resolve finding",
        "POST",
        "/api/v1/contracts/{contract}/flags/no_approval_record/resolve",
        {"resolution": "已补开会议"},
        "contract_not_found",
        "approver",
    ),
    Call(
        "receipt",
        "POST",
        "/api/v1/instalments/{instalment}/receipts",
        {"amount_fen": 100, "received_on": "2026-06-01", "reference": "R-1"},
        "instalment_not_found",
        "keeper",
    ),
    Call(
        "write off",
        "POST",
        "/api/v1/instalments/{instalment}/write-off",
        {"reason": "无力偿还"},
        "instalment_not_found",
        "approver",
    ),
    Call("arrears", "GET", "/api/v1/arrears?region_code={village}", None, "region_not_found", "reader"),
    Call(
        "campaign",
        "GET",
        "/api/v1/contract-campaign?region_code={village}&from=2026-01-01&to=2026-06-30",
        None,
        "region_not_found",
        "reader",
    ),
]
IDS = [call.name for call in CALLS]


@pytest.fixture
async def world(client: AsyncTestClient[Any], db: Database) -> World:
    set_today(TODAY)
    keeper = await village_staff(client, db)
    street = await street_staff(client, db)
    asset = await create_asset(client, keeper, status="in_use")
    contract = await create_contract(client, keeper, approval_ref=None)
    first = (await instalments(client, keeper, contract["id"]))[0]
    return World(keeper, street, asset["id"], contract["id"], first["id"])


async def _call(client: AsyncTestClient[Any], world: World, call: Call, headers: dict[str, str]) -> Any:
    url, body = call.resolve(world)
    if call.name == "register contract":
        body = contract_payload(world.asset_id)
    return await client.request(
        call.method, url, json=body, headers={**headers, "Idempotency-Key": f"authz-{call.name}"}
    )


async def _refused(
    client: AsyncTestClient[Any],
    db: Database,
    world: World,
    call: Call,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    before = await snapshot(db)
    response = await _call(client, world, call, headers)
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert await snapshot(db) == before


@pytest.mark.parametrize("call", CALLS, ids=IDS)
async def test_anonymous_callers_are_asked_to_sign_in(
    client: AsyncTestClient[Any], db: Database, world: World, call: Call
) -> None:
    await _refused(client, db, world, call, {}, 401, "not_authenticated")


@pytest.mark.parametrize("call", CALLS, ids=IDS)
async def test_buyers_and_cooperative_managers_are_refused(
    client: AsyncTestClient[Any], db: Database, world: World, call: Call
) -> None:
    buyer = await register_buyer(client)
    await _refused(client, db, world, call, buyer.headers, 403, "forbidden_role")
    district = await make_staff(client, db)
    manager, _ = await approved_cooperative(client, district)
    await _refused(client, db, world, call, manager.headers, 403, "forbidden_role")


@pytest.mark.parametrize("call", CALLS, ids=IDS)
async def test_staff_of_another_village_or_street_see_nothing(
    client: AsyncTestClient[Any], db: Database, world: World, call: Call
) -> None:
    other_village = await village_staff(client, db, SAME_STREET_VILLAGE)
    other_street = await street_staff(client, db, OTHER_STREET)
    await _refused(client, db, world, call, other_village.headers, 404, call.not_found)
    await _refused(client, db, world, call, other_street.headers, 404, call.not_found)


@pytest.mark.parametrize("call", [c for c in CALLS if c.writer == "keeper"], ids=lambda c: c.name)
async def test_only_the_villages_own_staff_keep_its_register(
    client: AsyncTestClient[Any], db: Database, world: World, call: Call
) -> None:
    district = await make_staff(client, db)
    for actor in (world.street, district):
        await _refused(client, db, world, call, actor.headers, 403, "forbidden_role")


@pytest.mark.parametrize("call", [c for c in CALLS if c.writer == "approver"], ids=lambda c: c.name)
async def test_only_street_or_district_staff_approve(
    client: AsyncTestClient[Any], db: Database, world: World, call: Call
) -> None:
    await _refused(client, db, world, call, world.keeper.headers, 403, "forbidden_role")
    response = await _call(client, world, call, world.street.headers)
    assert response.status_code in (200, 201), response.text


@pytest.mark.parametrize("call", CALLS, ids=IDS)
async def test_staff_in_scope_are_served(
    client: AsyncTestClient[Any], db: Database, world: World, call: Call
) -> None:
    actor = {"keeper": world.keeper, "approver": world.street, "staff": world.street, "reader": world.street}[
        call.writer
    ]
    response = await _call(client, world, call, actor.headers)
    assert response.status_code in (200, 201), (call.name, response.text)
