"""Checkout, idempotency, payment, fulfilment, cancellation and expiry over HTTP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.core import clock
from coopmarket.db import Database
from coopmarket.ledger import service as ledger_service
from coopmarket.orders import expiry, fulfilment
from tests.factories import ledger_balances as balances
from tests.factories import login, register_buyer
from tests.orders.builders import Market, build_market, new_key, order_body, place, sku_stock


@pytest.fixture
async def market(client: AsyncTestClient[Any], db: Database) -> Market:
    return await build_market(client, db)


async def pay_offline(client: AsyncTestClient[Any], market: Market, order: dict[str, Any]) -> Any:
    return await client.post(
        f"/api/v1/orders/{order['id']}/offline-payments",
        json={"reference": f"BANK-{order['id'][-6:]}", "amount_fen": order["total_fen"]},
        headers=market.staff.headers,
    )


# ------------------------------------------------------------------ placing


async def test_an_order_over_two_cooperatives_is_split_into_parts_priced_from_the_database(
    client: AsyncTestClient[Any], market: Market
) -> None:
    response = await place(client, market.buyer, [(market.sku_a["id"], 2), (market.sku_b["id"], 3)])

    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "pending_payment"
    assert order["total_fen"] == 2 * 3990 + 3 * 1250
    assert order["paid_fen"] == 0 and order["refunded_fen"] == 0
    parts = {p["cooperative_id"]: p for p in order["parts"]}
    assert set(parts) == {market.coop_a["id"], market.coop_b["id"]}
    assert parts[market.coop_a["id"]]["subtotal_fen"] == 7980
    assert parts[market.coop_b["id"]]["subtotal_fen"] == 3750
    line = parts[market.coop_a["id"]]["lines"][0]
    assert (line["quantity"], line["unit_price_fen"], line["line_total_fen"]) == (2, 3990, 7980)
    assert order["shipping_address"]["phone"] == "13912345678"  # the buyer sees their own number
    assert order["expires_at"] > order["created_at"]


async def test_placing_takes_stock(client: AsyncTestClient[Any], market: Market) -> None:
    before = await sku_stock(client, await _product_of(client, market, "a"), market.sku_a["id"])
    await place(client, market.buyer, [(market.sku_a["id"], 4)])
    after = await sku_stock(client, await _product_of(client, market, "a"), market.sku_a["id"])
    assert (before, after) == (100, 96)


async def _product_of(client: AsyncTestClient[Any], market: Market, which: str) -> str:
    coop = market.coop_a if which == "a" else market.coop_b
    response = await client.get("/api/v1/products", params={"cooperative_id": coop["id"]})
    return response.json()["items"][0]["id"]  # type: ignore[no-any-return]


async def test_a_client_cannot_set_prices(client: AsyncTestClient[Any], market: Market) -> None:
    body = order_body([(market.sku_a["id"], 1)])
    body["lines"][0]["unit_price_fen"] = 1
    response = await client.post(
        "/api/v1/orders", json=body, headers={**market.buyer.headers, "Idempotency-Key": new_key()}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_ordering_more_than_the_stock_is_refused_and_takes_nothing(
    client: AsyncTestClient[Any], market: Market
) -> None:
    response = await place(client, market.buyer, [(market.sku_a["id"], 1), (market.sku_b["id"], 51)])

    assert response.status_code == 409
    assert response.json()["code"] == "out_of_stock"
    assert await sku_stock(client, await _product_of(client, market, "a"), market.sku_a["id"]) == 100
    assert await sku_stock(client, await _product_of(client, market, "b"), market.sku_b["id"]) == 50
    listed = await client.get("/api/v1/orders", headers=market.buyer.headers)
    assert listed.json()["items"] == []


async def test_unknown_and_repeated_skus_are_validation_errors(
    client: AsyncTestClient[Any], market: Market
) -> None:
    unknown = await place(client, market.buyer, [("00000000000000000000000000", 1)])
    repeated = await place(client, market.buyer, [(market.sku_a["id"], 1), (market.sku_a["id"], 2)])

    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_sku"
    assert unknown.json()["errors"] == [{"field": "lines[0].sku_id", "message": "unknown SKU"}]
    assert repeated.status_code == 422 and repeated.json()["code"] == "duplicate_sku"


async def test_a_disabled_payment_method_is_refused(client: AsyncTestClient[Any], market: Market) -> None:
    response = await place(client, market.buyer, [(market.sku_a["id"], 1)], payment_method="stripe")
    assert response.status_code == 422
    assert response.json()["code"] == "payment_method_unavailable"


# ------------------------------------------------------------------ idempotency


async def test_the_same_key_and_body_answer_the_first_answer_again_without_a_second_order(
    client: AsyncTestClient[Any], market: Market
) -> None:
    first = await place(client, market.buyer, [(market.sku_a["id"], 2)], key="same-key")
    second = await place(client, market.buyer, [(market.sku_a["id"], 2)], key="same-key")

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers.get("idempotent-replayed") == "true"
    assert await sku_stock(client, await _product_of(client, market, "a"), market.sku_a["id"]) == 98
    listed = await client.get("/api/v1/orders", headers=market.buyer.headers)
    assert [o["id"] for o in listed.json()["items"]] == [first.json()["id"]]


async def test_the_same_key_with_another_body_is_refused(
    client: AsyncTestClient[Any], market: Market
) -> None:
    await place(client, market.buyer, [(market.sku_a["id"], 2)], key="reused")
    response = await place(client, market.buyer, [(market.sku_a["id"], 3)], key="reused")

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert await sku_stock(client, await _product_of(client, market, "a"), market.sku_a["id"]) == 98


async def test_keys_belong_to_one_user(client: AsyncTestClient[Any], market: Market) -> None:
    other = await register_buyer(client)
    first = await place(client, market.buyer, [(market.sku_a["id"], 1)], key="shared")
    second = await place(client, other, [(market.sku_a["id"], 1)], key="shared")

    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]


async def test_a_missing_or_oversized_key_is_a_bad_request(
    client: AsyncTestClient[Any], market: Market
) -> None:
    missing = await client.post(
        "/api/v1/orders", json=order_body([(market.sku_a["id"], 1)]), headers=market.buyer.headers
    )
    oversized = await place(client, market.buyer, [(market.sku_a["id"], 1)], key="k" * 256)

    assert missing.status_code == 400 and missing.json()["code"] == "idempotency_key_required"
    assert oversized.status_code == 400 and oversized.json()["code"] == "idempotency_key_invalid"
    assert await sku_stock(client, await _product_of(client, market, "a"), market.sku_a["id"]) == 100


async def test_a_failed_request_releases_its_key(client: AsyncTestClient[Any], market: Market) -> None:
    refused = await place(client, market.buyer, [(market.sku_b["id"], 60)], key="retry-me")
    assert refused.status_code == 409
    # Same key, other body: allowed now, since the failed attempt left nothing behind.
    accepted = await place(client, market.buyer, [(market.sku_b["id"], 5)], key="retry-me")
    assert accepted.status_code == 201


# ------------------------------------------------------------------ paying, shipping, receiving


async def test_offline_payment_by_staff_pays_the_order_and_posts_it(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = (await place(client, market.buyer, [(market.sku_a["id"], 2), (market.sku_b["id"], 3)])).json()

    response = await pay_offline(client, market, order)

    assert response.status_code == 201, response.text
    assert response.json()["order_status"] == "paid"
    shown = (await client.get(f"/api/v1/orders/{order['id']}", headers=market.buyer.headers)).json()
    assert (shown["status"], shown["paid_fen"]) == ("paid", 11730)
    assert {p["status"] for p in shown["parts"]} == {"paid"}
    assert await balances(db, "cash:") == {"cash:offline": 11730}
    assert await balances(db, "escrow:") == {
        f"escrow:coop:{market.coop_a['id']}": -7980,
        f"escrow:coop:{market.coop_b['id']}": -3750,
    }


async def test_offline_payment_must_be_the_outstanding_total(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = (await place(client, market.buyer, [(market.sku_a["id"], 1)])).json()
    response = await client.post(
        f"/api/v1/orders/{order['id']}/offline-payments",
        json={"reference": "X1", "amount_fen": 100},
        headers=market.manager_a.headers,
    )
    assert response.status_code == 422 and response.json()["code"] == "amount_mismatch"
    assert await balances(db, "cash:") == {}


async def test_a_manager_of_only_one_part_cannot_record_payment(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = (await place(client, market.buyer, [(market.sku_a["id"], 1), (market.sku_b["id"], 1)])).json()
    response = await client.post(
        f"/api/v1/orders/{order['id']}/offline-payments",
        json={"reference": "X2", "amount_fen": order["total_fen"]},
        headers=market.manager_a.headers,
    )
    assert response.status_code == 403
    shown = (await client.get(f"/api/v1/orders/{order['id']}", headers=market.buyer.headers)).json()
    assert shown["status"] == "pending_payment"
    assert await balances(db, "cash:") == {}


async def test_receiving_a_part_settles_it_with_the_largest_remainder_split(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    # 3 × 1250 = 3750 fen; fee 300 bps, collective 2000 bps: exact 112.5 / 750 / 2887.5.
    # The tied leftover fen goes to the larger weight (the cooperative): 112 / 750 / 2888.
    order = (await place(client, market.buyer, [(market.sku_b["id"], 3)])).json()
    await client.post(
        f"/api/v1/orders/{order['id']}/offline-payments",
        json={"reference": "CASH-1", "amount_fen": 3750},
        headers=market.manager_b.headers,
    )
    part = order["parts"][0]
    shipped = await client.post(
        f"/api/v1/orders/{order['id']}/parts/{part['id']}/ship",
        json={"carrier": "顺丰", "tracking_number": "SF1234567890"},
        headers=market.manager_b.headers,
    )
    assert shipped.status_code == 200 and shipped.json()["parts"][0]["status"] == "shipped"

    received = await client.post(
        f"/api/v1/orders/{order['id']}/parts/{part['id']}/receive", headers=market.buyer.headers
    )

    assert received.status_code == 200, received.text
    assert received.json()["status"] == "completed"
    assert received.json()["parts"][0]["status"] == "received"
    village = market.coop_b["village_code"]
    assert await balances(db, "revenue:") == {"revenue:platform_fee": -112}
    assert await balances(db, "collective_income:") == {f"collective_income:{village}:operating_income": -750}
    assert await balances(db, f"payable:coop:{market.coop_b['id']}") == {
        f"payable:coop:{market.coop_b['id']}": -2888
    }
    assert await balances(db, "escrow:") == {}
    async with db.read() as conn:
        assert await ledger_service.trial_balance(conn) == 0


async def test_a_part_cannot_be_shipped_before_payment(client: AsyncTestClient[Any], market: Market) -> None:
    order = (await place(client, market.buyer, [(market.sku_a["id"], 1)])).json()
    response = await client.post(
        f"/api/v1/orders/{order['id']}/parts/{order['parts'][0]['id']}/ship",
        json={"carrier": "EMS", "tracking_number": "E1"},
        headers=market.manager_a.headers,
    )
    assert response.status_code == 409 and response.json()["code"] == "invalid_transition"


# ------------------------------------------------------------------ cancelling and expiry


async def test_cancelling_an_unpaid_order_releases_stock(
    client: AsyncTestClient[Any], market: Market
) -> None:
    order = (await place(client, market.buyer, [(market.sku_a["id"], 5)])).json()
    response = await client.post(f"/api/v1/orders/{order['id']}/cancel", headers=market.buyer.headers)

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert {p["status"] for p in response.json()["parts"]} == {"cancelled"}
    assert await sku_stock(client, await _product_of(client, market, "a"), market.sku_a["id"]) == 100


async def test_cancelling_a_paid_order_refunds_it_in_the_ledger(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = (await place(client, market.buyer, [(market.sku_a["id"], 1), (market.sku_b["id"], 2)])).json()
    await pay_offline(client, market, order)

    response = await client.post(
        f"/api/v1/orders/{order['id']}/cancel", json={"reason": "买错了"}, headers=market.buyer.headers
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["refunded_fen"], body["paid_fen"]) == ("cancelled", 6490, 6490)
    assert {p["status"] for p in body["parts"]} == {"refunded"}
    assert await balances(db, "cash:") == {}
    assert await balances(db, "escrow:") == {}
    assert await sku_stock(client, await _product_of(client, market, "b"), market.sku_b["id"]) == 50


async def test_the_buyer_cannot_cancel_after_shipping(client: AsyncTestClient[Any], market: Market) -> None:
    order = (await place(client, market.buyer, [(market.sku_a["id"], 1)])).json()
    await client.post(
        f"/api/v1/orders/{order['id']}/offline-payments",
        json={"reference": "R", "amount_fen": order["total_fen"]},
        headers=market.manager_a.headers,
    )
    await client.post(
        f"/api/v1/orders/{order['id']}/parts/{order['parts'][0]['id']}/ship",
        json={"carrier": "EMS", "tracking_number": "E2"},
        headers=market.manager_a.headers,
    )
    response = await client.post(f"/api/v1/orders/{order['id']}/cancel", headers=market.buyer.headers)
    assert response.status_code == 409 and response.json()["code"] == "order_already_shipped"


async def test_an_unpaid_order_expires_and_its_stock_returns(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = (await place(client, market.buyer, [(market.sku_a["id"], 7)])).json()
    clock.advance(timedelta(minutes=29))
    assert await expiry.expire_overdue_orders(db) == 0

    clock.advance(timedelta(minutes=2))
    assert await expiry.expire_overdue_orders(db) == 1

    shown = (await client.get(f"/api/v1/orders/{order['id']}", headers=market.buyer.headers)).json()
    assert (shown["status"], shown["cancel_reason"]) == ("cancelled", "expired")
    assert await sku_stock(client, await _product_of(client, market, "a"), market.sku_a["id"]) == 100
    late = await pay_offline(client, market, order)
    assert late.status_code == 409 and late.json()["code"] == "order_not_payable"


async def test_paying_after_expiry_but_before_the_sweep_is_refused_at_start(
    client: AsyncTestClient[Any], market: Market
) -> None:
    order = (await place(client, market.buyer, [(market.sku_a["id"], 1)])).json()
    clock.advance(timedelta(hours=1))
    response = await client.post(
        f"/api/v1/orders/{order['id']}/payments",
        json={},
        headers={**market.buyer.headers, "Idempotency-Key": new_key()},
    )
    assert response.status_code == 409 and response.json()["code"] == "order_expired"


async def test_starting_an_offline_payment_gives_instructions(
    client: AsyncTestClient[Any], market: Market
) -> None:
    order = (await place(client, market.buyer, [(market.sku_a["id"], 1)])).json()
    response = await client.post(
        f"/api/v1/orders/{order['id']}/payments",
        json={},
        headers={**market.buyer.headers, "Idempotency-Key": new_key()},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["provider"], body["status"], body["client_secret"]) == (
        "offline",
        "requires_offline_payment",
        None,
    )
    assert body["next_action"]["amount_fen"] == 3990


# ------------------------------------------------------------------ who sees what


async def test_managers_see_only_their_part_with_the_phone_masked(
    client: AsyncTestClient[Any], market: Market
) -> None:
    order = (await place(client, market.buyer, [(market.sku_a["id"], 1), (market.sku_b["id"], 1)])).json()

    seen = (await client.get(f"/api/v1/orders/{order['id']}", headers=market.manager_a.headers)).json()

    assert [p["cooperative_id"] for p in seen["parts"]] == [market.coop_a["id"]]
    assert seen["shipping_address"]["phone"] == "139****5678"
    listed = (await client.get("/api/v1/orders", headers=market.manager_a.headers)).json()
    assert [o["id"] for o in listed["items"]] == [order["id"]]


async def test_order_list_pages_with_a_cursor(client: AsyncTestClient[Any], market: Market) -> None:
    ids = [(await place(client, market.buyer, [(market.sku_a["id"], 1)])).json()["id"] for _ in range(5)]
    first = (await client.get("/api/v1/orders", params={"limit": 2}, headers=market.buyer.headers)).json()
    second = (
        await client.get(
            "/api/v1/orders",
            params={"limit": 2, "cursor": first["next_cursor"]},
            headers=market.buyer.headers,
        )
    ).json()
    third = (
        await client.get(
            "/api/v1/orders",
            params={"limit": 2, "cursor": second["next_cursor"]},
            headers=market.buyer.headers,
        )
    ).json()
    seen = [o["id"] for page in (first, second, third) for o in page["items"]]
    assert seen == sorted(ids, reverse=True)
    assert third["next_cursor"] is None
    too_many = await client.get("/api/v1/orders", params={"limit": 101}, headers=market.buyer.headers)
    assert too_many.status_code == 422


async def test_a_shipped_part_is_received_automatically_after_the_hold_period(
    client: AsyncTestClient[Any], db: Database, market: Market
) -> None:
    order = (await place(client, market.buyer, [(market.sku_a["id"], 1)])).json()
    await client.post(
        f"/api/v1/orders/{order['id']}/offline-payments",
        json={"reference": "AUTO", "amount_fen": order["total_fen"]},
        headers=market.manager_a.headers,
    )
    await client.post(
        f"/api/v1/orders/{order['id']}/parts/{order['parts'][0]['id']}/ship",
        json={"carrier": "EMS", "tracking_number": "E-AUTO"},
        headers=market.manager_a.headers,
    )
    hold = timedelta(days=10)
    clock.advance(timedelta(days=9))
    assert await fulfilment.auto_receive_shipped_parts(db, hold=hold) == 0

    clock.advance(timedelta(days=2))
    assert await fulfilment.auto_receive_shipped_parts(db, hold=hold) == 1
    assert await fulfilment.auto_receive_shipped_parts(db, hold=hold) == 0

    buyer = await login(client, market.buyer.phone, market.buyer.password)  # the old token expired meanwhile
    shown = (await client.get(f"/api/v1/orders/{order['id']}", headers=buyer.headers)).json()
    assert (shown["status"], shown["parts"][0]["status"]) == ("completed", "received")
    assert await balances(db, "collective_income:") == {
        f"collective_income:{market.coop_a['village_code']}:operating_income": 399 * -1
    }
