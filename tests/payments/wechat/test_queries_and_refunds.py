"""WeChat Pay: the query fall-back, closing at expiry, refunds (notified, queried, refused)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar.testing import AsyncTestClient

from coopmarket.core import clock
from coopmarket.db import Database
from coopmarket.flows import provider_queries
from coopmarket.flows import refunds as refund_flows
from coopmarket.orders import expiry
from tests.payments.builders import (
    Shop,
    get_order,
    ledger_kinds,
    payments_of,
    refunds_of,
    trial_balance,
)
from tests.payments.wechat.support import (
    cancel,
    notify,
    on_app,
    paid_order,
    place_wechat_order,
    started_trade_no,
)
from tests.wxpay_fake import FakeWechatPay

FAILED = "/api/v1/refunds?status=failed"


async def test_the_query_applies_a_payment_whose_notification_never_came_and_the_late_one_changes_nothing(
    client: AsyncTestClient[Any], db: Database, shop: Shop, wxpay: FakeWechatPay
) -> None:
    # Given a buyer who paid, and a notification that is lost
    order = await place_wechat_order(client, shop)
    trade_no = await started_trade_no(client, shop, wxpay, order["id"])
    late = wxpay.pay(trade_no)

    # When nothing happens for a while: a fresh payment is not queried yet…
    assert on_app(client, provider_queries.query_open_payments, older_than=timedelta(minutes=5)) == 0
    clock.advance(timedelta(minutes=6))
    # …and after five minutes the query job asks WeChat Pay
    applied = on_app(client, provider_queries.query_open_payments, older_than=timedelta(minutes=5))

    # Then the order is paid once
    assert applied == 1
    assert (await get_order(client, shop.buyer, order["id"]))["status"] == "paid"
    assert await ledger_kinds(db, order["id"]) == ["payment_received"]
    # And the notification arriving at last (signed now) is applied zero more times
    clock.reset()
    assert (await notify(client, wxpay.pay(trade_no))).status_code == 204
    assert (await notify(client, late)).status_code == 204
    assert await ledger_kinds(db, order["id"]) == ["payment_received"]
    assert await trial_balance(db) == 0


async def test_an_expired_order_is_closed_at_wechat_pay(
    client: AsyncTestClient[Any], db: Database, shop: Shop, wxpay: FakeWechatPay
) -> None:
    # Given a started payment nobody completes
    order = await place_wechat_order(client, shop)
    trade_no = await started_trade_no(client, shop, wxpay, order["id"])

    # When the order expires and the close job runs
    clock.advance(timedelta(minutes=31))
    assert await expiry.expire_overdue_orders(db) == 1
    closed = on_app(client, provider_queries.close_payments_of_closed_orders)

    # Then the WeChat order was closed (it can no longer be paid) and our payment is cancelled
    assert closed == 1
    assert wxpay.orders[trade_no]["trade_state"] == "CLOSED"
    assert len(wxpay.calls("POST", f"/v3/pay/transactions/out-trade-no/{trade_no}/close")) == 1
    assert await payments_of(db, order["id"]) == [("wechat_pay", "canceled", 7980, trade_no)]
    # And a second run has nothing left to close
    assert on_app(client, provider_queries.close_payments_of_closed_orders) == 0


async def test_money_paid_just_as_the_order_expired_is_held_and_refunded(
    client: AsyncTestClient[Any], db: Database, shop: Shop, wxpay: FakeWechatPay
) -> None:
    # Given an order that expired, whose buyer paid at WeChat before we could close it
    order = await place_wechat_order(client, shop)
    trade_no = await started_trade_no(client, shop, wxpay, order["id"])
    clock.advance(timedelta(minutes=31))
    await expiry.expire_overdue_orders(db)
    wxpay.pay(trade_no)

    # When the close job runs, WeChat refuses to close (ORDERPAID)
    closed = on_app(client, provider_queries.close_payments_of_closed_orders)

    # Then the money is held in suspense and refunded in full, never given to the cancelled order
    assert closed == 0
    assert (await get_order(client, shop.buyer, order["id"]))["status"] == "cancelled"
    assert await ledger_kinds(db, order["id"]) == ["unmatched_payment", "refund"]
    [(_, amount, status, _)] = await refunds_of(db, order["id"])
    assert (amount, status) == (7980, "pending")


async def test_a_refund_is_sent_under_out_refund_no_and_confirmed_by_its_notification(
    client: AsyncTestClient[Any], db: Database, shop: Shop, wxpay: FakeWechatPay
) -> None:
    # Given a paid order the buyer cancels: its refund is recorded
    order, trade_no = await paid_order(client, shop, wxpay)
    await cancel(client, shop, order["id"])
    [(refund_id, _, _, _)] = await refunds_of(db, order["id"])

    # When the refund sender runs (twice: the second sends nothing)
    assert on_app(client, refund_flows.send_pending_refunds) == 1
    assert on_app(client, refund_flows.send_pending_refunds) == 0

    # Then WeChat Pay was asked once, under out_refund_no = our refund's id
    [call] = wxpay.calls("POST", "/v3/refund/domestic/refunds")
    assert call.body["out_refund_no"] == refund_id
    assert call.body["out_trade_no"] == trade_no
    assert call.body["amount"] == {"refund": 7980, "total": 7980, "currency": "CNY"}
    wx_refund_id = wxpay.refunds[refund_id]["refund_id"]
    assert await refunds_of(db, order["id"]) == [(refund_id, 7980, "pending", wx_refund_id)]

    # When WeChat Pay notifies the refund's success (twice)
    delivery = wxpay.refund_notification(refund_id, "SUCCESS")
    assert (await notify(client, delivery)).status_code == 204
    assert (await notify(client, delivery)).status_code == 204

    # Then the refund succeeded, once
    assert await refunds_of(db, order["id"]) == [(refund_id, 7980, "succeeded", wx_refund_id)]
    assert await ledger_kinds(db, order["id"]) == ["payment_received", "refund"]
    assert await trial_balance(db) == 0


async def test_a_refund_notification_arriving_before_the_payments_changes_nothing_twice(
    client: AsyncTestClient[Any], db: Database, shop: Shop, wxpay: FakeWechatPay
) -> None:
    # Given a payment applied by the query (its notification delayed), then refunded
    order = await place_wechat_order(client, shop)
    trade_no = await started_trade_no(client, shop, wxpay, order["id"])
    payment_notice = wxpay.pay(trade_no)
    assert on_app(client, provider_queries.query_open_payments, older_than=timedelta(0)) == 1
    await cancel(client, shop, order["id"])
    [(refund_id, _, _, _)] = await refunds_of(db, order["id"])
    on_app(client, refund_flows.send_pending_refunds)

    # When the refund's notification arrives first, then the payment's
    assert (await notify(client, wxpay.refund_notification(refund_id, "SUCCESS"))).status_code == 204
    assert (await notify(client, payment_notice)).status_code == 204

    # Then the payment was applied once and refunded once
    assert [r[2] for r in await refunds_of(db, order["id"])] == ["succeeded"]
    assert await ledger_kinds(db, order["id"]) == ["payment_received", "refund"]
    shown = await get_order(client, shop.buyer, order["id"])
    assert (shown["status"], shown["paid_fen"], shown["refunded_fen"]) == ("cancelled", 7980, 7980)
    assert await trial_balance(db) == 0


async def test_a_refund_wechat_closes_is_reversed_and_listed_for_staff(
    client: AsyncTestClient[Any], db: Database, shop: Shop, wxpay: FakeWechatPay
) -> None:
    order, _ = await paid_order(client, shop, wxpay)
    await cancel(client, shop, order["id"])
    [(refund_id, _, _, _)] = await refunds_of(db, order["id"])
    on_app(client, refund_flows.send_pending_refunds)

    # When WeChat Pay reports the refund CLOSED (failed)
    assert (await notify(client, wxpay.refund_notification(refund_id, "CLOSED"))).status_code == 204

    # Then main's failed-refund design applies: reversed in the ledger, listed for staff
    assert [r[2] for r in await refunds_of(db, order["id"])] == ["failed"]
    assert await ledger_kinds(db, order["id"]) == ["payment_received", "refund", "refund_failed"]
    listed = (await client.get(FAILED, headers=shop.staff.headers)).json()["items"]
    assert [(i["id"], i["amount_fen"], i["provider"]) for i in listed] == [(refund_id, 7980, "wechat_pay")]
    assert await trial_balance(db) == 0


async def test_the_refund_query_finds_an_outcome_no_notification_brought(
    client: AsyncTestClient[Any], db: Database, shop: Shop, wxpay: FakeWechatPay
) -> None:
    order, _ = await paid_order(client, shop, wxpay)
    await cancel(client, shop, order["id"])
    [(refund_id, _, _, _)] = await refunds_of(db, order["id"])
    on_app(client, refund_flows.send_pending_refunds)
    assert on_app(client, provider_queries.query_sent_refunds) == 0  # still processing at WeChat

    wxpay.refunds[refund_id]["status"] = "SUCCESS"  # its notification lost
    assert on_app(client, provider_queries.query_sent_refunds) == 1

    assert [r[2] for r in await refunds_of(db, order["id"])] == ["succeeded"]


async def test_a_refund_wechat_refuses_for_good_is_reversed(
    client: AsyncTestClient[Any], db: Database, shop: Shop, wxpay: FakeWechatPay
) -> None:
    order, _ = await paid_order(client, shop, wxpay)
    await cancel(client, shop, order["id"])
    wxpay.refund_answer = "NOT_ENOUGH"

    assert on_app(client, refund_flows.send_pending_refunds) == 0

    assert [r[2] for r in await refunds_of(db, order["id"])] == ["failed"]
    assert await ledger_kinds(db, order["id"]) == ["payment_received", "refund", "refund_failed"]
    assert await trial_balance(db) == 0
