"""Separation of duties on money: nobody records a payment, confirms receipt or decides a refund for
an order in which they are on both sides.

Self-dealing, as it would happen today: cooperative A's manager orders from A, records the offline
payment, ships and receives it, and the sale and the village collective's share appear in the
district's report. Here such an order is flagged related-party when placed; its payment, receipt
and refunds are left to staff; the report shows that income apart.

The market (``tests/orders/builders.py``): cooperative A in ``VILLAGE`` (collective share 10 %),
B in ``OTHER_VILLAGE``; platform fee 3 %. A's SKU costs 3990 fen.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from coopmarket.core import clock
from coopmarket.db import Database
from coopmarket.orders import fulfilment
from tests.factories import OTHER_STREET, STREET, VILLAGE, Actor, ledger_balances, login, make_staff
from tests.orders.builders import Market, build_market, new_key, place

REPORT = "/api/v1/reports/collective-income"


@pytest.fixture
async def market(client: AsyncTestClient[Any], db: Database) -> Market:
    return await build_market(client, db)


async def self_dealt(client: AsyncTestClient[Any], market: Market, quantity: int = 2) -> dict[str, Any]:
    """Cooperative A's manager orders from A."""
    response = await place(client, market.manager_a, [(market.sku_a["id"], quantity)])
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def pay_offline(
    client: AsyncTestClient[Any], actor: Actor, order: dict[str, Any], reference: str = "R"
) -> Any:
    return await client.post(
        f"/api/v1/orders/{order['id']}/offline-payments",
        json={"reference": reference, "amount_fen": order["total_fen"]},
        headers=actor.headers,
    )


async def ship(client: AsyncTestClient[Any], manager: Actor, order: dict[str, Any], part_id: str) -> None:
    response = await client.post(
        f"/api/v1/orders/{order['id']}/parts/{part_id}/ship",
        json={"carrier": "EMS", "tracking_number": f"E{part_id[-6:]}"},
        headers=manager.headers,
    )
    assert response.status_code == 200, response.text


async def receive(client: AsyncTestClient[Any], actor: Actor, order: dict[str, Any], part_id: str) -> Any:
    return await client.post(f"/api/v1/orders/{order['id']}/parts/{part_id}/receive", headers=actor.headers)


