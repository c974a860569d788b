"""Refunds: the orders slice decides and counts them against the part, the payments slice pays them back."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core.principal import Principal
from coopmarket.orders import refunds as order_refunds
from coopmarket.orders.refunds import RefundDue
from coopmarket.orders.schemas import RefundIn, RefundOut
from coopmarket.payments import refunds as payment_refunds


async def request_refund(
    session: AsyncSession, principal: Principal, order_id: str, data: RefundIn
) -> RefundOut:
    """The buyer's request waits for a decision; the part's cooperative or staff refund at once.

    Joins the caller's unit of work (the idempotency executor commits it with the stored answer).
    """
    refund, due = await order_refunds.request_refund(session, principal, order_id, data)
    if due is not None:
        await pay_back(session, due)
    return refund


async def approve_refund(session: AsyncSession, principal: Principal, refund_id: str) -> RefundOut:
    """The part's cooperative manager or staff in scope approve a buyer's request: it is paid back now."""
    refund, due = await order_refunds.approve_refund(session, principal, refund_id)
    await pay_back(session, due)
    return refund


async def pay_back(session: AsyncSession, due: RefundDue) -> None:
    """Record the refund and post it (payments), then close the part if it is refunded in full (orders).

    A provider's refund is sent after commit (``payments.jobs``); an offline one is handed back by people.
    """
    await payment_refunds.refund_part(
        session,
        order_id=due.order_id,
        part_id=due.part_id,
        cooperative_id=due.cooperative_id,
        amount_fen=due.amount_fen,
        reason=due.reason,
        refund_id=due.refund_id,
        settled=due.settled,
    )
    if due.closes_part:
        await order_refunds.close_refunded_part(session, due)
