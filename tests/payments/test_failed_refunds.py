"""A refund Stripe could not pay is reversed in the ledger (the buyer is owed the money again),
given back to its part and order so it can be refunded again, and listed for staff.

The shop (``tests/payments/builders.py``): one cooperative with a 10 % collective share, a 3 %
platform fee; the usual order is 2 × 3990 = 7980 fen, paid with Stripe through the webhook.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from coopmarket.ledger import posting
from tests.factories import Actor
from tests.orders.builders import new_key
from tests.payments.builders import (
    Shop,
    balances,
    build_shop,
    deliver_event,
    get_order,
    ledger_kinds,
    place_stripe_order,
    refunds_of,
    send_pending_refunds,
    started_intent,
    trial_balance,
)
from tests.payments.fake_stripe import FakeStripe

FAILED = "/api/v1/refunds?status=failed"


@pytest.fixture
async def shop(client: AsyncTestClient[Any], db: Database) -> Shop:
    return await build_shop(client, db)


@pytest.fixture(autouse=True)
async def books_balance(db: Database) -> AsyncIterator[None]:
    yield
    assert await trial_balance(db) == 0


async def paid_with_stripe(client: AsyncTestClient[Any], shop: Shop, fake: FakeStripe) -> dict[str, Any]:
    order = await place_stripe_order(client, shop)
    intent_id = await started_intent(client, shop, order["id"])
    response = await deliver_event(client, fake, "payment_intent.succeeded", fake.succeed(intent_id))
    assert response.json()["outcome"] == "applied", response.text
    return order


async def refund(client: AsyncTestClient[Any], actor: Actor, order: dict[str, Any], amount_fen: int) -> Any:
    return await client.post(
        f"/api/v1/orders/{order['id']}/refunds",
        json={"part_id": order["parts"][0]["id"], "amount_fen": amount_fen, "reason": "坏果"},
        headers={**actor.headers, "Idempotency-Key": new_key()},
    )


async def ship_and_receive(client: AsyncTestClient[Any], shop: Shop, order: dict[str, Any]) -> None:
    part_id = order["parts"][0]["id"]
    shipped = await client.post(
        f"/api/v1/orders/{order['id']}/parts/{part_id}/ship",
        json={"carrier": "EMS", "tracking_number": "E1"},
        headers=shop.manager.headers,
    )
    assert shipped.status_code == 200, shipped.text
    received = await client.post(
        f"/api/v1/orders/{order['id']}/parts/{part_id}/receive", headers=shop.buyer.headers
    )
    assert received.status_code == 200, received.text


def escrow(shop: Shop) -> str:
    return f"escrow:coop:{shop.cooperative['id']}"


def collective(shop: Shop) -> str:
    return posting.collective_income(shop.cooperative["village_code"])


async def fail_at_stripe(client: AsyncTestClient[Any], fake: FakeStripe, stripe_refund_id: str) -> Any:
    """The card's bank returned the refund: Stripe marks it failed and says so."""
    return await deliver_event(client, fake, "refund.failed", fake.fail_refund(stripe_refund_id))


