"""Cancellation, the order's side: which parts a caller may cancel, their moves, the stock they
give back, and the money to pay back for the paid ones (``RefundDue``, paid by ``flows``)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core import clock
from coopmarket.core.principal import Principal
from coopmarket.db import rowcount
from coopmarket.orders import refunds, states, stock
from coopmarket.orders.errors import ConcurrentUpdate, InvalidTransition, OrderAlreadyShipped
from coopmarket.orders.models import Order, OrderPart
from coopmarket.orders.queries import lock_order, visible_order
from coopmarket.orders.refunds import RefundDue
from coopmarket.orders.states import SHIPPED_PART_STATUSES, OrderStatus, PartEvent, PartStatus


async def cancel(
    session: AsyncSession, principal: Principal, order_id: str, reason: str | None
) -> list[RefundDue]:
    """Cancel what has not shipped: parts move, stock goes back, the order closes if nothing is open.

    The buyer and staff in scope cancel the whole order (refused once any part has shipped); a
    cooperative manager cancels their own parts only. Returns the money to pay back for the parts
    that were paid. Joins the caller's transaction.
    """
    await lock_order(session, order_id)
    order, parts, visible, _lines = await visible_order(session, principal, order_id)
    is_buyer = order.buyer_id == principal.id
    cancellable = states.sources(PartEvent.CANCEL)
    if is_buyer and any(p.status in SHIPPED_PART_STATUSES for p in parts):
        raise OrderAlreadyShipped("Part of this order has shipped; ask the cooperative instead.")
    # The buyer cancels every part; staff and managers the parts they see.
    targets = [p for p in (parts if is_buyer else visible) if p.status in cancellable]
    if not targets:
        raise InvalidTransition(f"Nothing left to cancel in an order that is {order.status}.")
    return await _cancel_parts(
        session,
        order,
        targets,
        reason or ("cancelled by buyer" if is_buyer else "cancelled"),
        actor_id=principal.id,
    )


async def _cancel_parts(
    session: AsyncSession, order: Order, targets: list[OrderPart], reason: str, *, actor_id: str
) -> list[RefundDue]:
    now = clock.now()
    due: list[RefundDue] = []
    closed: list[PartStatus] = []
    # Read before the UPDATEs below (the session synchronises the parts with them).
    unpaid = sum(p.subtotal_fen for p in targets if p.status == PartStatus.PENDING_PAYMENT)
    for part in targets:
        new_status = states.part_move(part.status, PartEvent.CANCEL)
        if new_status is None:
            raise InvalidTransition(f"A part that is {part.status} cannot be cancelled.")
        closed.append(new_status)
        # Read before the UPDATE; partial refunds were paid back already.
        remaining = part.subtotal_fen - part.refunded_fen
        result = await session.execute(
            update(OrderPart)
            .where(
                col(OrderPart.id) == part.id,
                col(OrderPart.status) == part.status,
                col(OrderPart.refunded_fen) == part.refunded_fen,
            )
            .values(
                status=new_status,
                refunded_fen=part.subtotal_fen if new_status == PartStatus.REFUNDED else 0,
            )
        )
        if rowcount(result) != 1:
            raise ConcurrentUpdate("The order changed meanwhile; try again.")
        if new_status == PartStatus.REFUNDED and remaining > 0:
            due.append(
                RefundDue(
                    order_id=order.id,
                    part_id=part.id,
                    cooperative_id=part.cooperative_id,
                    amount_fen=remaining,
                    reason=reason,
                    actor_id=actor_id,
                    village_code=part.village_code,
                    is_related_party=part.is_related_party,
                )
            )
    target_ids = [p.id for p in targets]
    await refunds.reject_open_requests(session, target_ids, reason)
    await stock.release_parts(
        session, order.id, target_ids, actor_id=actor_id, reason=f"order cancelled: {reason}"
    )
    others = (
        (
            await session.execute(
                select(col(OrderPart.status)).where(
                    col(OrderPart.order_id) == order.id, col(OrderPart.id).not_in(target_ids)
                )
            )
        )
        .scalars()
        .all()
    )
    closing = states.closing_status([*others, *closed])
    refunded = sum(d.amount_fen for d in due)
    values: dict[str, object] = {"refunded_fen": col(Order.refunded_fen) + refunded, "updated_at": now}
    if closing == OrderStatus.COMPLETED:
        values.update(status=closing)
    elif closing == OrderStatus.CANCELLED:
        values.update(status=closing, cancelled_at=now, cancel_reason=reason)
    elif order.status == OrderStatus.PENDING_PAYMENT:
        # Parts cancelled before payment are no longer owed: the buyer pays for the rest only.
        values.update(total_fen=col(Order.total_fen) - unpaid)
    await session.execute(update(Order).where(col(Order.id) == order.id).values(**values))
    return due
