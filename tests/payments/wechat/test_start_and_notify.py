"""WeChat Pay API v3 (JSAPI): starting a payment, and the notifications, against a local fake that
checks our signatures and signs its answers (tests/wxpay_fake.py)."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from litestar.testing import AsyncTestClient

from coopmarket.core import clock
from coopmarket.db import Database
from coopmarket.payments.wechat_provider import out_trade_no
from tests.factories import register_buyer
from tests.payments.builders import (
    Shop,
    event_count,
    get_order,
    ledger_kinds,
    payments_of,
    refunds_of,
    trial_balance,
)
from tests.payments.wechat.support import (
    give_openid,
    notify,
    place_wechat_order,
    start_wechat,
    started_trade_no,
)
from tests.wxpay_fake import APPID, NOTIFY_URL, FakeWechatPay, Keys, new_key

# ---------------------------------------------------------------- starting


async def test_start_answers_request_payment_parameters_signed_with_the_merchant_key(
    client: AsyncTestClient[Any], db: Database, shop: Shop, wxpay: FakeWechatPay, wx_keys: Keys
) -> None:
    # Given an unpaid order of two units at 39.90 yuan, paid with WeChat Pay
    order = await place_wechat_order(client, shop)

    # When its buyer starts paying
    response = await start_wechat(client, shop.buyer.headers, order["id"])

    # Then WeChat Pay was asked (with a request it could verify) for 7980 fen for the buyer's openid
    assert response.status_code == 200, response.text
    assert wxpay.rejected == []
    [call] = wxpay.calls("POST", "/v3/pay/transactions/jsapi")
    trade_no = out_trade_no(order["id"], 7980)
    assert call.body["out_trade_no"] == trade_no
    assert call.body["amount"] == {"total": 7980, "currency": "CNY"}
    assert call.body["payer"] == {"openid": f"o-{shop.buyer.id}"}
    assert call.body["notify_url"] == NOTIFY_URL
    assert call.body["attach"] == order["id"]
    # time_expire is the order's expires_at, in RFC 3339 at +08:00
    expires = datetime.fromisoformat(order["expires_at"].replace("Z", "+00:00"))
    assert call.body["time_expire"].endswith("+08:00")
    assert datetime.fromisoformat(call.body["time_expire"]) == expires.replace(microsecond=0)
    # And the answer holds wx.requestPayment's parameters, paySign verifiable with our public key
    body = response.json()
    assert body["provider"] == "wechat_pay"
    assert body["amount_fen"] == 7980
    params = body["next_action"]["request_payment"]
    assert set(params) == {"timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert params["package"].startswith("prepay_id=wx")
    assert params["signType"] == "RSA"
    message = f"{APPID}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n".encode()
    wx_keys.merchant.public_key().verify(
        base64.b64decode(params["paySign"]), message, padding.PKCS1v15(), hashes.SHA256()
    )
    assert await payments_of(db, order["id"]) == [("wechat_pay", "requires_payment", 7980, trade_no)]


async def test_starting_again_reuses_the_same_out_trade_no(
    client: AsyncTestClient[Any], db: Database, shop: Shop, wxpay: FakeWechatPay
) -> None:
    order = await place_wechat_order(client, shop)
    first = await start_wechat(client, shop.buyer.headers, order["id"])
    second = await start_wechat(client, shop.buyer.headers, order["id"])

    assert first.status_code == second.status_code == 200, second.text
    calls = wxpay.calls("POST", "/v3/pay/transactions/jsapi")
    assert len(calls) == 2
    assert calls[0].body["out_trade_no"] == calls[1].body["out_trade_no"]
    assert len(wxpay.orders) == 1
    assert len(await payments_of(db, order["id"])) == 1


async def test_a_buyer_without_a_wechat_openid_gets_a_clear_problem(
    client: AsyncTestClient[Any], db: Database, shop: Shop, wxpay: FakeWechatPay
) -> None:
    # Given a buyer who registered with a phone and never signed in through the mini-program
    stranger = await register_buyer(client)
    shop.buyer = stranger
    order = await place_wechat_order(client, shop)

    response = await start_wechat(client, stranger.headers, order["id"])

    assert response.status_code == 409, response.text
    assert response.json()["code"] == "wechat_openid_missing"
    assert wxpay.seen == []
    assert await payments_of(db, order["id"]) == []


async def test_another_buyer_cannot_start_and_anonymous_is_401(
    client: AsyncTestClient[Any], db: Database, shop: Shop, wxpay: FakeWechatPay
) -> None:
    order = await place_wechat_order(client, shop)
    other = await register_buyer(client)
    await give_openid(db, other.id)

    assert (await start_wechat(client, other.headers, order["id"])).status_code == 404
    assert (await start_wechat(client, {}, order["id"])).status_code == 401
    assert wxpay.seen == []


async def test_wechat_pay_down_answers_503_and_records_nothing(
    client: AsyncTestClient[Any], db: Database, shop: Shop, wxpay: FakeWechatPay
) -> None:
    order = await place_wechat_order(client, shop)
    wxpay.down = True

    response = await start_wechat(client, shop.buyer.headers, order["id"])

    assert response.status_code == 503, response.text
    assert response.json()["code"] == "payment_provider_unavailable"
    assert await payments_of(db, order["id"]) == []


async def test_an_answer_not_signed_by_wechat_pay_is_not_believed(
    client: AsyncTestClient[Any], db: Database, shop: Shop, wxpay: FakeWechatPay
) -> None:
    # Given something between us and WeChat Pay that answers with another key
    order = await place_wechat_order(client, shop)
    wxpay.keys = Keys(merchant=wxpay.keys.merchant, wechat=new_key())

    response = await start_wechat(client, shop.buyer.headers, order["id"])

    assert response.status_code == 503, response.text
    assert await payments_of(db, order["id"]) == []


# ---------------------------------------------------------------- notifications


async def test_a_notification_pays_the_order_once_however_often_it_is_delivered(
    client: AsyncTestClient[Any], db: Database, shop: Shop, wxpay: FakeWechatPay
) -> None:
    order = await place_wechat_order(client, shop)
    trade_no = await started_trade_no(client, shop, wxpay, order["id"])
    delivery = wxpay.pay(trade_no)

    first = await notify(client, delivery)
    again = await notify(client, delivery)

    assert first.status_code == again.status_code == 204, first.text
    paid = await get_order(client, shop.buyer, order["id"])
    assert paid["status"] == "paid"
    assert paid["paid_fen"] == 7980
    assert await ledger_kinds(db, order["id"]) == ["payment_received"]
    assert await event_count(db) == 1
    assert await trial_balance(db) == 0


async def test_three_parallel_deliveries_settle_once(
    client: AsyncTestClient[Any], db: Database, shop: Shop, wxpay: FakeWechatPay
) -> None:
    # Given one payment that WeChat notifies three times at once (the same notification, and two
    # more with their own ids, as WeChat does when our answers were slow)
    order = await place_wechat_order(client, shop)
    trade_no = await started_trade_no(client, shop, wxpay, order["id"])
    same = wxpay.pay(trade_no, event_id="evt-1")
    deliveries = [same, same, wxpay.pay(trade_no), wxpay.pay(trade_no)]

    answers = await asyncio.gather(*(notify(client, d) for d in deliveries))

    assert [a.status_code for a in answers] == [204, 204, 204, 204], [a.text for a in answers]
    assert (await get_order(client, shop.buyer, order["id"]))["paid_fen"] == 7980
    assert await ledger_kinds(db, order["id"]) == ["payment_received"]
    assert await payments_of(db, order["id"]) == [("wechat_pay", "succeeded", 7980, trade_no)]
    assert await trial_balance(db) == 0


@pytest.mark.parametrize("how", ["tampered", "stale", "probe", "unsigned", "other_key"])
async def test_a_notification_that_fails_verification_is_refused_and_changes_nothing(
    client: AsyncTestClient[Any], db: Database, shop: Shop, wxpay: FakeWechatPay, how: str
) -> None:
    order = await place_wechat_order(client, shop)
    trade_no = await started_trade_no(client, shop, wxpay, order["id"])
    if how == "stale":
        headers, body = wxpay.pay(trade_no, timestamp=int((clock.now() - timedelta(minutes=6)).timestamp()))
    elif how == "probe":
        headers, body = wxpay.pay(trade_no, probe=True)
    else:
        headers, body = wxpay.pay(trade_no)
    if how == "tampered":
        envelope = json.loads(body)
        envelope["event_type"] = "TRANSACTION.SUCCESS "
        body = json.dumps(envelope).encode()
    elif how == "unsigned":
        headers = {"Content-Type": "application/json"}
    elif how == "other_key":
        forger = FakeWechatPay(Keys(merchant=wxpay.keys.merchant, wechat=new_key()))
        forger.orders = wxpay.orders
        headers, body = forger.pay(trade_no)

    response = await notify(client, (headers, body))

    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "invalid_signature"
    assert await event_count(db) == 0
    assert (await get_order(client, shop.buyer, order["id"]))["status"] == "pending_payment"
    assert await ledger_kinds(db, order["id"]) == []


async def test_a_notification_for_a_different_amount_is_held_and_refunded_not_paid_to_the_order(
    client: AsyncTestClient[Any], db: Database, shop: Shop, wxpay: FakeWechatPay
) -> None:
    order = await place_wechat_order(client, shop)
    trade_no = await started_trade_no(client, shop, wxpay, order["id"])

    response = await notify(client, wxpay.pay(trade_no, amount=100))

    assert response.status_code == 204, response.text
    assert (await get_order(client, shop.buyer, order["id"]))["status"] == "pending_payment"
    assert await ledger_kinds(db, order["id"]) == ["unmatched_payment", "refund"]
    [(_, amount, status, _)] = await refunds_of(db, order["id"])
    assert (amount, status) == (100, "pending")
    assert await trial_balance(db) == 0


async def test_a_notification_in_another_currency_is_held_and_refunded(
    client: AsyncTestClient[Any], db: Database, shop: Shop, wxpay: FakeWechatPay
) -> None:
    order = await place_wechat_order(client, shop)
    trade_no = await started_trade_no(client, shop, wxpay, order["id"])

    response = await notify(client, wxpay.pay(trade_no, currency="USD"))

    assert response.status_code == 204, response.text
    assert (await get_order(client, shop.buyer, order["id"]))["status"] == "pending_payment"
    assert await ledger_kinds(db, order["id"]) == ["unmatched_payment", "refund"]


async def test_the_notify_route_answers_404_where_wechat_pay_is_not_enabled(
    client: AsyncTestClient[Any], settings_overrides: dict[str, Any]
) -> None:
    # (this app has it enabled; the route must exist and verify)
    response = await client.post("/api/v1/payments/wechat/notify", content=b"{}")
    assert response.status_code == 400
