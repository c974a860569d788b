"""Helpers of the WeChat Pay tests: an order paid with WeChat Pay, notifications delivered."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import update

from coopmarket.accounts.models import User
from coopmarket.db import Database
from tests.payments.builders import ADDRESS, Shop, new_key
from tests.wxpay_fake import FakeWechatPay

NOTIFY = "/api/v1/payments/wechat/notify"


async def give_openid(db: Database, user_id: str, openid: str | None = None) -> str:
    """The user signed in through the mini-program once: they have an openid."""
    value = openid or f"o-{user_id}"
    async with db.unit_of_work() as session:
        await session.execute(update(User).where(User.id == user_id).values(wechat_openid=value))  # type: ignore[arg-type]
    return value


async def place_wechat_order(client: AsyncTestClient[Any], shop: Shop, quantity: int = 2) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/orders",
        json={
            "lines": [{"sku_id": shop.sku["id"], "quantity": quantity}],
            "shipping_address": ADDRESS,
            "payment_method": "wechat_pay",
        },
        headers={**shop.buyer.headers, "Idempotency-Key": new_key()},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def start_wechat(client: AsyncTestClient[Any], headers: dict[str, str], order_id: str) -> Any:
    return await client.post(
        f"/api/v1/orders/{order_id}/payments",
        json={"method": "wechat_pay"},
        headers={**headers, "Idempotency-Key": new_key()},
    )


async def started_trade_no(client: AsyncTestClient[Any], shop: Shop, fake: FakeWechatPay, order_id: str) -> str:
    """Start paying ``order_id`` as its buyer; the WeChat order's ``out_trade_no``."""
    response = await start_wechat(client, shop.buyer.headers, order_id)
    assert response.status_code == 200, response.text
    return str(fake.calls("POST", "/v3/pay/transactions/jsapi")[-1].body["out_trade_no"])


async def notify(client: AsyncTestClient[Any], delivery: tuple[dict[str, str], bytes]) -> Any:
    headers, body = delivery
    return await client.post(NOTIFY, content=body, headers=headers)


def on_app(client: AsyncTestClient[Any], fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn(db, providers, *args, **kwargs)`` once on the app's own loop (where its clients live)."""
    app = client.app

    async def run() -> Any:
        return await fn(app.state.db, app.state.payment_providers, *args, **kwargs)

    return client.blocking_portal.call(run)


async def paid_order(client: AsyncTestClient[Any], shop: Shop, fake: FakeWechatPay) -> tuple[dict[str, Any], str]:
    """An order paid with WeChat Pay, applied through the notification: (order, out_trade_no)."""
    order = await place_wechat_order(client, shop)
    trade_no = await started_trade_no(client, shop, fake, order["id"])
    response = await notify(client, fake.pay(trade_no))
    assert response.status_code == 204, response.text
    return order, trade_no


async def cancel(client: AsyncTestClient[Any], shop: Shop, order_id: str) -> None:
    response = await client.post(
        f"/api/v1/orders/{order_id}/cancel", json={"reason": "买错了"}, headers=shop.buyer.headers
    )
    assert response.status_code == 200, response.text
