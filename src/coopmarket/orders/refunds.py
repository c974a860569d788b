"""Refunds of paid order parts: the buyer requests, the cooperative or staff approve; refunds
the cooperative or staff make themselves are approved at once.

Executed refunds move money through ``payments.refund_part`` (which posts to the ledger); the
conditional UPDATEs here keep every part's refunds within what was paid, whatever runs at once.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, insert, select, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core import clock
from coopmarket.core.errors import Conflict, NotFound, PermissionDenied, RuleViolated
from coopmarket.core.principal import Principal
from coopmarket.ledger import posting
from coopmarket.orders.models import Order, OrderLine, OrderPart, RefundRequest
from coopmarket.orders.schemas import RefundIn, RefundList, RefundOut
from coopmarket.orders.service import (
    CANCELLED,
    COMPLETED,
    OPEN_PART_STATUSES,
    PAID,
    RECEIVED,
    REFUND_APPROVED,
    REFUND_REJECTED,
    REFUND_REQUESTED,
    REFUNDABLE_PART_STATUSES,
    REFUNDED,
    load_orders,
    lock_order,
    visible_order,
    visible_parts,
)
from coopmarket.products import service as products_service


def _refund_out(refund: RefundRequest) -> RefundOut:
    return RefundOut(
        id=refund.id,
        order_id=refund.order_id,
        part_id=refund.part_id,
        amount_fen=refund.amount_fen,
        reason=refund.reason,
        status=refund.status,  # type: ignore[arg-type]
        requested_by=refund.requested_by,
        created_at=refund.created_at,
        decided_by=refund.decided_by,
        decided_at=refund.decided_at,
        decision_reason=refund.decision_reason,
    )


def _decides_refunds(principal: Principal, part: OrderPart) -> bool:
    """The part's cooperative manager or staff covering its village decide its refunds."""
    return principal.manages(part.cooperative_id) or principal.covers_region(part.village_code)


async def _requested_fen(session: AsyncSession, part_id: str) -> int:
    """The amount of the part's refund requests still awaiting a decision."""
    total = (
        await session.execute(
            select(func.coalesce(func.sum(col(RefundRequest.amount_fen)), 0)).where(
                col(RefundRequest.part_id) == part_id, col(RefundRequest.status) == REFUND_REQUESTED
            )
        )
    ).scalar_one()
    return int(total)


async def request_refund(
    session: AsyncSession, principal: Principal, order_id: str, data: RefundIn
) -> RefundOut:
    """Refund part of a paid part: the buyer's request waits for a decision; a decider's is paid at once.

    The buyer gets a ``requested`` refund (nothing moves yet); the part's cooperative manager or
    staff covering its village get an ``approved`` one, executed now. Joins the caller's
    transaction and does not commit: the idempotency executor commits it with the stored answer.
    """
    await lock_order(session, order_id)  # "how much is still refundable" holds until commit
    order, parts, visible, _lines = await visible_order(session, principal, order_id)
    is_buyer = order.buyer_id == principal.id
    part = next((p for p in (parts if is_buyer else visible) if p.id == data.part_id), None)
    if part is None:
        raise NotFound("No such order part.", code="order_part_not_found")
    decides = not is_buyer and _decides_refunds(principal, part)
    if not (is_buyer or decides):
        raise PermissionDenied("Your role may not refund this part.", code="forbidden_role")
    if part.status not in REFUNDABLE_PART_STATUSES:
        raise Conflict(f"A part that is {part.status} cannot be refunded.", code="invalid_transition")
    refundable = part.subtotal_fen - part.refunded_fen - await _requested_fen(session, part.id)
    if data.amount_fen > refundable:
        raise RuleViolated(
            f"At most {max(refundable, 0)} fen of this part can still be refunded.",
            code="refund_exceeds_paid",
            extra={"refundable_fen": max(refundable, 0)},
        )
    now = clock.now()
    refund = RefundRequest(
        order_id=order.id,
        part_id=part.id,
        amount_fen=data.amount_fen,
        reason=data.reason,
        status=REFUND_APPROVED if decides else REFUND_REQUESTED,
        requested_by=principal.id,
        decided_by=principal.id if decides else None,
        decided_at=now if decides else None,
        created_at=now,
    )
    await session.execute(insert(RefundRequest), [refund.model_dump()])
    if decides:
        await _execute_refund(session, order.id, part, refund)
    return _refund_out(refund)


