"""Profit sharing in WeChat Pay partner mode: when a part settles, send the platform fee and the
village collective's share out of the cooperative's (sub-merchant's) payment.

A job, between units of work: read the recently paid WeChat payments and their settled parts
without a sharing record (read connection); plan each part's receivers
(``payments.profit_sharing.plan_shares``: the ledger's split, within the ratio the cooperative
authorised, a collective without a merchant number left payable on the ledger); record the plan
(``pending``, once per part) in a unit of work; call WeChat Pay with no transaction open, under
the part's ``out_order_no`` (sent again after a crash, it shares once); record the answer.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from coopmarket.coops import service as coops_service
from coopmarket.core import clock
from coopmarket.core.jobs import PeriodicJob
from coopmarket.db import Database
from coopmarket.orders import payment as order_payment
from coopmarket.payments import service as payments_service
from coopmarket.payments import sub_merchants
from coopmarket.payments.errors import ProviderUnavailable
from coopmarket.payments.profit_sharing import ProfitShareOrder, plan_shares
from coopmarket.payments.providers import WECHAT_PAY
from coopmarket.payments.registry import PaymentProviders
from coopmarket.payments.wechat_provider import WechatPayProvider
from coopmarket.settings import Settings

log = logging.getLogger(__name__)


async def share_settled_parts(
    db: Database, providers: PaymentProviders, settings: Settings, *, batch: int = 100
) -> int:
    """Send the profit sharing of each settled part not shared yet; returns how many were sent."""
    provider = providers.get(WECHAT_PAY)
    if not settings.wechat_pay_partner_mode or not isinstance(provider, WechatPayProvider):
        return 0
    # A part settles at most auto_receive_after_days after shipping: look back comfortably further.
    since = clock.now() - timedelta(days=settings.auto_receive_after_days + 30)
    todo = []
    async with db.read() as conn:
        for payment in await payments_service.succeeded_payments_since(conn, WECHAT_PAY, since, batch=batch):
            if payment.provider_ref is None:
                continue
            parts = await order_payment.settled_parts(conn, payment.order_id)
            done = await sub_merchants.shared_part_ids(conn, [p.part_id for p in parts])
            for part in parts:
                if part.part_id in done:
                    continue
                sub = await sub_merchants.sub_merchant_of(conn, part.cooperative_id)
                brief = await coops_service.get_cooperative_brief(conn, part.cooperative_id)
                if sub is None or brief is None:
                    continue
                plan = plan_shares(
                    part_id=part.part_id,
                    subtotal_fen=part.settled_fen,
                    fee_bps=settings.platform_fee_bps,
                    collective_bps=brief.collective_sales_share_bps,
                    max_ratio_bps=sub.max_ratio_bps,
                    platform_mchid=provider.config.mchid,
                    collective_mchid=sub.collective_mchid,
                )
                todo.append((payment, part, sub, plan))
    sent = 0
    for payment, part, sub, plan in todo:
        async with db.unit_of_work() as session:
            await sub_merchants.record_sharing(
                session,
                part_id=part.part_id,
                payment_id=payment.id,
                sub_mchid=sub.sub_mchid,
                settled_fen=part.settled_fen,
                plan=plan,
            )
        if not plan.receivers:
            async with db.unit_of_work() as session:
                await sub_merchants.store_sharing_sent(session, part.part_id, "")
            continue
        assert payment.provider_ref is not None
        try:
            answer = await provider.share_profit(ProfitShareOrder(sub.sub_mchid, payment.provider_ref, plan))
        except ProviderUnavailable:
            log.warning("profit sharing of part %s not sent; retried later", part.part_id, exc_info=True)
            continue
        async with db.unit_of_work() as session:
            await sub_merchants.store_sharing_sent(session, part.part_id, answer.order_id)
        sent += 1
    return sent


def periodic_jobs(db: Database, settings: Settings, providers: PaymentProviders) -> list[PeriodicJob]:
    if not settings.wechat_pay_partner_mode or WECHAT_PAY not in providers:
        return []
    return [
        PeriodicJob(
            "share profits of settled parts",
            settings.expiry_sweep_interval_seconds * 10,
            lambda: share_settled_parts(db, providers, settings),
        )
    ]
