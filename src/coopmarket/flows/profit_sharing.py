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
from coopmarket.payments.profit_sharing import ProfitReturn, ProfitShareOrder, plan_shares, returns_for_refund
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


async def claw_back_refunds(db: Database, providers: PaymentProviders, settings: Settings, *, batch: int = 100) -> int:
    """For each refund of a part whose profit sharing was sent, refunded after the part settled,
    take back from each receiver its share of the refund (``returns_for_refund``, largest
    remainder), once per ``out_return_no``. Returns how many claw-backs WeChat Pay took.

    A refund before settlement needs none (the part settled, and shared, what was left) and is
    marked so; so is a refund too small to give any receiver a fen back.
    """
    provider = providers.get(WECHAT_PAY)
    if not settings.wechat_pay_partner_mode or not isinstance(provider, WechatPayProvider):
        return 0
    async with db.read() as conn:
        candidates = await sub_merchants.refunds_to_claw_back(conn, batch=batch)
        received = {c.part_id: await order_payment.part_received_at(conn, c.part_id) for c in candidates}
    taken = 0
    for refund in candidates:
        settled_at = received.get(refund.part_id)
        after_settlement = settled_at is not None and refund.refund_created_at >= settled_at
        backs = (
            returns_for_refund(
                refund.plan,
                refund_id=refund.refund_id,
                refund_fen=refund.amount_fen,
                subtotal_fen=refund.settled_fen,
                sub_mchid=refund.sub_mchid,
            )
            if after_settlement
            else []
        )
        async with db.unit_of_work() as session:
            # Every claw-back of the refund recorded first (``pending``), then sent below: one
            # that cannot be sent now is sent again by a later run, never forgotten.
            maybe: list[ProfitReturn | None] = list(backs) or [None]
            for back in maybe:
                await sub_merchants.record_return(
                    session,
                    out_return_no=back.out_return_no if back else f"rt-{refund.refund_id}-n",
                    refund_id=refund.refund_id,
                    part_id=refund.part_id,
                    account=back.account if back else "",
                    amount_fen=back.amount_fen if back else 0,
                    result="pending" if back else "NONE",
                )
    async with db.read() as conn:
        to_send = await sub_merchants.pending_returns(conn, batch=batch)
    for back in to_send:
        try:
            result = await provider.return_profit(back)
        except ProviderUnavailable:
            log.warning("claw-back %s not sent; retried later", back.out_return_no, exc_info=True)
            continue
        async with db.unit_of_work() as session:
            await sub_merchants.set_return_result(session, back.out_return_no, result)
        taken += 1
    return taken


def periodic_jobs(db: Database, settings: Settings, providers: PaymentProviders) -> list[PeriodicJob]:
    if not settings.wechat_pay_partner_mode or WECHAT_PAY not in providers:
        return []
    return [
        PeriodicJob(
            "share profits of settled parts",
            settings.expiry_sweep_interval_seconds * 10,
            lambda: share_settled_parts(db, providers, settings),
        ),
        PeriodicJob(
            "claw back profit shares of refunds after settlement",
            settings.expiry_sweep_interval_seconds * 10,
            lambda: claw_back_refunds(db, providers, settings),
        ),
    ]
