"""Partner mode and profit sharing: the receivers of a settled part (fen, largest remainder, within
the authorised ratio), sent once under out_order_no, and clawed back on a refund after settlement."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from coopmarket.core import clock
from coopmarket.payments.errors import ProviderUnavailable
from coopmarket.payments.profit_sharing import (
    COLLECTIVE,
    PLATFORM,
    ProfitShareOrder,
    plan_shares,
    returns_for_refund,
)
from coopmarket.payments.providers import StartRequest
from coopmarket.payments.wechat_provider import WechatPayConfig, WechatPayProvider
from tests.wxpay_fake import (
    API_V3_KEY,
    APPID,
    MCHID,
    MERCHANT_SERIAL,
    NOTIFY_URL,
    PUBLIC_KEY_ID,
    FakeWechatPay,
    Keys,
)

SUB_MCHID = "1900000201"
COLLECTIVE_MCHID = "1900000377"


def _public(key: rsa.RSAPrivateKey) -> rsa.RSAPublicKey:
    loaded = serialization.load_pem_public_key(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert isinstance(loaded, rsa.RSAPublicKey)
    return loaded


@pytest.fixture
async def partner(wxpay: FakeWechatPay, wx_keys: Keys) -> AsyncIterator[WechatPayProvider]:
    """The adapter in partner mode, in front of the fake."""
    config = WechatPayConfig(
        mchid=MCHID,
        appid=APPID,
        api_v3_key=API_V3_KEY.encode(),
        private_key=wx_keys.merchant,
        merchant_serial=MERCHANT_SERIAL,
        public_key=_public(wx_keys.wechat),
        public_key_id=PUBLIC_KEY_ID,
        api_base="https://api.mch.weixin.qq.com",
        notify_url=NOTIFY_URL,
        partner_mode=True,
        sub_mchid=SUB_MCHID,
    )
    async with httpx.AsyncClient(base_url=config.api_base, transport=httpx.MockTransport(wxpay.handle)) as client:
        yield WechatPayProvider(config, client)


async def paid_partner_order(partner: WechatPayProvider, wxpay: FakeWechatPay, amount: int = 7980) -> str:
    started = await partner.start(
        StartRequest(
            order_id="01jorder0000000000000000000",
            amount_fen=amount,
            pay_before=clock.now() + timedelta(minutes=30),
            payer_openid="o-buyer",
        )
    )
    assert started.provider_ref is not None
    [call] = wxpay.calls("POST", "/v3/pay/partner/transactions/jsapi")
    assert call.body["settle_info"] == {"profit_sharing": True}
    assert (call.body["sp_mchid"], call.body["sub_mchid"], call.body["payer"]) == (
        MCHID,
        SUB_MCHID,
        {"sp_openid": "o-buyer"},
    )
    wxpay.pay(started.provider_ref)
    return started.provider_ref


def test_the_plan_sends_the_ledgers_fee_and_collective_share_in_fen() -> None:
    # 7980 fen at a 3% fee and a 5% collective share: 239.4 / 399 / 7341.6 → 239 / 399 / 7342
    plan = plan_shares(
        part_id="p1", subtotal_fen=7980, fee_bps=300, collective_bps=500, max_ratio_bps=3000,
        platform_mchid=MCHID, collective_mchid=COLLECTIVE_MCHID,
    )
    assert plan.out_order_no == "ps-p1"
    assert [(r.kind, r.account, r.amount_fen) for r in plan.receivers] == [
        (PLATFORM, MCHID, 239),
        (COLLECTIVE, COLLECTIVE_MCHID, 399),
    ]
    assert plan.kept_payable_fen == 0


def test_the_plan_stays_within_the_authorised_ratio_by_largest_remainder() -> None:
    # Only 5% authorised: 399 fen split 239:399 → 149.25 / 249.75 → 149 / 250; 239 stay payable
    plan = plan_shares(
        part_id="p1", subtotal_fen=7980, fee_bps=300, collective_bps=500, max_ratio_bps=500,
        platform_mchid=MCHID, collective_mchid=COLLECTIVE_MCHID,
    )
    assert [r.amount_fen for r in plan.receivers] == [149, 250]
    assert plan.kept_payable_fen == 239


def test_a_collective_without_a_merchant_number_keeps_its_share_on_the_ledger() -> None:
    plan = plan_shares(
        part_id="p1", subtotal_fen=7980, fee_bps=300, collective_bps=500, max_ratio_bps=3000,
        platform_mchid=MCHID, collective_mchid=None,
    )
    assert [(r.kind, r.amount_fen) for r in plan.receivers] == [(PLATFORM, 239)]
    assert plan.kept_payable_fen == 399


async def test_profit_sharing_sends_the_receivers_once_and_returns_them_on_a_refund(
    partner: WechatPayProvider, wxpay: FakeWechatPay
) -> None:
    # Given a partner-mode payment, placed for profit sharing and paid
    trade_no = await paid_partner_order(partner, wxpay)
    plan = plan_shares(
        part_id="p1", subtotal_fen=7980, fee_bps=300, collective_bps=500, max_ratio_bps=3000,
        platform_mchid=MCHID, collective_mchid=COLLECTIVE_MCHID,
    )
    order = ProfitShareOrder(sub_mchid=SUB_MCHID, payment_ref=trade_no, plan=plan)

    # When the part settles and profit sharing is sent (twice: a retry after a lost answer)
    first = await partner.share_profit(order)
    second = await partner.share_profit(order)

    # Then WeChat shared once, to the platform and the collective, in fen
    assert first == second
    assert list(wxpay.sharing) == ["ps-p1"]
    shared: dict[str, Any] = wxpay.sharing["ps-p1"]
    assert shared["transaction_id"] == wxpay.orders[trade_no]["transaction_id"]
    assert [(r["type"], r["account"], r["amount"]) for r in shared["receivers"]] == [
        ("MERCHANT_ID", MCHID, 239),
        ("MERCHANT_ID", COLLECTIVE_MCHID, 399),
    ]
    assert wxpay.rejected == []

    # When half the part is refunded after settlement
    backs = returns_for_refund(plan, refund_id="r1", refund_fen=3990, subtotal_fen=7980, sub_mchid=SUB_MCHID)
    for back in backs:
        assert await partner.return_profit(back) == "SUCCESS"
        assert await partner.return_profit(back) == "SUCCESS"  # sent again: returned once

    # Then each receiver gave back its share of the refund (largest remainder), once
    assert sorted((r["return_mchid"], r["amount"]) for r in wxpay.returns.values()) == sorted(
        [(MCHID, 119), (COLLECTIVE_MCHID, 200)]
    )
    assert len(wxpay.returns) == 2


async def test_sharing_above_the_ratio_wechat_allows_is_refused(
    partner: WechatPayProvider, wxpay: FakeWechatPay
) -> None:
    trade_no = await paid_partner_order(partner, wxpay)
    wxpay.max_ratio_bps[SUB_MCHID] = 500
    too_much = plan_shares(
        part_id="p2", subtotal_fen=7980, fee_bps=300, collective_bps=500, max_ratio_bps=3000,
        platform_mchid=MCHID, collective_mchid=COLLECTIVE_MCHID,
    )
    within = plan_shares(
        part_id="p2", subtotal_fen=7980, fee_bps=300, collective_bps=500, max_ratio_bps=500,
        platform_mchid=MCHID, collective_mchid=COLLECTIVE_MCHID,
    )

    with pytest.raises(ProviderUnavailable):
        await partner.share_profit(ProfitShareOrder(SUB_MCHID, trade_no, too_much))
    await partner.share_profit(ProfitShareOrder(SUB_MCHID, trade_no, within))
    assert [r["amount"] for r in wxpay.sharing["ps-p2"]["receivers"]] == [149, 250]