async def _execute_refund(
    session: AsyncSession, order_id: str, part: OrderPart, refund: RefundRequest
) -> None:
    """Pay an approved refund back: part and order totals, stock, ledger, ``PaymentRefund``. Joins the caller's transaction.

    The conditional UPDATEs keep every part's (and so the order's) refunds within what was paid,
    whatever runs concurrently; the part's status after the update says whether the money is
    still in escrow or was split at settlement.
    """
    from coopmarket.payments import service as payments_service

    now = clock.now()
    amount = refund.amount_fen
    updated = (
        await session.execute(
            update(OrderPart)
            .where(
                col(OrderPart.id) == part.id,
                col(OrderPart.status).in_(REFUNDABLE_PART_STATUSES),
                col(OrderPart.refunded_fen) + amount <= col(OrderPart.subtotal_fen),
            )
            .values(refunded_fen=col(OrderPart.refunded_fen) + amount)
            .returning(col(OrderPart.status), col(OrderPart.refunded_fen), col(OrderPart.settled_fen))
        )
    ).first()
    if updated is None:
        raise Conflict("This refund exceeds what is left of the part.", code="refund_exceeds_paid")
    status, part_refunded, settled_fen = str(updated[0]), int(updated[1]), int(updated[2])
    result = await session.execute(
        update(Order)
        .where(col(Order.id) == order_id, col(Order.refunded_fen) + amount <= col(Order.paid_fen))
        .values(refunded_fen=col(Order.refunded_fen) + amount, updated_at=now)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("This refund exceeds what was paid for the order.", code="refund_exceeds_paid")
    terms: posting.SplitTerms | None = None
    if status == RECEIVED:
        # The part was split at settlement: take this refund back from what each share still holds.
        reversed_so_far = (
            await session.execute(
                select(
                    func.coalesce(func.sum(col(RefundRequest.reversed_fee_fen)), 0),
                    func.coalesce(func.sum(col(RefundRequest.reversed_collective_fen)), 0),
                    func.coalesce(func.sum(col(RefundRequest.reversed_coop_fen)), 0),
                ).where(col(RefundRequest.part_id) == part.id, col(RefundRequest.id) != refund.id)
            )
        ).one()
        terms = posting.SplitTerms(
            part.village_code,
            part.platform_fee_bps,
            part.collective_sales_share_bps,
            settled_fen=settled_fen,
            reversed=(int(reversed_so_far[0]), int(reversed_so_far[1]), int(reversed_so_far[2])),
        )
        fee, collective, rest = posting.refund_reversal(amount, terms)
        await session.execute(
            update(RefundRequest)
            .where(col(RefundRequest.id) == refund.id)
            .values(reversed_fee_fen=fee, reversed_collective_fen=collective, reversed_coop_fen=rest)
        )
    await payments_service.refund_part(
        session,
        order_id=order_id,
        part_id=part.id,
        cooperative_id=part.cooperative_id,
        amount_fen=amount,
        reason=refund.reason,
        refund_id=refund.id,
        settled=terms,
    )
    if status == PAID and part_refunded == part.subtotal_fen:
        await _close_refunded_part(session, order_id, part.id, refund.reason, refund.decided_by)


async def _close_refunded_part(session: AsyncSession, order_id: str, part_id: str, reason: str, actor_id: str | None = None) -> None:
    """A paid part refunded in full before shipping: it is ``refunded``, its stock goes back, and
    the order closes when nothing is left open."""
    now = clock.now()
    result = await session.execute(
        update(OrderPart)
        .where(col(OrderPart.id) == part_id, col(OrderPart.status) == PAID)
        .values(status=REFUNDED)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("The order changed meanwhile; try again.", code="concurrent_update")
    released: dict[str, int] = defaultdict(int)
    for sku_id, quantity in (
        await session.execute(
            select(col(OrderLine.sku_id), col(OrderLine.quantity)).where(col(OrderLine.part_id) == part_id)
        )
    ).all():
        released[sku_id] += quantity
    await products_service.release_stock(session, dict(released), order_id=order_id, actor_id=actor_id, reason=f"refunded: {reason}")
    statuses = (
        (await session.execute(select(col(OrderPart.status)).where(col(OrderPart.order_id) == order_id)))
        .scalars()
        .all()
    )
    if any(s in OPEN_PART_STATUSES for s in statuses):
        return
    values: dict[str, object] = {"updated_at": now}
    if RECEIVED in statuses:
        values.update(status=COMPLETED)
    else:
        values.update(status=CANCELLED, cancelled_at=now, cancel_reason=f"refunded: {reason}"[:500])
    await session.execute(
        update(Order).where(col(Order.id) == order_id, col(Order.status) == PAID).values(**values)
    )


async def _refund_to_decide(
    session: AsyncSession, principal: Principal, refund_id: str
) -> tuple[RefundRequest, OrderPart]:
    """The refund and its part, for its deciders; 404 to whom cannot see it, 403 to its buyer."""
    refund = (
        await session.execute(select(RefundRequest).where(col(RefundRequest.id) == refund_id))
    ).scalar_one_or_none()
    if refund is None:
        raise NotFound("No such refund.", code="refund_not_found")
    await lock_order(session, refund.order_id)
    orders, parts, _lines = await load_orders(session, [refund.order_id])
    order = orders[refund.order_id]
    visible = visible_parts(principal, order, parts[order.id]) or []
    part = next((p for p in visible if p.id == refund.part_id), None)
    if part is None:
        raise NotFound("No such refund.", code="refund_not_found")
    if not _decides_refunds(principal, part):
        raise PermissionDenied("Only the cooperative or staff decide refunds.", code="forbidden_role")
    return refund, part


async def _decide(
    session: AsyncSession, principal: Principal, refund: RefundRequest, status: str, reason: str | None
) -> RefundRequest:
    """Move a requested refund to ``status`` exactly once (conditional UPDATE); 409 when decided already."""
    result = await session.execute(
        update(RefundRequest)
        .where(col(RefundRequest.id) == refund.id, col(RefundRequest.status) == REFUND_REQUESTED)
        .values(status=status, decided_by=principal.id, decided_at=clock.now(), decision_reason=reason)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("This refund was decided already.", code="invalid_transition")
    return (
        await session.execute(
            select(RefundRequest)
            .where(col(RefundRequest.id) == refund.id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one()


async def approve_refund(session: AsyncSession, principal: Principal, refund_id: str) -> RefundOut:
    """The part's cooperative manager or staff in scope approve a buyer's refund request: it is paid now."""
    refund, part = await _refund_to_decide(session, principal, refund_id)
    if refund.requested_by == principal.id:
        raise PermissionDenied("You may not approve your own refund request.", code="forbidden_role")
    decided = await _decide(session, principal, refund, REFUND_APPROVED, None)
    await _execute_refund(session, decided.order_id, part, decided)
    await session.commit()
    return _refund_out(decided)


async def reject_refund(
    session: AsyncSession, principal: Principal, refund_id: str, reason: str
) -> RefundOut:
    """The part's cooperative manager or staff in scope reject a buyer's refund request; nothing moves."""
    refund, _part = await _refund_to_decide(session, principal, refund_id)
    decided = await _decide(session, principal, refund, REFUND_REJECTED, reason)
    await session.commit()
    return _refund_out(decided)


async def list_refunds(session: AsyncSession, principal: Principal, order_id: str) -> RefundList:
    """The refunds of an order's parts the caller may see, oldest first."""
    _order, _parts, visible, _lines = await visible_order(session, principal, order_id)
    rows = (
        (
            await session.execute(
                select(RefundRequest)
                .where(
                    col(RefundRequest.order_id) == order_id,
                    col(RefundRequest.part_id).in_([p.id for p in visible]),
                )
                .order_by(col(RefundRequest.id))
                .execution_options(populate_existing=True)
            )
        )
        .scalars()
        .all()
    )
    return RefundList(items=[_refund_out(r) for r in rows])
