"""Profit sharing (分账) in WeChat Pay partner mode: what a settled part sends, and to whom.

Each cooperative is a sub-merchant; the buyer's money settles to it, frozen for sharing. When a
part settles, the platform fee and the village collective's share (the same largest-remainder
split the ledger posts, ``ledger.posting.settlement_split``) are sent out of it as receivers, in
one profit-sharing order whose ``out_order_no`` is derived from the part (sending it again
shares once). Together they stay within the ratio the cooperative authorised (WeChat's
``merchant-configs`` ``max_ratio``): what does not fit is split down by largest remainder and the
rest stays on the ledger, payable. A village collective without a WeChat Pay merchant number
receives nothing here: its share stays on the ledger as payable to it.

Values and pure computation only; ``wechat_provider`` sends them.
"""

from __future__ import annotations

from dataclasses import dataclass

from coopmarket.core.money import BPS_DENOMINATOR, allocate
from coopmarket.ledger.posting import settlement_split

PLATFORM = "platform"
COLLECTIVE = "collective"


@dataclass(frozen=True)
class ShareReceiver:
    """One receiver of a profit-sharing order: ``kind`` is ``platform`` or ``collective``."""

    kind: str
    account: str  # a merchant number (``MERCHANT_ID`` receiver)
    amount_fen: int
    description: str


@dataclass(frozen=True)
class SharePlan:
    """What to send for one settled part, and what stays on the ledger as payable."""

    out_order_no: str
    receivers: tuple[ShareReceiver, ...]
    platform_fen: int  # the ledger's platform fee of the part
    collective_fen: int  # the ledger's collective share of the part
    kept_payable_fen: int  # of those two, what is not sent (no merchant number, or over the ratio)


@dataclass(frozen=True)
class ProfitShareOrder:
    """Send ``plan``'s receivers out of the sub-merchant's payment ``payment_ref`` (our out_trade_no)."""

    sub_mchid: str
    payment_ref: str
    plan: SharePlan


@dataclass(frozen=True)
class ProfitShareSent:
    """WeChat's answer: its order id and state (``PROCESSING`` or ``FINISHED``)."""

    order_id: str
    state: str


@dataclass(frozen=True)
class ProfitReturn:
    """Claw back ``amount_fen`` from one receiver of a sent profit-sharing order (a refund after settlement)."""

    sub_mchid: str
    out_order_no: str
    out_return_no: str
    account: str
    amount_fen: int
    description: str


def out_order_no(part_id: str) -> str:
    """The one profit-sharing order number of a part (64 characters at most)."""
    return f"ps-{part_id}"


def out_return_no(refund_id: str, kind: str) -> str:
    """The one return number of a refund's claw-back from one receiver."""
    return f"rt-{refund_id}-{kind[:1]}"


def plan_shares(
    *,
    part_id: str,
    subtotal_fen: int,
    fee_bps: int,
    collective_bps: int,
    max_ratio_bps: int,
    platform_mchid: str,
    collective_mchid: str | None,
) -> SharePlan:
    """The receivers of a settled part of ``subtotal_fen``, within ``max_ratio_bps`` of it."""
    if not 0 <= max_ratio_bps <= BPS_DENOMINATOR:
        raise ValueError("max_ratio_bps must be within 0..10000")
    fee, collective, _rest = settlement_split(subtotal_fen, fee_bps, collective_bps)
    wanted = [fee, collective if collective_mchid else 0]
    cap = subtotal_fen * max_ratio_bps // BPS_DENOMINATOR
    sent = wanted if sum(wanted) <= cap else allocate(cap, wanted)
    receivers = []
    if sent[0] > 0:
        receivers.append(ShareReceiver(PLATFORM, platform_mchid, sent[0], "平台服务费"))
    if sent[1] > 0 and collective_mchid:
        receivers.append(ShareReceiver(COLLECTIVE, collective_mchid, sent[1], "村集体分成"))
    return SharePlan(
        out_order_no=out_order_no(part_id),
        receivers=tuple(receivers),
        platform_fen=fee,
        collective_fen=collective,
        kept_payable_fen=fee + collective - sum(sent),
    )


def returns_for_refund(
    plan: SharePlan, *, refund_id: str, refund_fen: int, subtotal_fen: int, sub_mchid: str
) -> list[ProfitReturn]:
    """What to claw back from each receiver when ``refund_fen`` of a settled part is refunded:
    each receiver's share of the refund, by largest remainder."""
    if not plan.receivers or refund_fen <= 0 or subtotal_fen <= 0:
        return []
    sent = [r.amount_fen for r in plan.receivers]
    # The refund split like the part was: each receiver's share of it, the cooperative the rest.
    backs = allocate(min(refund_fen, subtotal_fen), [*sent, max(subtotal_fen - sum(sent), 0)])[:-1]
    return [
        ProfitReturn(
            sub_mchid=sub_mchid,
            out_order_no=plan.out_order_no,
            out_return_no=out_return_no(refund_id, r.kind),
            account=r.account,
            amount_fen=min(back, r.amount_fen),
            description="退款回退",
        )
        for r, back in zip(plan.receivers, backs, strict=True)
        if back > 0
    ]
