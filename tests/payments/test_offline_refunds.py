"""Offline refunds are outstanding until their cooperative or staff record that the money was handed
back (``POST /refunds/{id}/handed-back``); operators list what is outstanding in their scope.

The market (``tests/orders/builders.py``): cooperative A in ``VILLAGE`` (street ``STREET``),
cooperative B in ``OTHER_VILLAGE``; orders paid offline, recorded by district staff.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from tests.factories import (
    OTHER_STREET,
    STREET,
    Actor,
    approved_cooperative,
    create_product,
    make_staff,
    register_buyer,
)
from tests.orders.builders import Market, build_market, new_key, place
from tests.payments.builders import Shop as StripeShop
from tests.payments.builders import (
    balances,
    deliver_event,
    place_stripe_order,
    refunds_of,
    started_intent,
    trial_balance,
)
from tests.payments.fake_stripe import FakeStripe

OUTSTANDING = "/api/v1/refunds?status=outstanding"


@pytest.fixture
async def market(client: AsyncTestClient[Any], db: Database) -> Market:
    return await build_market(client, db)


async def paid_offline(
    client: AsyncTestClient[Any], market: Market, lines: list[tuple[str, int]] | None = None
) -> dict[str, Any]:
    order = (await place(client, market.buyer, lines or [(market.sku_a["id"], 2)])).json()
    paid = await client.post(
        f"/api/v1/orders/{order['id']}/offline-payments",
        json={"reference": f"BANK-{order['id'][-6:]}", "amount_fen": order["total_fen"]},
        headers=market.staff.headers,
    )
    assert paid.status_code == 201, paid.text
    return order


async def refund_directly(
    client: AsyncTestClient[Any], actor: Actor, order: dict[str, Any], part_id: str, amount_fen: int
) -> str:
    response = await client.post(
        f"/api/v1/orders/{order['id']}/refunds",
        json={"part_id": part_id, "amount_fen": amount_fen, "reason": "少了两斤"},
        headers={**actor.headers, "Idempotency-Key": new_key()},
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]  # type: ignore[no-any-return]


def part_of(order: dict[str, Any], cooperative: dict[str, Any]) -> dict[str, Any]:
    return next(p for p in order["parts"] if p["cooperative_id"] == cooperative["id"])


async def hand_back(
    client: AsyncTestClient[Any], actor: Actor, refund_id: str, reference: str = "现金退还-001"
) -> Any:
    return await client.post(
        f"/api/v1/refunds/{refund_id}/handed-back", json={"reference": reference}, headers=actor.headers
    )


async def outstanding(client: AsyncTestClient[Any], actor: Actor) -> list[dict[str, Any]]:
    response = await client.get(OUTSTANDING, headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


async def audit_entries(client: AsyncTestClient[Any], staff: Actor, refund_id: str) -> list[dict[str, Any]]:
    response = await client.get(
        "/api/v1/audit", params={"entity": "refund", "id": refund_id}, headers=staff.headers
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


# ------------------------------------------------------------------ handing back


async def test_an_offline_refund_is_outstanding_until_its_cooperative_hands_it_back(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given an offline order of 7980 fen, and its cooperative refunding 1200 fen of it
    order = await paid_offline(client, market)
    part = part_of(order, market.coop_a)
    refund_id = await refund_directly(client, market.manager_a, order, part["id"], 1200)

    # Then it is listed as outstanding, for the cooperative and for staff
    [listed] = await outstanding(client, market.manager_a)
    assert {k: listed[k] for k in ("id", "order_id", "part_id", "cooperative_id", "provider")} == {
        "id": refund_id,
        "order_id": order["id"],
        "part_id": part["id"],
        "cooperative_id": market.coop_a["id"],
        "provider": "offline",
    }
    assert (listed["amount_fen"], listed["status"], listed["handed_back_at"]) == (1200, "pending", None)
    assert [r["id"] for r in await outstanding(client, market.staff)] == [refund_id]

    # When the manager records that the cash went back to the buyer
    response = await hand_back(client, market.manager_a, refund_id, "现金退还-001")

    # Then the refund succeeded with its reference and who recorded it, and is no longer outstanding
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["status"], body["amount_fen"]) == (refund_id, "succeeded", 1200)
    assert (body["handed_back_reference"], body["handed_back_by"]) == ("现金退还-001", market.manager_a.id)
    assert body["handed_back_at"] is not None
    assert await outstanding(client, market.manager_a) == []
    assert [(r[1], r[2]) for r in await refunds_of(db, order["id"])] == [(1200, "succeeded")]
    # And nothing more is posted: the refund's posting was made when it was decided
    assert await balances(db, "cash:") == {"cash:offline": 7980 - 1200}
    # And the audit log says who handed back what
    [entry] = await audit_entries(client, market.staff, refund_id)
    assert (entry["action"], entry["actor_id"]) == ("refund.handed_back", market.manager_a.id)
    assert entry["after"] == {"status": "succeeded", "reference": "现金退还-001", "amount_fen": 1200}
    assert entry["cooperative_id"] == market.coop_a["id"]


async def test_staff_in_scope_hand_back_the_refund_of_a_cancelled_order(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given a paid offline order the buyer cancelled (its refund has no refund request)
    order = await paid_offline(client, market)
    cancelled = await client.post(f"/api/v1/orders/{order['id']}/cancel", headers=market.buyer.headers)
    assert cancelled.status_code == 200, cancelled.text
    [refund] = await outstanding(client, market.staff)
    assert (refund["order_id"], refund["amount_fen"]) == (order["id"], 7980)

    # When district staff hand it back
    response = await hand_back(client, market.staff, refund["id"], "转账-20260415-01")

    # Then it succeeded and nothing is outstanding
    assert (response.status_code, response.json()["status"]) == (200, "succeeded")
    assert await outstanding(client, market.staff) == []
    assert await trial_balance(db) == 0


async def test_handing_back_twice_is_a_conflict_and_keeps_the_first_record(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given a refund handed back by the manager
    order = await paid_offline(client, market)
    refund_id = await refund_directly(
        client, market.manager_a, order, part_of(order, market.coop_a)["id"], 500
    )
    first = await hand_back(client, market.manager_a, refund_id, "FIRST")
    assert first.status_code == 200

    # When staff record it again
    again = await hand_back(client, market.staff, refund_id, "SECOND")

    # Then it is refused and the first record stands, audited once
    assert (again.status_code, again.json()["code"]) == (409, "refund_not_outstanding")
    listed = (await client.get(f"/api/v1/orders/{order['id']}/refunds", headers=market.buyer.headers)).json()
    assert [r["id"] for r in listed["items"]] == [refund_id]
    [entry] = await audit_entries(client, market.staff, refund_id)
    assert entry["after"]["reference"] == "FIRST"


async def test_a_stripe_refund_is_not_handed_back_by_hand(
    client: AsyncTestClient[Any], db: Database, fake_stripe: FakeStripe
) -> None:
    # Given a Stripe order refunded in part (Stripe pays it back, not a person)
    staff = await make_staff(client, db)
    shop = await _stripe_shop(client, db, staff)
    order = await place_stripe_order(client, shop)
    intent_id = await started_intent(client, shop, order["id"])
    await deliver_event(client, fake_stripe, "payment_intent.succeeded", fake_stripe.succeed(intent_id))
    refund_id = await refund_directly(client, shop.manager, order, order["parts"][0]["id"], 1000)

    # When staff try to record it as handed back
    response = await hand_back(client, staff, refund_id)

    # Then it is refused, and it is not among the outstanding offline refunds
    assert (response.status_code, response.json()["code"]) == (409, "refund_not_offline")
    assert [r[2] for r in await refunds_of(db, order["id"])] == ["pending"]
    assert await outstanding(client, staff) == []


async def _stripe_shop(client: AsyncTestClient[Any], db: Database, staff: Actor) -> StripeShop:
    manager, cooperative = await approved_cooperative(client, staff)
    product = await create_product(client, manager, cooperative["id"])
    return StripeShop(staff, manager, cooperative, product["skus"][0], await register_buyer(client))


# ------------------------------------------------------------------ who may


async def snapshot(
    client: AsyncTestClient[Any], db: Database, market: Market, order_id: str
) -> dict[str, Any]:
    return {
        "refunds": await refunds_of(db, order_id),
        "outstanding": await outstanding(client, market.staff),
        "ledger": await balances(db),
    }


async def test_those_who_may_not_hand_back_a_refund_are_refused_and_nothing_changes(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given an outstanding refund of cooperative A's part of a two-cooperative order
    order = await paid_offline(client, market, [(market.sku_a["id"], 2), (market.sku_b["id"], 1)])
    refund_id = await refund_directly(
        client, market.manager_a, order, part_of(order, market.coop_a)["id"], 700
    )
    before = await snapshot(client, db, market, order["id"])
    stranger = await register_buyer(client, display_name="路人")
    other_street = await make_staff(client, db, role="street_staff", region_code=OTHER_STREET)

    # When the buyer, another cooperative of the order, a stranger and staff of another street try
    answers = {
        "buyer": await hand_back(client, market.buyer, refund_id),
        "manager_b": await hand_back(client, market.manager_b, refund_id),
        "stranger": await hand_back(client, stranger, refund_id),
        "other_street": await hand_back(client, other_street, refund_id),
        "unknown": await hand_back(client, market.staff, "01NOSUCHREFUND000000000000"),
    }

    # Then the buyer is refused for their role, the others are told it does not exist
    assert {k: (r.status_code, r.json()["code"]) for k, r in answers.items()} == {
        "buyer": (403, "forbidden_role"),
        "manager_b": (404, "refund_not_found"),
        "stranger": (404, "refund_not_found"),
        "other_street": (404, "refund_not_found"),
        "unknown": (404, "refund_not_found"),
    }
    # And nothing changed, and nothing was audited
    assert await snapshot(client, db, market, order["id"]) == before
    assert await audit_entries(client, market.staff, refund_id) == []


async def test_street_staff_of_the_part_hand_it_back(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = await paid_offline(client, market)
    refund_id = await refund_directly(
        client, market.manager_a, order, part_of(order, market.coop_a)["id"], 300
    )
    street = await make_staff(client, db, role="street_staff", region_code=STREET)

    response = await hand_back(client, street, refund_id)

    assert (response.status_code, response.json()["handed_back_by"]) == (200, street.id)


async def test_a_signed_out_caller_is_asked_to_sign_in(client: AsyncTestClient[Any], market: Market) -> None:
    order = await paid_offline(client, market)
    refund_id = await refund_directly(
        client, market.manager_a, order, part_of(order, market.coop_a)["id"], 300
    )

    response = await client.post(f"/api/v1/refunds/{refund_id}/handed-back", json={"reference": "R"})
    listed = await client.get(OUTSTANDING)

    assert (response.status_code, listed.status_code) == (401, 401)
    assert [r["status"] for r in await outstanding(client, market.staff)] == ["pending"]


async def test_a_reference_is_required(client: AsyncTestClient[Any], market: Market) -> None:
    order = await paid_offline(client, market)
    refund_id = await refund_directly(
        client, market.manager_a, order, part_of(order, market.coop_a)["id"], 300
    )

    response = await client.post(
        f"/api/v1/refunds/{refund_id}/handed-back", json={"reference": ""}, headers=market.manager_a.headers
    )

    assert (response.status_code, response.json()["code"]) == (422, "validation_error")
    assert [r["status"] for r in await outstanding(client, market.staff)] == ["pending"]


# ------------------------------------------------------------------ the lists


async def test_each_caller_lists_the_outstanding_refunds_of_their_scope(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # Given outstanding refunds of both cooperatives (in two streets)
    order = await paid_offline(client, market, [(market.sku_a["id"], 2), (market.sku_b["id"], 1)])
    refund_a = await refund_directly(
        client, market.manager_a, order, part_of(order, market.coop_a)["id"], 100
    )
    refund_b = await refund_directly(
        client, market.manager_b, order, part_of(order, market.coop_b)["id"], 200
    )
    street_a = await make_staff(client, db, role="street_staff", region_code=STREET)
    street_b = await make_staff(client, db, role="street_staff", region_code=OTHER_STREET)

    # Then each manager and each street sees its own, district staff see both, the buyer may not list
    assert [r["id"] for r in await outstanding(client, market.manager_a)] == [refund_a]
    assert [r["id"] for r in await outstanding(client, market.manager_b)] == [refund_b]
    assert [r["id"] for r in await outstanding(client, street_a)] == [refund_a]
    assert [r["id"] for r in await outstanding(client, street_b)] == [refund_b]
    assert [r["id"] for r in await outstanding(client, market.staff)] == [refund_a, refund_b]
    refused = await client.get(OUTSTANDING, headers=market.buyer.headers)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden_role")


async def test_the_list_pages_oldest_first(client: AsyncTestClient[Any], market: Market) -> None:
    order = await paid_offline(client, market)
    part_id = part_of(order, market.coop_a)["id"]
    ids = [await refund_directly(client, market.manager_a, order, part_id, 100 + i) for i in range(3)]

    first = (await client.get(OUTSTANDING + "&limit=2", headers=market.staff.headers)).json()
    second = (
        await client.get(
            OUTSTANDING + f"&limit=2&cursor={first['next_cursor']}", headers=market.staff.headers
        )
    ).json()

    assert [r["id"] for r in first["items"]] == ids[:2]
    assert ([r["id"] for r in second["items"]], second["next_cursor"]) == (ids[2:], None)


async def test_a_list_needs_a_known_status(client: AsyncTestClient[Any], market: Market) -> None:
    response = await client.get("/api/v1/refunds?status=everything", headers=market.staff.headers)
    missing = await client.get("/api/v1/refunds", headers=market.staff.headers)
    assert (response.status_code, missing.status_code) == (422, 422)
