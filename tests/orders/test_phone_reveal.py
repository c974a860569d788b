"""PIPL: a cooperative's manager reveals the buyer's full phone for a courier waybill, for a part
of their own cooperative only; every reveal is audited (who, which order and part, when; never the
number); order answers keep the phone masked."""

from __future__ import annotations

import json
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from coopmarket.db import Database
from tests.factories import make_staff, register_buyer
from tests.orders.builders import ADDRESS, Market, build_market, place

PHONE = ADDRESS["phone"]


@pytest.fixture
async def market(client: AsyncTestClient[Any], db: Database) -> Market:
    return await build_market(client, db)


async def _paid_order(client: AsyncTestClient[Any], market: Market, lines: list[tuple[str, int]]) -> dict[str, Any]:
    order = (await place(client, market.buyer, lines)).json()
    paid = await client.post(
        f"/api/v1/orders/{order['id']}/offline-payments",
        json={"reference": f"BANK-{order['id'][-6:]}", "amount_fen": order["total_fen"]},
        headers=market.staff.headers,
    )
    assert paid.status_code == 201, paid.text
    return order


def _part(order: dict[str, Any], cooperative_id: str) -> str:
    return next(p["id"] for p in order["parts"] if p["cooperative_id"] == cooperative_id)  # type: ignore[no-any-return]


def _reveal(order_id: str, part_id: str) -> str:
    return f"/api/v1/orders/{order_id}/parts/{part_id}/reveal-phone"


async def _entries(db: Database, part_id: str) -> list[Any]:
    async with db.read() as conn:
        return list(
            (
                await conn.execute(
                    text(
                        'SELECT actor_id, action, entity, entity_id, "before" AS before_json, "after" AS after_json, at'
                        " FROM audit_entry WHERE entity_id = :id"
                    ),
                    {"id": part_id},
                )
            ).all()
        )


async def test_the_parts_manager_gets_the_full_phone_and_each_reveal_is_audited(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = await _paid_order(client, market, [(market.sku_a["id"], 1)])
    part_id = _part(order, market.coop_a["id"])
    first = await client.post(_reveal(order["id"], part_id), headers=market.manager_a.headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["order_id"], body["part_id"], body["shipping_phone"]) == (order["id"], part_id, PHONE)
    assert body["shipping_name"] == ADDRESS["name"]
    assert first.headers["cache-control"] == "no-store"
    assert (await client.post(_reveal(order["id"], part_id), headers=market.manager_a.headers)).status_code == 200

    entries = await _entries(db, part_id)
    assert len(entries) == 2
    for entry in entries:
        assert (entry.actor_id, entry.action, entry.entity) == (
            market.manager_a.id,
            "order_part.phone_revealed",
            "order_part",
        )
        assert entry.at is not None
        assert json.loads(entry.after_json)["order_id"] == order["id"]
        assert PHONE not in str(tuple(entry))
        assert PHONE[-4:] not in (entry.after_json or "")

    # The order answer keeps the phone masked for the cooperative.
    seen = await client.get(f"/api/v1/orders/{order['id']}", headers=market.manager_a.headers)
    assert PHONE not in seen.text


async def test_another_cooperatives_manager_gets_404_and_no_entry(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = await _paid_order(client, market, [(market.sku_a["id"], 1), (market.sku_b["id"], 1)])
    part_a = _part(order, market.coop_a["id"])
    response = await client.post(_reveal(order["id"], part_a), headers=market.manager_b.headers)
    assert response.status_code == 404
    assert response.json()["code"] == "order_part_not_found"
    assert PHONE not in response.text
    # A part id under another order's id is unknown too.
    other = await _paid_order(client, market, [(market.sku_a["id"], 1)])
    mixed = await client.post(_reveal(other["id"], part_a), headers=market.manager_a.headers)
    assert mixed.status_code == 404
    assert await _entries(db, part_a) == []


async def test_other_roles_get_403_and_anonymous_401(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = await _paid_order(client, market, [(market.sku_a["id"], 1)])
    part_id = _part(order, market.coop_a["id"])
    street = await make_staff(client, db, role="street_staff", region_code="370704003")
    for actor in (market.buyer, market.staff, street, await register_buyer(client)):
        response = await client.post(_reveal(order["id"], part_id), headers=actor.headers)
        assert response.status_code == 403, actor.role
        assert response.json()["code"] == "forbidden_role"
    anonymous = await client.post(_reveal(order["id"], part_id))
    assert anonymous.status_code == 401
    assert await _entries(db, part_id) == []


async def test_an_unpaid_part_does_not_reveal_the_phone(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = (await place(client, market.buyer, [(market.sku_a["id"], 1)])).json()
    part_id = _part(order, market.coop_a["id"])
    response = await client.post(_reveal(order["id"], part_id), headers=market.manager_a.headers)
    assert response.status_code == 409
    assert response.json()["code"] == "phone_not_revealable"
    assert PHONE not in response.text
    assert await _entries(db, part_id) == []