async def failed_list(client: AsyncTestClient[Any], actor: Actor) -> list[dict[str, Any]]:
    response = await client.get(FAILED, headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


# ------------------------------------------------------------------ reported by the webhook


async def test_a_refund_stripe_reports_failed_is_reversed_given_back_and_listed_for_staff(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given a paid Stripe order cancelled by its buyer, its refund accepted by Stripe as pending
    order = await paid_with_stripe(client, shop, fake_stripe)
    cancelled = await client.post(f"/api/v1/orders/{order['id']}/cancel", headers=shop.buyer.headers)
    assert cancelled.status_code == 200
    fake_stripe.refund_status = "pending"
    assert await send_pending_refunds(client) == 1
    [(refund_id, _amount, _status, stripe_ref)] = await refunds_of(db, order["id"])
    assert stripe_ref is not None

    # When Stripe reports that the refund failed
    response = await fail_at_stripe(client, fake_stripe, stripe_ref)

    # Then our refund failed, and its posting is reversed exactly: the money is held for the buyer again
    assert (response.status_code, response.json()["outcome"]) == (200, "refund_failed")
    assert await refunds_of(db, order["id"]) == [(refund_id, 7980, "failed", stripe_ref)]
    assert await ledger_kinds(db, order["id"]) == ["payment_received", "refund", "refund_failed"]
    assert await balances(db) == {"cash:stripe": 7980, escrow(shop): -7980}
    # And the order no longer counts it: the cancelled order was paid 7980 and refunded nothing
    shown = await get_order(client, shop.buyer, order["id"])
    assert (shown["status"], shown["paid_fen"], shown["refunded_fen"]) == ("cancelled", 7980, 0)
    assert shown["parts"][0]["status"] == "refunded"  # closed, its stock back on sale
    # And staff find it among the failed refunds, with the order, the amount and Stripe's reason
    [listed] = await failed_list(client, shop.staff)
    assert (listed["id"], listed["order_id"], listed["amount_fen"], listed["status"]) == (
        refund_id,
        order["id"],
        7980,
        "failed",
    )
    assert "expired_or_canceled_card" in listed["failure_reason"]
    assert listed["failed_at"] is not None
    audit = await client.get(
        "/api/v1/audit", params={"entity": "refund", "id": refund_id}, headers=shop.staff.headers
    )
    assert [e["action"] for e in audit.json()["items"]] == ["refund.failed"]


async def test_the_amount_of_a_failed_refund_is_refunded_again_and_the_books_close(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given a cancelled order whose Stripe refund failed
    order = await paid_with_stripe(client, shop, fake_stripe)
    await client.post(f"/api/v1/orders/{order['id']}/cancel", headers=shop.buyer.headers)
    fake_stripe.refund_status = "pending"
    await send_pending_refunds(client)
    [(_id, _amount, _status, stripe_ref)] = await refunds_of(db, order["id"])
    await fail_at_stripe(client, fake_stripe, str(stripe_ref))

    # When staff refund the part again and Stripe pays it this time
    again = await refund(client, shop.staff, order, 7980)
    fake_stripe.refund_status = "succeeded"
    sent = await send_pending_refunds(client)

    # Then the buyer has the money back, the order counts it, and every account is back to zero
    assert (again.status_code, again.json()["status"], sent) == (201, "approved", 1)
    assert [r[2] for r in await refunds_of(db, order["id"])] == ["failed", "succeeded"]
    assert (await get_order(client, shop.buyer, order["id"]))["refunded_fen"] == 7980
    assert await balances(db) == {"cash:stripe": 0, escrow(shop): 0}
    # And nothing more can be refunded
    more = await refund(client, shop.staff, order, 1)
    assert (more.status_code, more.json()["code"]) == (409, "invalid_transition")


async def test_a_failure_reported_twice_is_reversed_once(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given a partial refund Stripe accepted, then failed
    order = await paid_with_stripe(client, shop, fake_stripe)
    assert (await refund(client, shop.manager, order, 1000)).status_code == 201
    fake_stripe.refund_status = "pending"
    await send_pending_refunds(client)
    [(refund_id, _amount, _status, stripe_ref)] = await refunds_of(db, order["id"])
    failed = fake_stripe.fail_refund(str(stripe_ref))

    # When Stripe reports it as charge.refund.updated and again as refund.failed
    first = await deliver_event(client, fake_stripe, "charge.refund.updated", failed)
    second = await deliver_event(client, fake_stripe, "refund.failed", failed)

    # Then it is reversed once, and given back once
    assert (first.json()["outcome"], second.json()["outcome"]) == ("refund_failed", "unchanged")
    assert await ledger_kinds(db, order["id"]) == ["payment_received", "refund", "refund_failed"]
    shown = await get_order(client, shop.buyer, order["id"])
    assert (shown["refunded_fen"], shown["parts"][0]["refunded_fen"]) == (0, 0)
    # And the manager's refund shows as failed on the order
    listed = (await client.get(f"/api/v1/orders/{order['id']}/refunds", headers=shop.buyer.headers)).json()
    assert [(r["id"], r["status"]) for r in listed["items"]] == [(refund_id, "failed")]


# ------------------------------------------------------------------ refused when sent


async def test_a_refund_stripe_refuses_for_good_is_reversed_by_the_sender(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given a refund of part of a paid order, and Stripe refusing it (the charge is disputed)
    order = await paid_with_stripe(client, shop, fake_stripe)
    assert (await refund(client, shop.manager, order, 2500)).status_code == 201
    fake_stripe.refuse_refunds = "charge_disputed"

    # When the sender tries to send it
    sent = await send_pending_refunds(client)

    # Then nothing was sent, the refund failed and was reversed, and the part may be refunded again
    assert sent == 0
    [(refund_id, amount, status, _ref)] = await refunds_of(db, order["id"])
    assert (amount, status) == (2500, "failed")
    assert await ledger_kinds(db, order["id"]) == ["payment_received", "refund", "refund_failed"]
    assert await balances(db) == {"cash:stripe": 7980, escrow(shop): -7980}
    assert (await get_order(client, shop.buyer, order["id"]))["refunded_fen"] == 0
    assert [r["id"] for r in await failed_list(client, shop.staff)] == [refund_id]
    # And the sender does not try it again
    assert await send_pending_refunds(client) == 0
    assert len(fake_stripe.seen("POST", "/v1/refunds")) == 1


# ------------------------------------------------------------------ received (settled) parts


async def test_a_failed_refund_of_a_received_part_gives_the_collective_its_share_back(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given a received (settled) order: 7980 split 239 fee / 798 collective / 6943 cooperative
    order = await paid_with_stripe(client, shop, fake_stripe)
    await ship_and_receive(client, shop, order)
    settled = await balances(db)
    assert settled[collective(shop)] == -798
    # And a refund of 1000 fen, which took 100 back from the collective, failing at Stripe
    assert (await refund(client, shop.manager, order, 1000)).status_code == 201
    fake_stripe.refund_status = "pending"
    await send_pending_refunds(client)
    assert (await balances(db))[collective(shop)] == -698
    [(_id, _amount, _status, stripe_ref)] = await refunds_of(db, order["id"])

    # When Stripe reports the failure
    await fail_at_stripe(client, fake_stripe, str(stripe_ref))

    # Then every share holds what settlement gave it, as before the refund
    assert await balances(db) == settled

    # And refunding everything now takes every share back to zero, to the fen
    assert (await refund(client, shop.manager, order, 7980)).status_code == 201
    assert {a: b for a, b in (await balances(db)).items() if a != "cash:stripe" and b} == {}


async def test_a_refund_made_before_receipt_that_fails_after_it_is_refunded_from_escrow_first(
    client: AsyncTestClient[Any], db: Database, shop: Shop, fake_stripe: FakeStripe
) -> None:
    # Given 1000 fen refunded out of escrow before shipping, then the part received (6980 settled)
    order = await paid_with_stripe(client, shop, fake_stripe)
    assert (await refund(client, shop.manager, order, 1000)).status_code == 201
    fake_stripe.refund_status = "pending"
    await send_pending_refunds(client)
    await ship_and_receive(client, shop, order)
    [(_id, _amount, _status, stripe_ref)] = await refunds_of(db, order["id"])

    # When the refund fails after receipt
    await fail_at_stripe(client, fake_stripe, str(stripe_ref))

    # Then the 1000 fen are held in escrow for the buyer, the settlement untouched
    assert (await balances(db))[escrow(shop)] == -1000
    assert (await get_order(client, shop.buyer, order["id"]))["refunded_fen"] == 0

    # And a new refund of 1500 fen takes those 1000 from escrow first, 500 from the shares
    assert (await refund(client, shop.manager, order, 1500)).status_code == 201
    after = await balances(db)
    assert after[escrow(shop)] == 0
    assert after[collective(shop)] == -(posting.settlement_split(6980, 300, 1000)[1] - 50)
    # And refunding the rest closes every account of the sale to the fen
    assert (await refund(client, shop.manager, order, 7980 - 1500)).status_code == 201
    assert {a: b for a, b in (await balances(db)).items() if a != "cash:stripe" and b} == {}
    assert (await get_order(client, shop.buyer, order["id"]))["refunded_fen"] == 7980
