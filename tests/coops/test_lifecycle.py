"""A cooperative's life with its consequences: every transition allowed and refused, who decides
where, and what a suspension does to the catalogue, trace answers, checkout, payment, brand
licences and orders already paid; every decision audited, a refused one leaves no entry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from coopmarket.audit.models import AuditEntry
from coopmarket.core import clock
from coopmarket.db import Database
from coopmarket.flows import payment as flows_payment
from coopmarket.ledger.models import LedgerTransaction
from coopmarket.payments import service as payments_service
from coopmarket.payments.models import PaymentRefund
from coopmarket.products.models import Sku
from tests.brand.builders import granted_licence, licence_state
from tests.factories import (
    OTHER_STREET,
    STREET,
    Actor,
    approved_cooperative,
    coop_payload,
    create_product,
    ledger_balances,
    make_staff,
    product_payload,
    register_buyer,
)
from tests.orders.builders import Market, build_market, new_key, place
from tests.products.builders import NOW, PRODUCTS, Seller, insert_product

URL = "/api/v1/cooperatives"
ACTIONS = ("approve", "reject", "suspend", "reinstate")
# status -> action -> status after; every other pair is refused with 409.
ALLOWED = {
    ("pending", "approve"): "approved",
    ("pending", "reject"): "rejected",
    ("approved", "suspend"): "suspended",
    ("suspended", "reinstate"): "approved",
}
# How to bring a new cooperative to each status, from pending.
PATHS = {
    "pending": [],
    "approved": ["approve"],
    "rejected": ["reject"],
    "suspended": ["approve", "suspend"],
}


async def audit_count(db: Database, entity_id: str) -> int:
    async with db.read() as conn:
        return int(
            (
                await conn.execute(
                    select(func.count()).select_from(AuditEntry).where(AuditEntry.entity_id == entity_id)
                )
            ).scalar_one()
        )


async def post_decision(
    client: AsyncTestClient[Any], actor: Actor, cooperative_id: str, action: str, reason: str | None = "检查"
) -> Any:
    body = {"reason": reason} if reason is not None else {}
    return await client.post(f"{URL}/{cooperative_id}/{action}", json=body, headers=actor.headers)


async def cooperative_in(
    client: AsyncTestClient[Any], staff: Actor, status: str
) -> tuple[Actor, dict[str, Any]]:
    manager = await register_buyer(client)
    response = await client.post(URL, json=coop_payload(), headers=manager.headers)
    assert response.status_code == 201, response.text
    coop = response.json()
    for action in PATHS[status]:
        assert (await post_decision(client, staff, coop["id"], action)).status_code == 200
    return manager, coop


@pytest.mark.parametrize("status", list(PATHS))
@pytest.mark.parametrize("action", ACTIONS)
async def test_every_transition_allowed_or_refused_with_its_audit(
    client: AsyncTestClient[Any], db: Database, status: str, action: str
) -> None:
    staff = await make_staff(client, db)
    _, coop = await cooperative_in(client, staff, status)
    entries_before = await audit_count(db, coop["id"])

    response = await post_decision(client, staff, coop["id"], action, reason="复核")

    target = ALLOWED.get((status, action))
    if target is None:
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "invalid_transition"
        assert await audit_count(db, coop["id"]) == entries_before
        got = await client.get(f"{URL}/{coop['id']}", headers=staff.headers)
        assert got.json()["status"] == status
        return
    assert response.status_code == 200, response.text
    assert response.json()["status"] == target
    entries = (
        await client.get(
            "/api/v1/audit", params={"entity": "cooperative", "id": coop["id"]}, headers=staff.headers
        )
    ).json()["items"]
    assert len(entries) == entries_before + 1
    newest = entries[0]
    assert newest["action"] == f"cooperative.{action}"
    assert newest["actor_id"] == staff.id
    assert newest["before"] == {"status": status}
    assert newest["after"]["status"] == target
    assert newest["reason"] == "复核"


@pytest.mark.parametrize(("status", "action"), [("pending", "reject"), ("approved", "suspend")])
async def test_a_step_that_is_not_an_approval_needs_a_reason(
    client: AsyncTestClient[Any], db: Database, status: str, action: str
) -> None:
    staff = await make_staff(client, db)
    _, coop = await cooperative_in(client, staff, status)
    before = await audit_count(db, coop["id"])
    response = await post_decision(client, staff, coop["id"], action, reason=None)
    assert response.status_code == 422
    assert response.json()["code"] == "reason_required"
    assert await audit_count(db, coop["id"]) == before


@pytest.mark.parametrize("action", ["suspend", "reinstate"])
async def test_street_staff_decide_in_their_street_only(
    client: AsyncTestClient[Any], db: Database, action: str
) -> None:
    district = await make_staff(client, db)
    _, coop = await cooperative_in(client, district, "approved" if action == "suspend" else "suspended")
    outsider = await make_staff(client, db, role="street_staff", region_code=OTHER_STREET)
    before = await audit_count(db, coop["id"])

    refused = await post_decision(client, outsider, coop["id"], action)
    assert refused.status_code == 404
    assert refused.json()["code"] == "cooperative_not_found"
    assert await audit_count(db, coop["id"]) == before

    insider = await make_staff(client, db, role="street_staff", region_code=STREET)
    assert (await post_decision(client, insider, coop["id"], action)).status_code == 200
    assert await audit_count(db, coop["id"]) == before + 1


async def test_wrong_role_is_403_and_anonymous_401(client: AsyncTestClient[Any], db: Database) -> None:
    district = await make_staff(client, db)
    _, coop = await cooperative_in(client, district, "approved")
    buyer = await register_buyer(client)
    village_staff = await make_staff(client, db, role="village_staff", region_code=coop["village_code"])
    for actor in (buyer, village_staff):
        response = await post_decision(client, actor, coop["id"], "suspend")
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden_role"
    anonymous = await client.post(f"{URL}/{coop['id']}/suspend", json={"reason": "x"})
    assert anonymous.status_code == 401


# --------------------------------------------------------------------- consequences


@pytest.fixture
async def market(client: AsyncTestClient[Any], db: Database) -> Market:
    return await build_market(client, db)


async def product_of(client: AsyncTestClient[Any], manager: Actor, coop: dict[str, Any]) -> dict[str, Any]:
    return await create_product(client, manager, coop["id"], name="坊子姜")


async def test_a_suspended_cooperative_leaves_catalogue_search_and_checkout(
    client: AsyncTestClient[Any], market: Market
) -> None:
    product = await product_of(client, market.manager_a, market.coop_a)
    assert (await client.get(f"{PRODUCTS}/{product['id']}")).status_code == 200

    assert (await post_decision(client, market.staff, market.coop_a["id"], "suspend")).status_code == 200

    assert (await client.get(f"{PRODUCTS}/{product['id']}")).status_code == 404
    listed = (await client.get(PRODUCTS, params={"limit": 100})).json()["items"]
    assert product["id"] not in {i["id"] for i in listed}
    searched = (await client.get(PRODUCTS, params={"q": "坊子姜", "limit": 100})).json()["items"]
    assert searched == []
    # Nobody can order from it, and the answer says why; another cooperative still sells.
    refused = await place(client, market.buyer, [(market.sku_a["id"], 1)])
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "cooperative_suspended"
    assert (await place(client, market.buyer, [(market.sku_b["id"], 1)])).status_code == 201

    # Reinstated: back in the catalogue and on sale.
    assert (await post_decision(client, market.staff, market.coop_a["id"], "reinstate")).status_code == 200
    assert (await client.get(f"{PRODUCTS}/{product['id']}")).status_code == 200
    assert (await place(client, market.buyer, [(market.sku_a["id"], 1)])).status_code == 201


async def test_the_trace_answer_says_the_product_is_withdrawn(
    client: AsyncTestClient[Any], market: Market
) -> None:
    product = await product_of(client, market.manager_a, market.coop_a)
    batch = await client.post(
        f"{PRODUCTS}/{product['id']}/batches",
        json={"produced_on": clock.today("Asia/Shanghai").isoformat(), "quantity": 10, "unit": "kg"},
        headers=market.manager_a.headers,
    )
    assert batch.status_code == 201, batch.text
    code = batch.json()["trace_code"]
    assert (await client.get(f"/api/v1/trace/{code}")).json()["withdrawn"] is False

    await post_decision(client, market.staff, market.coop_a["id"], "suspend")

    answer = await client.get(f"/api/v1/trace/{code}")
    assert answer.status_code == 200
    assert answer.json()["withdrawn"] is True
    page = await client.get(f"/trace/{code}")  # the page a QR code opens says so too
    assert page.status_code == 200
    assert "已下架" in page.text
    await post_decision(client, market.staff, market.coop_a["id"], "reinstate")
    assert (await client.get(f"/api/v1/trace/{code}")).json()["withdrawn"] is False
    assert "已下架" not in (await client.get(f"/trace/{code}")).text


async def test_unpaid_orders_cannot_be_paid_and_money_that_arrives_is_held_for_refund(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = (await place(client, market.buyer, [(market.sku_a["id"], 2)])).json()
    await post_decision(client, market.staff, market.coop_a["id"], "suspend")

    started = await client.post(
        f"/api/v1/orders/{order['id']}/payments",
        json={},
        headers={**market.buyer.headers, "Idempotency-Key": new_key()},
    )
    assert started.status_code == 409, started.text
    assert started.json()["code"] == "cooperative_suspended"

    offline = f"/api/v1/orders/{order['id']}/offline-payments"
    body = {"reference": "BANK-SUSP-1", "amount_fen": order["total_fen"]}
    refused = await client.post(offline, json=body, headers=market.staff.headers)
    assert refused.status_code == 409
    assert refused.json()["code"] == "cooperative_suspended"

    held = await client.post(offline, json={**body, "hold_for_refund": True}, headers=market.staff.headers)
    assert held.status_code == 201, held.text
    assert held.json()["status"] == "refunded"
    assert held.json()["refund_id"]
    got = await client.get(f"/api/v1/orders/{order['id']}", headers=market.buyer.headers)
    assert got.json()["status"] == "pending_payment"
    assert got.json()["paid_fen"] == 0
    assert await refunds_of(db, order["id"]) == [(order["total_fen"], "pending")]
    assert await ledger_kinds(db, order["id"]) == ["refund", "unmatched_payment"]
    assert await ledger_balances(db, "suspense:") == {}


async def test_paid_orders_continue_to_fulfilment_and_settle(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = (await place(client, market.buyer, [(market.sku_b["id"], 3)])).json()
    paid = await client.post(
        f"/api/v1/orders/{order['id']}/offline-payments",
        json={"reference": "CASH-S1", "amount_fen": order["total_fen"]},
        headers=market.manager_b.headers,
    )
    assert paid.status_code == 201, paid.text
    await post_decision(client, market.staff, market.coop_b["id"], "suspend")

    part = order["parts"][0]
    shipped = await client.post(
        f"/api/v1/orders/{order['id']}/parts/{part['id']}/ship",
        json={"carrier": "顺丰", "tracking_number": "SF0001"},
        headers=market.manager_b.headers,
    )
    assert shipped.status_code == 200, shipped.text
    received = await client.post(
        f"/api/v1/orders/{order['id']}/parts/{part['id']}/receive", headers=market.buyer.headers
    )
    assert received.status_code == 200, received.text
    assert received.json()["status"] == "completed"
    payable = await ledger_balances(db, f"payable:coop:{market.coop_b['id']}")
    assert payable and next(iter(payable.values())) < 0


async def test_a_provider_payment_for_a_suspended_cooperative_is_held_for_refund(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = (await place(client, market.buyer, [(market.sku_a["id"], 1)])).json()
    await post_decision(client, market.staff, market.coop_a["id"], "suspend")
    async with db.unit_of_work() as session:
        await payments_service.record_provider_payment(
            session,
            order_id=order["id"],
            provider="stripe",
            provider_ref="pi_suspended_1",
            amount_fen=order["total_fen"],
            status="processing",
        )
    async with db.unit_of_work() as session:
        outcome = await flows_payment.apply_provider_success(
            session, provider="stripe", provider_ref="pi_suspended_1", amount_fen=order["total_fen"]
        )
    assert outcome == "unmatched"
    got = await client.get(f"/api/v1/orders/{order['id']}", headers=market.buyer.headers)
    assert got.json()["status"] == "pending_payment"
    assert got.json()["paid_fen"] == 0
    # The money went through suspense and is refunded in full (an outstanding refund).
    assert await refunds_of(db, order["id"]) == [(order["total_fen"], "pending")]
    assert await ledger_kinds(db, order["id"]) == ["refund", "unmatched_payment"]
    assert await ledger_balances(db, "suspense:") == {}


async def refunds_of(db: Database, order_id: str) -> list[tuple[int, str]]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(PaymentRefund.amount_fen, PaymentRefund.status).where(PaymentRefund.order_id == order_id)  # type: ignore[arg-type]
        )
        return [(int(r[0]), str(r[1])) for r in rows]


async def ledger_kinds(db: Database, order_id: str) -> list[str]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(LedgerTransaction.kind).where(LedgerTransaction.order_id == order_id)  # type: ignore[arg-type]
        )
        return sorted(str(r[0]) for r in rows)


# --------------------------------------------------------------------- brand licences


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"jwt_ttl_seconds": 5 * 366 * 24 * 3600}


async def test_licences_are_suspended_with_the_cooperative_and_come_back_within_term(
    client: AsyncTestClient[Any], db: Database
) -> None:
    clock.set_now(NOW)
    staff = await make_staff(client, db)
    manager, coop = await approved_cooperative(client, staff)
    seller = Seller(manager, coop)
    product, licence = await granted_licence(client, seller, staff)
    assert (await client.get(f"{PRODUCTS}/{product['id']}")).json()["is_branded"] is True

    await post_decision(client, staff, coop["id"], "suspend")
    state = await licence_state(db, licence["id"])
    assert "suspended" in state
    entries = (
        await client.get(
            "/api/v1/audit", params={"entity": "cooperative", "id": coop["id"]}, headers=staff.headers
        )
    ).json()["items"]
    assert entries[0]["after"]["licences_suspended"] == [licence["id"]]
    # A manual grant is refused while the cooperative is suspended.
    regrant = await client.post(
        f"/api/v1/brand-licences/{licence['id']}/grant", json={"reason": "x"}, headers=staff.headers
    )
    assert regrant.status_code == 409

    await post_decision(client, staff, coop["id"], "reinstate")
    assert "granted" in await licence_state(db, licence["id"])
    assert (await client.get(f"{PRODUCTS}/{product['id']}")).json()["is_branded"] is True


async def test_a_licence_whose_term_ended_during_the_suspension_stays_suspended(
    client: AsyncTestClient[Any], db: Database
) -> None:
    clock.set_now(NOW)
    staff = await make_staff(client, db)
    manager, coop = await approved_cooperative(client, staff)
    _, licence = await granted_licence(client, Seller(manager, coop), staff)
    await post_decision(client, staff, coop["id"], "suspend")

    clock.set_now(NOW + timedelta(days=400))  # past valid_to 2027-02-28
    response = await post_decision(client, staff, coop["id"], "reinstate")
    assert response.status_code == 200
    assert "suspended" in await licence_state(db, licence["id"])
    entries = (
        await client.get(
            "/api/v1/audit", params={"entity": "cooperative", "id": coop["id"]}, headers=staff.headers
        )
    ).json()["items"]
    assert entries[0]["after"]["licences_granted_again"] == []
    assert entries[0]["after"]["licences_left_suspended"] == [licence["id"]]


@pytest.mark.parametrize("status", ["pending", "rejected"])
async def test_a_cooperative_that_is_not_approved_sells_nothing(
    client: AsyncTestClient[Any], db: Database, status: str
) -> None:
    staff = await make_staff(client, db)
    manager, coop = await cooperative_in(client, staff, status)
    product_id = await insert_product(db, coop["id"], coop["village_code"], name="未审产品")
    # Not in the public catalogue, search or the public registry.
    assert (await client.get(f"{PRODUCTS}/{product_id}")).status_code == 404
    assert product_id not in {
        i["id"] for i in (await client.get(PRODUCTS, params={"limit": 100})).json()["items"]
    }
    assert (await client.get(PRODUCTS, params={"q": "未审产品"})).json()["items"] == []
    assert (await client.get(f"{URL}/{coop['id']}")).status_code == 404
    assert coop["id"] not in {c["id"] for c in (await client.get(URL, params={"limit": 100})).json()["items"]}
    # Its manager can neither list products nor apply for the brand; nobody can order its SKU.
    created = await client.post(
        f"{URL}/{coop['id']}/products", json=product_payload(), headers=manager.headers
    )
    assert (created.status_code, created.json()["code"]) == (409, "cooperative_not_approved")
    applied = await client.post(
        f"{URL}/{coop['id']}/brand-licences",
        json={"product_ids": [product_id], "valid_from": "2026-03-01", "valid_to": "2027-02-28"},
        headers=manager.headers,
    )
    assert (applied.status_code, applied.json()["code"]) == (409, "cooperative_not_approved")
    async with db.read() as conn:
        sku_id = (await conn.execute(select(Sku.id).where(Sku.product_id == product_id))).scalar_one()  # type: ignore[arg-type]
    buyer = await register_buyer(client)
    refused = await place(client, buyer, [(sku_id, 1)])
    assert (refused.status_code, refused.json()["code"]) == (422, "unknown_sku")
