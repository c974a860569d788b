"""WeChat Pay timing out: at payment start, at the query and at the refund.

The fake WeChat Pay of the payment tests sits behind a transport that, on the calls a test names,
hangs until the app's own configured timeout (``wechat_pay_timeout_seconds``) gives up, either
before WeChat Pay saw the request or after it acted on it (the answer lost on the way back, the
harder case). Whatever the timing: the buyer is told to retry (503
``payment_provider_unavailable``), nothing is half written (the order stays payable, no ledger
entry, the refund stays pending), and the retry or the fall-back query settles it exactly once:
one WeChat order per ``out_trade_no``, one refund per ``out_refund_no``, one ledger posting each.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from coopmarket.app import Overrides
from coopmarket.db import Database
from coopmarket.flows import provider_queries
from coopmarket.flows import refunds as refund_flows
from tests.payments.builders import (
    Shop,
    build_shop,
    get_order,
    ledger_kinds,
    payments_of,
    refunds_of,
    trial_balance,
)
from tests.payments.wechat.support import (
    cancel,
    give_openid,
    notify,
    on_app,
    paid_order,
    place_wechat_order,
    started_trade_no,
)
from tests.wxpay_fake import FakeWechatPay, Keys, new_key

TIMEOUT = 0.3
JSAPI = ("POST", "/v3/pay/transactions/jsapi")
QUERY = ("GET", "/v3/pay/transactions/out-trade-no/")
REFUND = ("POST", "/v3/refund/domestic/refunds")


class HangingTransport(httpx.AsyncBaseTransport):
    """The fake WeChat Pay, reached through a network that can hang.

    A call matching one of ``hang`` waits until the client's configured read timeout expires and
    then fails as httpx does (``ReadTimeout``). With ``reached`` the fake handles the request first
    (WeChat Pay acted; only its answer is lost), otherwise it never sees it.
    """

    def __init__(self, fake: FakeWechatPay) -> None:
        self.fake = fake
        self.inner = httpx.MockTransport(fake.handle)
        self.hang: set[tuple[str, str]] = set()
        self.reached = False
        self.hung = 0

    def _hangs(self, request: httpx.Request) -> bool:
        return any(request.method == m and request.url.path.startswith(p) for m, p in self.hang)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self._hangs(request):
            return await self.inner.handle_async_request(request)
        if self.reached:
            await self.inner.handle_async_request(request)  # WeChat Pay acted; the answer never arrives
        read_timeout = request.extensions["timeout"]["read"]
        assert read_timeout is not None, "the WeChat Pay client must have a timeout"
        self.hung += 1
        try:
            await asyncio.wait_for(asyncio.Event().wait(), timeout=read_timeout)
        except TimeoutError:
            raise httpx.ReadTimeout("WeChat Pay did not answer in time", request=request) from None
        raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def wx_keys() -> Keys:
    return Keys(merchant=new_key(), wechat=new_key())


@pytest.fixture
def wxpay(wx_keys: Keys) -> FakeWechatPay:
    return FakeWechatPay(wx_keys)


@pytest.fixture
def network(wxpay: FakeWechatPay) -> HangingTransport:
    return HangingTransport(wxpay)


@pytest.fixture
def settings_overrides(wx_keys: Keys) -> dict[str, Any]:
    return {
        "payment_providers": ["offline", "wechat_pay"],
        **wx_keys.settings(),
        "wechat_pay_timeout_seconds": TIMEOUT,
    }


@pytest.fixture
def overrides(network: HangingTransport) -> Overrides:
    return Overrides(wechat_pay_transport=network)


@pytest.fixture
async def shop(client: AsyncTestClient[Any], db: Database) -> Shop:
    shop = await build_shop(client, db)
    await give_openid(db, shop.buyer.id)
    return shop


def _assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "payment_provider_unavailable"


@pytest.mark.parametrize("reached", [False, True], ids=["request-lost", "answer-lost"])
async def test_start_timing_out_answers_503_writes_nothing_and_the_retry_uses_the_same_wechat_order(
    client: AsyncTestClient[Any],
    db: Database,
    shop: Shop,
    wxpay: FakeWechatPay,
    network: HangingTransport,
    reached: bool,
) -> None:
    # Given an unpaid order, and WeChat Pay hanging past our timeout when the order is placed there
    order = await place_wechat_order(client, shop)
    network.hang, network.reached = {JSAPI}, reached
    headers = {**shop.buyer.headers, "Idempotency-Key": "wx-start-timeout-1"}
    path = f"/api/v1/orders/{order['id']}/payments"

    # When the buyer taps "pay"
    slow = await client.post(path, json={"method": "wechat_pay"}, headers=headers)

    # Then they are told to retry, and nothing is written: no payment, no ledger entry, still payable
    assert network.hung == 1
    _assert_unavailable(slow)
    assert await payments_of(db, order["id"]) == []
    assert await ledger_kinds(db, order["id"]) == []
    assert (await get_order(client, shop.buyer, order["id"]))["status"] == "pending_payment"

    # When WeChat Pay answers again and the buyer retries with the same key
    network.hang = set()
    retry = await client.post(path, json={"method": "wechat_pay"}, headers=headers)

    # Then the payment starts on the one WeChat order every attempt named
    assert retry.status_code == 200, retry.text
    assert retry.json()["next_action"]["request_payment"]["package"].startswith("prepay_id=")
    sent = {c.body["out_trade_no"] for c in wxpay.calls(*JSAPI)}
    assert len(sent) == 1 and len(wxpay.calls(*JSAPI)) == (2 if reached else 1)
    [trade_no] = sent
    assert [o for o in wxpay.orders.values() if o["request"]["attach"] == order["id"]] == [
        wxpay.orders[trade_no]
    ]
    assert await payments_of(db, order["id"]) == [
        ("wechat_pay", "requires_payment", order["total_fen"], trade_no)
    ]

    # And paying it is applied once
    delivery = wxpay.pay(trade_no)
    assert (await notify(client, delivery)).status_code == 204
    assert (await notify(client, delivery)).status_code == 204
    assert (await get_order(client, shop.buyer, order["id"]))["status"] == "paid"
    assert await ledger_kinds(db, order["id"]) == ["payment_received"]
    assert await trial_balance(db) == 0


async def test_the_query_timing_out_answers_503_changes_nothing_and_the_fallback_query_settles_it_once(
    client: AsyncTestClient[Any], db: Database, shop: Shop, wxpay: FakeWechatPay, network: HangingTransport
) -> None:
    # Given a buyer who paid at WeChat Pay, whose notification was lost
    order = await place_wechat_order(client, shop)
    trade_no = await started_trade_no(client, shop, wxpay, order["id"])
    late = wxpay.pay(trade_no)
    network.hang = {QUERY}

    # When the buyer taps "pay" again: WeChat says ORDERPAID, and our query of it hangs
    again = await client.post(
        f"/api/v1/orders/{order['id']}/payments",
        json={"method": "wechat_pay"},
        headers={**shop.buyer.headers, "Idempotency-Key": "wx-query-timeout-1"},
    )

    # Then the buyer is told to retry and nothing changed
    _assert_unavailable(again)
    assert network.hung == 1
    assert (await get_order(client, shop.buyer, order["id"]))["status"] == "pending_payment"
    assert await payments_of(db, order["id"]) == [
        ("wechat_pay", "requires_payment", order["total_fen"], trade_no)
    ]
    assert await ledger_kinds(db, order["id"]) == []

    # When the fall-back query job runs while WeChat Pay still hangs: nothing applied, nothing written
    assert on_app(client, provider_queries.query_open_payments, older_than=timedelta(0)) == 0
    assert network.hung == 2
    assert await ledger_kinds(db, order["id"]) == []

    # When WeChat Pay answers again: the next run applies the payment, once
    network.hang = set()
    assert on_app(client, provider_queries.query_open_payments, older_than=timedelta(0)) == 1
    assert on_app(client, provider_queries.query_open_payments, older_than=timedelta(0)) == 0
    shown = await get_order(client, shop.buyer, order["id"])
    assert (shown["status"], shown["paid_fen"]) == ("paid", order["total_fen"])

    # And neither the late notification nor the buyer's retry applies it again
    assert (await notify(client, late)).status_code == 204
    retry = await client.post(
        f"/api/v1/orders/{order['id']}/payments",
        json={"method": "wechat_pay"},
        headers={**shop.buyer.headers, "Idempotency-Key": "wx-query-timeout-1"},
    )
    assert retry.status_code == 200, retry.text
    assert retry.json()["status"] == "succeeded"
    assert await ledger_kinds(db, order["id"]) == ["payment_received"]
    assert await payments_of(db, order["id"]) == [("wechat_pay", "succeeded", order["total_fen"], trade_no)]
    assert await trial_balance(db) == 0


@pytest.mark.parametrize("reached", [False, True], ids=["request-lost", "answer-lost"])
async def test_a_refund_timing_out_stays_pending_and_is_sent_again_and_applied_once(
    client: AsyncTestClient[Any],
    db: Database,
    shop: Shop,
    wxpay: FakeWechatPay,
    network: HangingTransport,
    reached: bool,
) -> None:
    # Given a paid order the buyer cancels: its refund is recorded, to be sent to WeChat Pay
    order, trade_no = await paid_order(client, shop, wxpay)
    await cancel(client, shop, order["id"])
    [(refund_id, amount, status, ref)] = await refunds_of(db, order["id"])
    assert (amount, status, ref) == (order["total_fen"], "pending", None)
    kinds = await ledger_kinds(db, order["id"])

    # When the refund sender runs and WeChat Pay hangs past our timeout
    network.hang, network.reached = {REFUND}, reached
    assert on_app(client, refund_flows.send_pending_refunds) == 0

    # Then the refund is still pending, unsent as far as we know, and the ledger did not move
    assert network.hung == 1
    assert await refunds_of(db, order["id"]) == [(refund_id, amount, "pending", None)]
    assert await ledger_kinds(db, order["id"]) == kinds
    assert len(wxpay.refunds) == (1 if reached else 0)

    # When WeChat Pay answers again: the next run sends it under the same out_refund_no, once
    network.hang = set()
    assert on_app(client, refund_flows.send_pending_refunds) == 1
    assert on_app(client, refund_flows.send_pending_refunds) == 0
    assert {c.body["out_refund_no"] for c in wxpay.calls(*REFUND)} == {refund_id}
    assert list(wxpay.refunds) == [refund_id]
    assert wxpay.refunds[refund_id]["out_trade_no"] == trade_no
    wx_refund_id = wxpay.refunds[refund_id]["refund_id"]
    assert await refunds_of(db, order["id"]) == [(refund_id, amount, "pending", wx_refund_id)]

    # And its notification settles it once
    delivery = wxpay.refund_notification(refund_id, "SUCCESS")
    assert (await notify(client, delivery)).status_code == 204
    assert (await notify(client, delivery)).status_code == 204
    assert await refunds_of(db, order["id"]) == [(refund_id, amount, "succeeded", wx_refund_id)]
    assert await ledger_kinds(db, order["id"]) == kinds
    shown = await get_order(client, shop.buyer, order["id"])
    assert (shown["paid_fen"], shown["refunded_fen"]) == (order["total_fen"], order["total_fen"])
    assert await trial_balance(db) == 0


async def test_the_refund_query_timing_out_leaves_it_pending_until_a_later_query(
    client: AsyncTestClient[Any], db: Database, shop: Shop, wxpay: FakeWechatPay, network: HangingTransport
) -> None:
    # Given a refund WeChat Pay took, whose notification is lost
    order, _ = await paid_order(client, shop, wxpay)
    await cancel(client, shop, order["id"])
    [(refund_id, _, _, _)] = await refunds_of(db, order["id"])
    assert on_app(client, refund_flows.send_pending_refunds) == 1
    wxpay.refunds[refund_id]["status"] = "SUCCESS"
    kinds = await ledger_kinds(db, order["id"])

    # When the refund query hangs: nothing reaches a final state
    network.hang = {("GET", "/v3/refund/domestic/refunds/")}
    assert on_app(client, provider_queries.query_sent_refunds) == 0
    assert network.hung == 1
    assert [r[2] for r in await refunds_of(db, order["id"])] == ["pending"]

    # When it answers again: succeeded, once
    network.hang = set()
    assert on_app(client, provider_queries.query_sent_refunds) == 1
    assert on_app(client, provider_queries.query_sent_refunds) == 0
    assert [r[2] for r in await refunds_of(db, order["id"])] == ["succeeded"]
    assert await ledger_kinds(db, order["id"]) == kinds
    assert await trial_balance(db) == 0