async def shown(client: AsyncTestClient[Any], actor: Actor, order_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/orders/{order_id}", headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def audit(client: AsyncTestClient[Any], staff: Actor, **params: str) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/audit", params=params, headers=staff.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def part_of(order: dict[str, Any], cooperative: dict[str, Any]) -> dict[str, Any]:
    return next(p for p in order["parts"] if p["cooperative_id"] == cooperative["id"])


# ------------------------------------------------------------------ flagged when placed


async def test_an_order_from_the_buyers_own_cooperative_is_flagged_and_audited(
    client: AsyncTestClient[Any], market: Market
) -> None:
    # When cooperative A's manager orders from A and from B
    response = await place(client, market.manager_a, [(market.sku_a["id"], 1), (market.sku_b["id"], 1)])

    # Then the order and A's part are related-party, B's part is not
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["is_related_party"] is True
    assert part_of(order, market.coop_a)["is_related_party"] is True
    assert part_of(order, market.coop_b)["is_related_party"] is False
    assert (await shown(client, market.manager_a, order["id"]))["is_related_party"] is True
    # And the audit log has one entry, for A's part, placed in A's village
    [entry] = await audit(client, market.staff, entity="order", id=order["id"])
    assert (entry["action"], entry["actor_id"]) == ("order.related_party_placed", market.manager_a.id)
    assert (entry["region_code"], entry["cooperative_id"]) == (VILLAGE, market.coop_a["id"])
    assert entry["after"]["part_id"] == part_of(order, market.coop_a)["id"]


async def test_an_ordinary_order_is_not_flagged_and_not_audited(
    client: AsyncTestClient[Any], market: Market
) -> None:
    buyer_order = (await place(client, market.buyer, [(market.sku_a["id"], 1)])).json()
    manager_b_order = (await place(client, market.manager_b, [(market.sku_a["id"], 1)])).json()

    for order in (buyer_order, manager_b_order):
        assert order["is_related_party"] is False
        assert [p["is_related_party"] for p in order["parts"]] == [False]
        assert await audit(client, market.staff, entity="order", id=order["id"]) == []


# ------------------------------------------------------------------ the offline payment


async def test_the_manager_cannot_record_the_payment_of_their_own_order(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given A's manager's order from A
    order = await self_dealt(client, market)

    # When they record its offline payment themselves
    response = await pay_offline(client, market.manager_a, order)

    # Then they are refused, and nothing was recorded
    assert (response.status_code, response.json()["code"]) == (403, "related_party_payment")
    after = await shown(client, market.manager_a, order["id"])
    assert (after["status"], after["paid_fen"]) == ("pending_payment", 0)
    assert await ledger_balances(db) == {}


async def test_staff_in_scope_record_it_and_the_audit_log_says_so(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = await self_dealt(client, market)
    other_street = await make_staff(client, db, role="street_staff", region_code=OTHER_STREET)

    outside = await pay_offline(client, other_street, order)
    response = await pay_offline(client, market.staff, order, "BANK-77")

    assert (outside.status_code, outside.json()["code"]) == (404, "order_not_found")
    assert response.status_code == 201, response.text
    assert (await shown(client, market.manager_a, order["id"]))["status"] == "paid"
    actions = [
        (e["action"], e["actor_id"])
        for e in await audit(client, market.staff, entity="order", id=order["id"])
    ]
    assert actions == [
        ("order.related_party_paid", market.staff.id),
        ("order.related_party_placed", market.manager_a.id),
    ]


async def test_a_manager_buying_from_two_cooperatives_one_their_own_cannot_record_the_payment(
    client: AsyncTestClient[Any], market: Market
) -> None:
    order = (await place(client, market.manager_a, [(market.sku_a["id"], 1), (market.sku_b["id"], 1)])).json()

    response = await pay_offline(client, market.manager_a, order)

    assert (response.status_code, response.json()["code"]) == (403, "related_party_payment")
    assert (await shown(client, market.manager_a, order["id"]))["paid_fen"] == 0


async def test_a_buyer_who_became_the_sellers_manager_after_ordering_is_on_both_sides(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given a buyer's ordinary order from A, and the buyer made a manager of A afterwards
    order = (await place(client, market.buyer, [(market.sku_a["id"], 1)])).json()
    assert order["is_related_party"] is False
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO cooperative_manager (cooperative_id, user_id, created_at) "
                "VALUES (:c, :u, CURRENT_TIMESTAMP)"
            ),
            {"c": market.coop_a["id"], "u": market.buyer.id},
        )
        await conn.execute(
            text("UPDATE user_account SET role = 'coop_manager' WHERE id = :u"), {"u": market.buyer.id}
        )
    buyer_manager = await login(client, market.buyer.phone, market.buyer.password)

    # When they record the payment of their own order, which they now sell too
    response = await pay_offline(client, buyer_manager, order)

    # Then they are refused, though the order was not flagged
    assert (response.status_code, response.json()["code"]) == (403, "related_party_payment")
    assert (await shown(client, buyer_manager, order["id"]))["paid_fen"] == 0


# ------------------------------------------------------------------ receipt


async def test_the_manager_cannot_confirm_receipt_of_their_own_part_but_staff_can(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given A's manager's order from A (and from B), paid by staff and both parts shipped
    order = (await place(client, market.manager_a, [(market.sku_a["id"], 2), (market.sku_b["id"], 1)])).json()
    assert (await pay_offline(client, market.staff, order)).status_code == 201
    part_a, part_b = part_of(order, market.coop_a), part_of(order, market.coop_b)
    await ship(client, market.manager_a, order, part_a["id"])
    await ship(client, market.manager_b, order, part_b["id"])
    other_street = await make_staff(client, db, role="street_staff", region_code=OTHER_STREET)

    # When the manager confirms receipt of their own part
    refused = await receive(client, market.manager_a, order, part_a["id"])

    # Then they are refused and nothing is settled
    assert (refused.status_code, refused.json()["code"]) == (403, "related_party_receipt")
    assert part_of(await shown(client, market.manager_a, order["id"]), market.coop_a)["status"] == "shipped"
    assert not any(k.startswith("collective_income:") for k in await ledger_balances(db))

    # And staff of another street cannot either, while the manager receives B's part as any buyer
    outside = await receive(client, other_street, order, part_a["id"])
    assert (outside.status_code, outside.json()["code"]) == (404, "order_not_found")
    assert (await receive(client, market.manager_a, order, part_b["id"])).status_code == 200

    # When district staff confirm receipt of A's part
    response = await receive(client, market.staff, order, part_a["id"])

    # Then it is received and settled, and the audit log names them
    assert response.status_code == 200, response.text
    after = await shown(client, market.manager_a, order["id"])
    assert (after["status"], part_of(after, market.coop_a)["status"]) == ("completed", "received")
    [entry] = await audit(client, market.staff, entity="order_part", id=part_a["id"])
    assert (entry["action"], entry["actor_id"]) == ("order_part.received_by_staff", market.staff.id)


async def test_staff_may_not_confirm_receipt_of_an_ordinary_part(
    client: AsyncTestClient[Any], market: Market
) -> None:
    order = (await place(client, market.buyer, [(market.sku_a["id"], 1)])).json()
    assert (await pay_offline(client, market.staff, order)).status_code == 201
    await ship(client, market.manager_a, order, order["parts"][0]["id"])

    response = await receive(client, market.staff, order, order["parts"][0]["id"])

    assert (response.status_code, response.json()["code"]) == (404, "order_not_found")
    assert (await shown(client, market.buyer, order["id"]))["parts"][0]["status"] == "shipped"


async def test_a_related_party_part_is_still_received_automatically_after_the_hold_period(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = await self_dealt(client, market)
    assert (await pay_offline(client, market.staff, order)).status_code == 201
    await ship(client, market.manager_a, order, order["parts"][0]["id"])
    clock.advance(timedelta(days=11))

    assert await fulfilment.auto_receive_shipped_parts(db, hold=timedelta(days=10)) == 1
    manager = await login(client, market.manager_a.phone, market.manager_a.password)  # (tokens last 7 days)
    assert (await shown(client, manager, order["id"]))["status"] == "completed"


# ------------------------------------------------------------------ refunds


async def test_the_manager_cannot_decide_a_refund_of_their_own_order(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given A's manager's paid order from A
    order = await self_dealt(client, market)
    assert (await pay_offline(client, market.staff, order)).status_code == 201
    part_id = order["parts"][0]["id"]

    # When they refund it: as its buyer, it is only a request
    response = await client.post(
        f"/api/v1/orders/{order['id']}/refunds",
        json={"part_id": part_id, "amount_fen": 3000, "reason": "不要了"},
        headers={**market.manager_a.headers, "Idempotency-Key": new_key()},
    )
    assert (response.status_code, response.json()["status"]) == (201, "requested")
    refund_id = response.json()["id"]

    # And they may neither approve nor reject it
    approve = await client.post(f"/api/v1/refunds/{refund_id}/approve", headers=market.manager_a.headers)
    reject = await client.post(
        f"/api/v1/refunds/{refund_id}/reject", json={"reason": "算了"}, headers=market.manager_a.headers
    )
    assert (approve.status_code, approve.json()["code"]) == (403, "related_party_refund")
    assert (reject.status_code, reject.json()["code"]) == (403, "related_party_refund")
    assert (await shown(client, market.manager_a, order["id"]))["refunded_fen"] == 0
    assert await ledger_balances(db, "escrow:") == {f"escrow:coop:{market.coop_a['id']}": -7980}

    # But staff in scope may
    approved = await client.post(f"/api/v1/refunds/{refund_id}/approve", headers=market.staff.headers)
    assert (approved.status_code, approved.json()["status"]) == (200, "approved")
    assert (await shown(client, market.manager_a, order["id"]))["refunded_fen"] == 3000


async def test_staff_hand_back_the_refund_of_a_related_party_part(
    client: AsyncTestClient[Any], market: Market
) -> None:
    # Given an outstanding offline refund of A's manager's own order
    order = await self_dealt(client, market)
    assert (await pay_offline(client, market.staff, order)).status_code == 201
    cancelled = await client.post(f"/api/v1/orders/{order['id']}/cancel", headers=market.manager_a.headers)
    assert cancelled.status_code == 200
    [refund] = (await client.get("/api/v1/refunds?status=outstanding", headers=market.staff.headers)).json()[
        "items"
    ]

    # When the manager (the buyer who is owed it) records it handed back, then staff do
    own = await client.post(
        f"/api/v1/refunds/{refund['id']}/handed-back",
        json={"reference": "R"},
        headers=market.manager_a.headers,
    )
    by_staff = await client.post(
        f"/api/v1/refunds/{refund['id']}/handed-back",
        json={"reference": "转账"},
        headers=market.staff.headers,
    )

    # Then only staff's counts
    assert (own.status_code, own.json()["code"]) == (403, "related_party_refund")
    assert (by_staff.status_code, by_staff.json()["handed_back_by"]) == (200, market.staff.id)


# ------------------------------------------------------------------ the report


async def test_the_income_report_shows_related_party_income_apart(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given a self-dealt sale and an ordinary sale of A, both received (798 fen to the collective each)
    related = await self_dealt(client, market)
    ordinary = (await place(client, market.buyer, [(market.sku_a["id"], 2)])).json()
    for order in (related, ordinary):
        assert (await pay_offline(client, market.staff, order, f"R-{order['id'][-4:]}")).status_code == 201
        await ship(client, market.manager_a, order, order["parts"][0]["id"])
    assert (await receive(client, market.staff, related, related["parts"][0]["id"])).status_code == 200
    assert (await receive(client, market.buyer, ordinary, ordinary["parts"][0]["id"])).status_code == 200

    # When staff read the street's report for today
    today = clock.today("Asia/Shanghai").isoformat()
    street = await make_staff(client, db, role="street_staff", region_code=STREET)
    response = await client.get(
        REPORT, params={"from": today, "to": today, "group_by": "village"}, headers=street.headers
    )

    # Then the village's income counts both sales, and says how much came from the related-party one
    assert response.status_code == 200, response.text
    body = response.json()
    [village] = [i for i in body["items"] if i["region_code"] == VILLAGE]
    assert (village["total_fen"], village["related_party_fen"]) == (2 * 798, 798)
    assert body["related_party_fen"] == 798
    # And so does the CSV export
    csv_body = await client.get(
        REPORT, params={"from": today, "to": today, "format": "csv"}, headers=street.headers
    )
    header, *rows = csv_body.content.decode("utf-8-sig").splitlines()
    assert header.split(",")[-1] == "related_party_fen"
    assert next(r for r in rows if r.startswith(VILLAGE)).split(",")[-1] == "798"

    # And a refund of the related-party sale takes its share back from that figure too
    refunded = await client.post(
        f"/api/v1/orders/{related['id']}/refunds",
        json={"part_id": related["parts"][0]["id"], "amount_fen": 1000, "reason": "退一部分"},
        headers={**market.staff.headers, "Idempotency-Key": new_key()},
    )
    assert refunded.status_code == 201, refunded.text
    again = await client.get(REPORT, params={"from": today, "to": today}, headers=street.headers)
    [village] = [i for i in again.json()["items"] if i["region_code"] == VILLAGE]
    assert (village["total_fen"], village["related_party_fen"]) == (2 * 798 - 100, 798 - 100)
