"""What paying for an order needs from this slice: the order as a value, who may record its
payment, and marking it paid. ``flows.payment`` joins it with the payments slice; this module
knows nothing of providers or the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.audit import service as audit
from coopmarket.coops import service as coops_service
from coopmarket.core import clock
from coopmarket.core.errors import PermissionDenied
from coopmarket.core.principal import Principal
from coopmarket.db import Executor, rowcount
from coopmarket.events.outbox import EventKind, record_event
from coopmarket.orders import duties, states
from coopmarket.orders.errors import (
    CooperativeSuspended,
    OrderExpired,
    OrderNotFound,
    OrderNotPayable,
    RefundNotFound,
)
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
    col(Order.is_related_party),
).where(col(Order.id) == bindparam("order_id"))
_PARTS = (
    select(
        col(OrderPart.cooperative_id),
        col(OrderPart.village_code),
        col(OrderPart.id),
        col(OrderPart.is_related_party),
    )
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
        is_related_party=bool(row.is_related_party),
        part_ids=tuple(p.id for p in parts),
        related_parts=tuple(bool(p.is_related_party) for p in parts),
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


def is_expired(order: OrderForPayment) -> bool:
    """Its ``expires_at`` has passed, whether or not the expiry sweep has cancelled it yet."""
    return order.expires_at <= clock.now()


def require_payable(order: OrderForPayment) -> None:
    """409 unless the order still awaits payment and has not expired."""
    require_awaiting_payment(order)
    if is_expired(order):
        raise OrderExpired("This order expired before it was paid.")


async def sells_from_suspended(executor: Executor, order: OrderForPayment) -> bool:
    """Whether a cooperative of the order is suspended (then it takes no payment). Joins the
    caller's transaction."""
    briefs = await coops_service.cooperative_briefs(executor, set(order.cooperative_ids))
    return any(b.status == coops_service.SUSPENDED for b in briefs.values())


async def require_cooperatives_trading(executor: Executor, order: OrderForPayment) -> None:
    """409 ``cooperative_suspended`` when a cooperative of the order is suspended."""
    if await sells_from_suspended(executor, order):
        raise CooperativeSuspended(
            "A cooperative of this order is suspended: the order cannot be paid. If money arrived "
            "anyway, it is held and refunded in full."
        )


def require_may_record_payment(principal: Principal, order: OrderForPayment) -> None:
    """Money received offline is recorded by the manager of every part, or staff covering every part.

    Whoever sees the order but is neither gets 403; whoever does not see it, 404. A related-party
    order (its buyer manages a selling cooperative), or a caller on both sides, needs staff:
    403 ``related_party_payment`` for the managers (``orders.duties``).
    """
    manages_all = bool(order.cooperative_ids) and all(principal.manages(c) for c in order.cooperative_ids)
    staff_covers_all = duties.staff_covers(principal, order.village_codes)
    if manages_all or staff_covers_all:
        duties.require_staff_for_related_party(
            principal,
            is_related_party=order.is_related_party,
            buyer_id=order.buyer_id,
            cooperative_ids=order.cooperative_ids,
            village_codes=order.village_codes,
            code=duties.PAYMENT,
            act="record its payment",
        )
        return
    sees_it = (
        order.buyer_id == principal.id
        or any(principal.manages(c) for c in order.cooperative_ids)
        or any(principal.covers_region(v) for v in order.village_codes)
    )
    if not sees_it:
        raise OrderNotFound("No such order.")
    if duties.on_both_sides(principal, order.buyer_id, order.cooperative_ids):
        raise duties.RelatedPartyRefused(
            "You bought this order from a cooperative you manage: only staff may record its payment.",
            code=duties.PAYMENT,
        )
    raise PermissionDenied(
        "Only the manager of every cooperative in this order, or staff, may record its payment.",
        code="forbidden_role",
    )


