"""What paying for an order needs from this slice: the order as a value, who may record its
payment, and marking it paid. ``flows.payment`` joins it with the payments slice; this module
knows nothing of providers or the ledger."""

from __future__ import annotations

from sqlalchemy import bindparam, select, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core import clock
from coopmarket.core.errors import PermissionDenied
from coopmarket.core.principal import Principal
from coopmarket.db import Executor, rowcount
from coopmarket.orders import states
from coopmarket.orders.errors import OrderExpired, OrderNotFound, OrderNotPayable
from coopmarket.orders.models import Order, OrderPart
from coopmarket.orders.schemas import OrderForPayment
from coopmarket.orders.states import OrderEvent, OrderStatus

_ORDER = select(
    col(Order.id),
    col(Order.buyer_id),
    col(Order.status),
    col(Order.total_fen),
    col(Order.paid_fen),
    col(Order.payment_method),
    col(Order.expires_at),
).where(col(Order.id) == bindparam("order_id"))
_PARTS = (
    select(col(OrderPart.cooperative_id), col(OrderPart.village_code))
    .where(col(OrderPart.order_id) == bindparam("order_id"))
    .order_by(col(OrderPart.id))
)


async def order_for_payment(
    executor: Executor, principal: Principal | None, order_id: str
) -> OrderForPayment:
    """The order as paying needs it; with ``principal``, only the buyer's own (else 404).

    Runs on a session (joining its transaction) or on a read connection.
    """
    row = (await executor.execute(_ORDER, {"order_id": order_id})).one_or_none()
    if row is None or (principal is not None and row.buyer_id != principal.id):
        raise OrderNotFound("No such order.")
    parts = (await executor.execute(_PARTS, {"order_id": order_id})).all()
    return OrderForPayment(
        id=row.id,
        buyer_id=row.buyer_id,
        status=row.status,
        total_fen=row.total_fen,
        paid_fen=row.paid_fen,
        payment_method=row.payment_method,
        expires_at=row.expires_at,
        cooperative_ids=tuple(p.cooperative_id for p in parts),
        village_codes=tuple(p.village_code for p in parts),
    )


async def order_exists(executor: Executor, order_id: str) -> bool:
    return (await executor.execute(_ORDER, {"order_id": order_id})).first() is not None


def is_paid(order: OrderForPayment) -> bool:
    """Paid in full and not cancelled since (a payment that arrived before the buyer came back)."""
    return order.paid_fen >= order.total_fen and order.status != OrderStatus.CANCELLED


def require_awaiting_payment(order: OrderForPayment) -> None:
    """409 unless the order still awaits payment."""
    if states.order_move(order.status, OrderEvent.PAY) is None:
        raise OrderNotPayable(f"An order that is {order.status} cannot be paid.")


def require_payable(order: OrderForPayment) -> None:
    """409 unless the order still awaits payment and has not expired."""
    require_awaiting_payment(order)
    if order.expires_at <= clock.now():
        raise OrderExpired("This order expired before it was paid.")


def require_may_record_payment(principal: Principal, order: OrderForPayment) -> None:
    """Money received offline is recorded by the manager of every part, or staff covering every part.

    Whoever sees the order but is neither gets 403; whoever does not see it, 404.
    """
    manages_all = bool(order.cooperative_ids) and all(principal.manages(c) for c in order.cooperative_ids)
    staff_covers_all = principal.is_staff and all(principal.covers_region(v) for v in order.village_codes)
    if manages_all or staff_covers_all:
        return
    sees_it = (
        order.buyer_id == principal.id
        or any(principal.manages(c) for c in order.cooperative_ids)
        or any(principal.covers_region(v) for v in order.village_codes)
    )
    if not sees_it:
        raise OrderNotFound("No such order.")
    raise PermissionDenied(
        "Only the manager of every cooperative in this order, or staff, may record its payment.",
        code="forbidden_role",
    )


async def mark_paid(session: AsyncSession, *, order_id: str, amount_fen: int) -> list[tuple[str, int]] | None:
    """Mark an unpaid order paid in full, exactly once, with its pending parts.

    Returns ``(cooperative_id, subtotal_fen)`` of each part the payment pays for, sorted: what the
    payments slice credits to each cooperative's escrow. ``None`` (and nothing changed) when the
    order no longer awaits payment or ``amount_fen`` is not its total. Joins the caller's transaction.
    """
    now = clock.now()
    [(pending, paid)] = states.ORDER_MOVES[OrderEvent.PAY].items()
    result = await session.execute(
        update(Order)
        .where(
            col(Order.id) == order_id,
            col(Order.status) == pending,
            col(Order.total_fen) == amount_fen,
            col(Order.paid_fen) == 0,
        )
        .values(status=paid, paid_fen=amount_fen, paid_at=now, updated_at=now)
    )
    if rowcount(result) != 1:
        return None
    # Only the parts this payment pays for (a part cancelled before payment is not among them);
    # the order's total already left those out, so the escrow credits add up to the amount.
    [(pending_part, paid_part)] = states.PART_MOVES[states.PART_EVENT_OF[OrderEvent.PAY]].items()
    paid_parts = (
        await session.execute(
            update(OrderPart)
            .where(col(OrderPart.order_id) == order_id, col(OrderPart.status) == pending_part)
            .values(status=paid_part)
            .returning(col(OrderPart.cooperative_id), col(OrderPart.subtotal_fen))
        )
    ).all()
    return sorted((str(c), int(subtotal)) for c, subtotal in paid_parts)
