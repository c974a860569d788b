"""Partner mode end to end: a cooperative's sub-merchant set by staff, the order placed for it with
profit sharing, and the settled part's shares sent once by the job."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from coopmarket.flows import profit_sharing as profit_sharing_flow
from tests.factories import register_buyer
from tests.payments.builders import Shop, new_key
from tests.payments.wechat.support import notify, place_wechat_order, started_trade_no
from tests.wxpay_fake import MCHID, FakeWechatPay, Keys

SUB_MCHID = "1900000201"
COLLECTIVE_MCHID = "1900000377"


@pytest.fixture
def settings_overrides(wx_keys: Keys) -> dict[str, Any]:
    return {
        "payment_providers": ["offline", "wechat_pay"],
        **wx_keys.settings(),
        "wechat_pay_partner_mode": True,
        "wechat_pay_sub_mchid": "1900000999",  # the default; the cooperative's own wins
    }


def sub_merchant_path(shop: Shop) -> str:
    return f"/api/v1/cooperatives/{shop.cooperative['id']}/wechat-sub-merchant"


async def set_sub_merchant(client: AsyncTestClient[Any], shop: Shop, **body: Any) -> Any:
    return await client.put(sub_merchant_path(shop), json=body, headers=shop.staff.headers)


def run_sharing(client: AsyncTestClient[Any]) -> int:
    app = client.app

    async def run() -> int:
        return await profit_sharing_flow.share_settled_parts(
            app.state.db, app.state.payment_providers, app.state.settings
        )

    return int(client.blocking_portal.call(run))


async def settle(client: AsyncTestClient[Any], shop: Shop, order: dict[str, Any]) -> None:
    part_id = order["parts"][0]["id"]
    shipped = await client.post(
        f"/api/v1/orders/{order['id']}/parts/{part_id}/ship",
        json={"carrier": "EMS", "tracking_number": "E1"},
        headers=shop.manager.headers,
    )
    assert shipped.status_code == 200, shipped.text
    received = await client.post(f"/api/v1/orders/{order['id']}/parts/{part_id}/receive", headers=shop.buyer.headers)
    assert received.status_code == 200, received.text


async def test_only_district_staff_set_a_sub_merchant(
    client: AsyncTestClient[Any], db: Database, shop: Shop
) -> None:
    body = {"sub_mchid": SUB_MCHID, "max_ratio_bps": 3000}
    assert (await client.put(sub_merchant_path(shop), json=body)).status_code == 401
    buyer = await register_buyer(client)
    forbidden = await client.put(sub_merchant_path(shop), json=body, headers=buyer.headers)
    assert (forbidden.status_code, forbidden.json()["code"]) == (403, "forbidden_role")
    manager = await client.put(sub_merchant_path(shop), json=body, headers=shop.manager.headers)
    assert manager.status_code == 403
    unknown = await client.put(
        "/api/v1/cooperatives/01jnosuchcooperative000000/wechat-sub-merchant", json=body, headers=shop.staff.headers
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "cooperative_not_found")
    bad = await client.put(sub_merchant_path(shop), json={**body, "max_ratio_bps": 10001}, headers=shop.staff.headers)
    assert bad.status_code == 422

    response = await set_sub_merchant(client, shop, **body)
    assert response.status_code == 200, response.text
    assert response.json()["sub_mchid"] == SUB_MCHID
    assert response.json()["collective_mchid"] is None


async def test_a_settled_part_shares_the_fee_and_the_collectives_share_once(
    client: AsyncTestClient[Any], db: Database, shop: Shop, wxpay: FakeWechatPay
) -> None:
    # Given a cooperative with its sub-merchant, 30% authorised, its collective a merchant too
    response = await set_sub_merchant(
        client, shop, sub_mchid=SUB_MCHID, max_ratio_bps=3000, collective_mchid=COLLECTIVE_MCHID
    )
    assert response.status_code == 200, response.text
    # And an order paid through the partner API, for that sub-merchant, with profit sharing
    order = await place_wechat_order(client, shop)
    response = await client.post(
        f"/api/v1/orders/{order['id']}/payments",
        json={"method": "wechat_pay"},
        headers={**shop.buyer.headers, "Idempotency-Key": new_key()},
    )
    assert response.status_code == 200, response.text
    [placed] = wxpay.calls("POST", "/v3/pay/partner/transactions/jsapi")
    assert placed.body["sub_mchid"] == SUB_MCHID
    assert placed.body["settle_info"] == {"profit_sharing": True}
    trade_no = placed.body["out_trade_no"]
    assert (await notify(client, wxpay.pay(trade_no))).status_code == 204

    # Nothing is shared before the part settles
    assert run_sharing(client) == 0
    assert wxpay.sharing == {}

    # When the part settles and the job runs (twice)
    await settle(client, shop, order)
    assert run_sharing(client) == 1
    assert run_sharing(client) == 0

    # Then one profit-sharing order went out: 3% fee 239 fen, 10% collective share 798 fen
    [(out_order_no, shared)] = wxpay.sharing.items()
    assert out_order_no == f"ps-{order['parts'][0]['id']}"
    assert shared["sub_mchid"] == SUB_MCHID
    assert [(r["account"], r["amount"]) for r in shared["receivers"]] == [(MCHID, 239), (COLLECTIVE_MCHID, 798)]
    assert wxpay.rejected == []


async def test_a_collective_without_a_merchant_number_keeps_its_share_payable(
    client: AsyncTestClient[Any], db: Database, shop: Shop, wxpay: FakeWechatPay
) -> None:
    await set_sub_merchant(client, shop, sub_mchid=SUB_MCHID, max_ratio_bps=3000)
    order = await place_wechat_order(client, shop)
    trade_no = await started_trade_no_partner(client, shop, wxpay, order["id"])
    await notify(client, wxpay.pay(trade_no))
    await settle(client, shop, order)

    assert run_sharing(client) == 1

    [shared] = wxpay.sharing.values()
    assert [(r["account"], r["amount"]) for r in shared["receivers"]] == [(MCHID, 239)]


async def started_trade_no_partner(
    client: AsyncTestClient[Any], shop: Shop, fake: FakeWechatPay, order_id: str
) -> str:
    response = await client.post(
        f"/api/v1/orders/{order_id}/payments",
        json={"method": "wechat_pay"},
        headers={**shop.buyer.headers, "Idempotency-Key": new_key()},
    )
    assert response.status_code == 200, response.text
    return str(fake.calls("POST", "/v3/pay/partner/transactions/jsapi")[-1].body["out_trade_no"])


__all__ = ["started_trade_no"]


def run_claw_back(client: AsyncTestClient[Any]) -> int:
    app = client.app

    async def run() -> int:
        return await profit_sharing_flow.claw_back_refunds(
            app.state.db, app.state.payment_providers, app.state.settings
        )

    return int(client.blocking_portal.call(run))


async def test_a_refund_after_settlement_claws_the_shares_back_once(
    client: AsyncTestClient[Any], db: Database, shop: Shop, wxpay: FakeWechatPay
) -> None:
    # Given a settled part whose shares were sent (239 fen fee, 798 fen collective share)
    await set_sub_merchant(client, shop, sub_mchid=SUB_MCHID, max_ratio_bps=3000, collective_mchid=COLLECTIVE_MCHID)
    order = await place_wechat_order(client, shop)
    trade_no = await started_trade_no_partner(client, shop, wxpay, order["id"])
    await notify(client, wxpay.pay(trade_no))
    await settle(client, shop, order)
    assert run_sharing(client) == 1
    assert run_claw_back(client) == 0  # nothing refunded yet

    # When its cooperative refunds half of it after settlement
    refunded = await client.post(
        f"/api/v1/orders/{order['id']}/refunds",
        json={"part_id": order["parts"][0]["id"], "amount_fen": 3990, "reason": "坏果"},
        headers={**shop.manager.headers, "Idempotency-Key": new_key()},
    )
    assert refunded.status_code == 201, refunded.text

    # Then each receiver gives back its share of the refund, by largest remainder, once
    assert run_claw_back(client) == 2
    assert run_claw_back(client) == 0
    assert sorted((r["return_mchid"], r["amount"]) for r in wxpay.returns.values()) == [
        (MCHID, 119),
        (COLLECTIVE_MCHID, 399),
    ]
    assert {r["out_order_no"] for r in wxpay.returns.values()} == {f"ps-{order['parts'][0]['id']}"}


async def test_a_claw_back_wechat_cannot_take_now_is_sent_again_later(
    client: AsyncTestClient[Any], db: Database, shop: Shop, wxpay: FakeWechatPay
) -> None:
    await set_sub_merchant(client, shop, sub_mchid=SUB_MCHID, max_ratio_bps=3000, collective_mchid=COLLECTIVE_MCHID)
    order = await place_wechat_order(client, shop)
    trade_no = await started_trade_no_partner(client, shop, wxpay, order["id"])
    await notify(client, wxpay.pay(trade_no))
    await settle(client, shop, order)
    run_sharing(client)
    refunded = await client.post(
        f"/api/v1/orders/{order['id']}/refunds",
        json={"part_id": order["parts"][0]["id"], "amount_fen": 7980, "reason": "坏果"},
        headers={**shop.manager.headers, "Idempotency-Key": new_key()},
    )
    assert refunded.status_code == 201, refunded.text

    wxpay.down = True
    assert run_claw_back(client) == 0
    wxpay.down = False
    assert run_claw_back(client) == 2

    assert sorted((r["return_mchid"], r["amount"]) for r in wxpay.returns.values()) == [
        (MCHID, 239),
        (COLLECTIVE_MCHID, 798),
    ]