def require_may_hand_back(principal: Principal, order: OrderForPayment, part_id: str | None) -> None:
    """Who records that an offline refund of ``order`` was paid back to its buyer.

    A part's refund: that part's cooperative manager or staff covering it (the buyer: 403; anyone
    else: 404 ``refund_not_found``). A refund of the whole payment (money that could not pay the
    order): whoever may record the order's payment. A related-party part, or a caller on both
    sides, needs staff (403 ``related_party_refund``).
    """
    if part_id is None or part_id not in order.part_ids:
        try:
            require_may_record_payment(principal, order)
        except OrderNotFound as exc:
            raise RefundNotFound("No such refund.") from exc
        return
    index = order.part_ids.index(part_id)
    cooperative_id, village_code = order.cooperative_ids[index], order.village_codes[index]
    if not (principal.manages(cooperative_id) or duties.staff_covers(principal, [village_code])):
        if order.buyer_id == principal.id:
            raise PermissionDenied(
                "The part's cooperative or staff record that a refund was handed back.", code="forbidden_role"
            )
        raise RefundNotFound("No such refund.")
    duties.require_staff_for_related_party(
        principal,
        is_related_party=order.related_parts[index],
        buyer_id=order.buyer_id,
        cooperative_ids=order.cooperative_ids,
        village_codes=[village_code],
        code=duties.REFUND,
        act="record that its refund was handed back",
    )


@dataclass(frozen=True)
class PaidPart:
    """A part a payment paid for: its cooperative's escrow is credited its subtotal."""

    part_id: str
    cooperative_id: str
    village_code: str
    subtotal_fen: int
    is_related_party: bool


def escrow_credits(parts: list[PaidPart]) -> list[tuple[str, int]]:
    """``(cooperative_id, subtotal_fen)`` of each paid part, sorted: what the payments slice posts."""
    return sorted((p.cooperative_id, p.subtotal_fen) for p in parts)


async def mark_paid(session: AsyncSession, *, order_id: str, amount_fen: int) -> list[PaidPart] | None:
    """Mark an unpaid order paid in full, exactly once, with its pending parts.

    Returns each part the payment pays for, sorted by id (``escrow_credits`` gives what the
    payments slice credits to each cooperative's escrow). ``None`` (and nothing changed) when the
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
            .returning(
                col(OrderPart.id),
                col(OrderPart.cooperative_id),
                col(OrderPart.village_code),
                col(OrderPart.subtotal_fen),
                col(OrderPart.is_related_party),
            )
        )
    ).all()
    parts = sorted(
        (PaidPart(str(r[0]), str(r[1]), str(r[2]), int(r[3]), bool(r[4])) for r in paid_parts),
        key=lambda p: p.part_id,
    )
    await record_event(
        session,
        EventKind.ORDER_PAID,
        "order",
        order_id,
        {
            "order_id": order_id,
            "status": paid,
            "paid_fen": amount_fen,
            "paid_at": now.isoformat(),
            "parts": [
                {"part_id": p.part_id, "cooperative_id": p.cooperative_id, "subtotal_fen": p.subtotal_fen}
                for p in parts
            ],
        },
    )
    return parts


async def audit_related_party_paid(
    session: AsyncSession,
    principal: Principal | None,
    order_id: str,
    parts: list[PaidPart],
    *,
    provider: str,
    payment_id: str,
) -> None:
    """An audit entry for each related-party part a payment paid (``principal`` ``None``: a provider's
    callback). Nothing for other orders. Joins the caller's transaction."""
    for part in parts:
        if part.is_related_party:
            await audit.record(
                session,
                actor=principal,
                action="order.related_party_paid",
                entity="order",
                entity_id=order_id,
                after={
                    "order_id": order_id,
                    "part_id": part.part_id,
                    "subtotal_fen": part.subtotal_fen,
                    "provider": provider,
                    "payment_id": payment_id,
                },
                reason="the buyer manages the selling cooperative",
                region_code=part.village_code,
                cooperative_id=part.cooperative_id,
            )


@dataclass(frozen=True)
class SettledPart:
    """A received part, as profit sharing needs it: what its settlement split."""

    part_id: str
    order_id: str
    cooperative_id: str
    village_code: str
    settled_fen: int


async def settled_parts(executor: Executor, order_id: str) -> list[SettledPart]:
    """The received (settled) parts of ``order_id``."""
    rows = (
        await executor.execute(
            select(
                col(OrderPart.id),
                col(OrderPart.order_id),
                col(OrderPart.cooperative_id),
                col(OrderPart.village_code),
                col(OrderPart.settled_fen),
            )
            .where(col(OrderPart.order_id) == order_id, col(OrderPart.status) == states.PartStatus.RECEIVED)
            .order_by(col(OrderPart.id))
        )
    ).all()
    return [SettledPart(r[0], r[1], r[2], r[3], int(r[4])) for r in rows]


async def part_received_at(executor: Executor, part_id: str) -> datetime | None:
    """When the part was received (settled); None while it is not."""
    return (
        await executor.execute(select(col(OrderPart.received_at)).where(col(OrderPart.id) == part_id))
    ).scalar_one_or_none()
