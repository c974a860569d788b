"""Refunds: the orders slice decides and counts them against the part, the payments slice pays them back.

Also what money operators do after the decision: record that an offline refund was handed back
(``hand_back``), take back a refund a provider could not pay (``refund_failed``), and list the
refunds waiting for a person (``list_refunds``).
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core.errors import PermissionDenied
from coopmarket.core.principal import Principal
from coopmarket.db import Database, Executor
from coopmarket.events.outbox import EventKind, record_event
from coopmarket.orders import payment as order_payment
from coopmarket.orders import queries as order_queries
from coopmarket.orders import refunds as order_refunds
from coopmarket.orders.refunds import RefundDue
from coopmarket.orders.schemas import RefundIn, RefundOut
from coopmarket.payments import jobs as payment_jobs
from coopmarket.payments import refund_records
from coopmarket.payments import refunds as payment_refunds
from coopmarket.payments.errors import RefundNotFound
from coopmarket.payments.registry import PaymentProviders
from coopmarket.payments.schemas import PaymentRefundList, PaymentRefundOut, RefundListState


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
    refund_id = await payment_refunds.refund_part(
        session,
        order_id=due.order_id,
        part_id=due.part_id,
        cooperative_id=due.cooperative_id,
        amount_fen=due.amount_fen,
        reason=due.reason,
        refund_id=due.refund_id,
        settled=due.settled,
        region_code=due.village_code,
        is_related_party=due.is_related_party,
    )
    if due.closes_part:
        await order_refunds.close_refunded_part(session, due)
    await record_event(
        session,
        EventKind.REFUND_APPROVED,
        "order",
        due.order_id,
        {
            "refund_id": refund_id,
            "order_id": due.order_id,
            "part_id": due.part_id,
            "cooperative_id": due.cooperative_id,
            "amount_fen": due.amount_fen,
            "part_closed": due.closes_part,
        },
    )


async def refund_failed(
    session: AsyncSession,
    refund_id: str,
    reason: str,
    provider_ref: str | None = None,
    *,
    actor: Principal | None = None,
) -> bool:
    """A provider could not pay refund ``refund_id`` back: the one way every provider reports it.

    The payments slice marks it failed and reverses its posting (``reverse_failed_refund``); the
    orders slice no longer counts it, so the part's amount can be refunded again. Once only: a
    second report changes nothing (False). Joins the caller's unit of work. The Stripe webhook,
    the refund sender and reconciliation call it; WeChat Pay's notifications should too.
    """
    failed = await payment_refunds.reverse_failed_refund(
        session, refund_id, reason, provider_ref=provider_ref, actor=actor
    )
    if failed is None:
        return False
    if failed.part_id is not None:
        await order_refunds.undo_failed_refund(
            session,
            order_id=failed.order_id,
            part_id=failed.part_id,
            refund_id=failed.refund_id,
            amount_fen=failed.amount_fen,
        )
    return True


async def send_pending_refunds(db: Database, providers: PaymentProviders) -> int:
    """The refund sender, with failures taken back through ``refund_failed`` (for jobs and tests)."""
    return await payment_jobs.send_pending_refunds(db, providers, on_failed=refund_failed)


async def hand_back(
    session: AsyncSession, principal: Principal, refund_id: str, reference: str
) -> PaymentRefundOut:
    """Record that an offline refund was paid back to the buyer (that part's manager or staff in scope).

    404 to whom cannot see it; 403 to its buyer and, for a related-party part, to its managers;
    409 when it is a provider's refund or not outstanding any more. Joins the caller's unit of work.
    """
    facts = await refund_records.refund_facts(session, refund_id)
    if facts is None:
        raise RefundNotFound("No such refund.")
    order = await order_payment.order_for_payment(session, None, facts.order_id)
    order_payment.require_may_hand_back(principal, order, facts.part_id)
    return await refund_records.mark_handed_back(session, principal, refund_id, reference)


async def list_refunds(
    executor: Executor,
    principal: Principal,
    *,
    state: RefundListState,
    limit: int,
    cursor: str | None,
) -> PaymentRefundList:
    """Refunds waiting for a person, in the caller's scope: managers their cooperatives', staff their region's.

    ``outstanding``: offline refunds not handed back yet; ``failed``: provider refunds that could
    not be paid. A buyer gets 403.
    """
    if not (principal.is_staff or principal.cooperative_ids):
        raise PermissionDenied("Cooperative managers and staff list refunds.", code="forbidden_role")
    scope = refund_records.RefundScope(
        part_ids=order_queries.parts_in_scope(principal),
        order_ids=order_queries.orders_in_scope(principal),
    )
    return await refund_records.list_refunds(executor, state=state, scope=scope, limit=limit, cursor=cursor)
