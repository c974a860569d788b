"""Fixtures of the WeChat Pay tests: a fake WeChat Pay behind the app's adapter (httpx MockTransport)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from coopmarket.app import Overrides
from coopmarket.db import Database
from tests.payments.builders import Shop, build_shop
from tests.payments.wechat.support import give_openid
from tests.wxpay_fake import FakeWechatPay, Keys, new_key


@pytest.fixture(scope="session")
def wx_keys() -> Keys:
    return Keys(merchant=new_key(), wechat=new_key())


@pytest.fixture
def wxpay(wx_keys: Keys) -> FakeWechatPay:
    return FakeWechatPay(wx_keys)


@pytest.fixture
def settings_overrides(wx_keys: Keys) -> dict[str, Any]:
    return {"payment_providers": ["offline", "wechat_pay"], **wx_keys.settings()}


@pytest.fixture
def overrides(wxpay: FakeWechatPay) -> Overrides:
    return Overrides(wechat_pay_transport=httpx.MockTransport(wxpay.handle))


@pytest.fixture
async def shop(client: AsyncTestClient[Any], db: Database) -> Shop:
    shop = await build_shop(client, db)
    await give_openid(db, shop.buyer.id)
    return shop


