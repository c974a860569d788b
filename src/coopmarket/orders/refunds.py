"""Refund requests, the order's side: the buyer requests, the part's cooperative or staff decide;
refunds the cooperative or staff make themselves are approved at once.

This module keeps every part's refunds within what was paid (conditional UPDATEs, whatever runs
at once) and says what must be paid back (``RefundDue``). Paying it back (recording the refund
and posting it to the ledger) is the payments slice's; ``flows.refunds`` joins the two.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, insert, select, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core import clock
from coopmarket.core.errors import PermissionDenied
from coopmarket.core.principal import Principal
from coopmarket.db import rowcount
from coopmarket.ledger import posting
from coopmarket.orders import duties, states, stock
from coopmarket.orders.errors import (
    ConcurrentUpdate,
    InvalidTransition,
    OrderPartNotFound,
    RefundExceedsRefundable,
    RefundNotFound,
    RefundOverLimit,
)
from coopmarket.orders.models import Order, OrderPart, RefundRequest
from coopmarket.orders.presentation import visible_parts
from coopmarket.orders.queries import load_orders, lock_order, visible_order
from coopmarket.orders.schemas import RefundIn, RefundList, RefundOut
from coopmarket.orders.states import REFUNDABLE_PART_STATUSES, PartEvent, PartStatus, RefundStatus


@dataclass(frozen=True)
class RefundDue:
    """Money of one part to pay back to the buyer, decided by this slice, paid by the payments slice.

    ``refund_id`` names the refund (``None``: the payments slice gives it a new id); ``settled``
    holds the terms to reverse when the part was received and its amount split at settlement;
    ``closes_part``: the part was paid, not shipped, and is now refunded in full, so it closes
    (``close_refunded_part``) once the money is recorded. ``village_code`` and
    ``is_related_party`` are the part's (where the refund's audit entries belong; the flag of
    its posting).
    """

    order_id: str
    part_id: str
    cooperative_id: str
    amount_fen: int
    reason: str
    refund_id: str | None = None
    settled: posting.SplitTerms | None = None
    closes_part: bool = False
    actor_id: str | None = None  # who decided it (stock given back is recorded in their name)
    village_code: str | None = None
    is_related_party: bool = False


def refund_out(refund: RefundRequest) -> RefundOut:
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


def _require_not_related_party(
    principal: Principal, order: Order, parts: list[OrderPart], part: OrderPart
) -> None:
    """A related-party part's refunds, and any refund of an order the caller is on both sides of,
    are decided by staff covering the part (403 ``related_party_refund``)."""
    duties.require_staff_for_related_party(
        principal,
        is_related_party=part.is_related_party,
        buyer_id=order.buyer_id,
        cooperative_ids=[p.cooperative_id for p in parts],
        village_codes=[part.village_code],
        code=duties.REFUND,
        act="decide its refunds",
    )


async def _requested_fen(session: AsyncSession, part_id: str) -> int:
    """The amount of the part's refund requests still awaiting a decision."""
    total = (
        await session.execute(
            select(func.coalesce(func.sum(col(RefundRequest.amount_fen)), 0)).where(
                col(RefundRequest.part_id) == part_id, col(RefundRequest.status) == RefundStatus.REQUESTED
            )
        )
    ).scalar_one()
    return int(total)


async def request_refund(
    session: AsyncSession, principal: Principal, order_id: str, data: RefundIn
) -> tuple[RefundOut, RefundDue | None]:
    """Refund part of a paid part: the buyer's request waits for a decision; a decider's is approved at once.

    The buyer gets a ``requested`` refund (nothing moves); the part's cooperative manager or staff
    covering its village get an ``approved`` one, applied to the part's and the order's totals now,
    with the ``RefundDue`` to pay back. Joins the caller's transaction.
    """
    await lock_order(session, order_id)  # "how much is still refundable" holds until commit
    order, parts, visible, _lines = await visible_order(session, principal, order_id)
    is_buyer = order.buyer_id == principal.id
    part = next((p for p in (parts if is_buyer else visible) if p.id == data.part_id), None)
    if part is None:
        raise OrderPartNotFound("No such order part.")
    decides = not is_buyer and _decides_refunds(principal, part)
    if not (is_buyer or decides):
        raise PermissionDenied("Your role may not refund this part.", code="forbidden_role")
    if decides:
        _require_not_related_party(principal, order, parts, part)
    if part.status not in REFUNDABLE_PART_STATUSES or (
        part.status == PartStatus.REFUNDED and part.refunded_fen >= part.subtotal_fen
    ):
        raise InvalidTransition(f"A part that is {part.status} cannot be refunded.")
    refundable = part.subtotal_fen - part.refunded_fen - await _requested_fen(session, part.id)
    if data.amount_fen > refundable:
        raise RefundExceedsRefundable(
            f"At most {max(refundable, 0)} fen of this part can still be refunded.",
            extra={"refundable_fen": max(refundable, 0)},
        )
    now = clock.now()
    refund = RefundRequest(
        order_id=order.id,
        part_id=part.id,
        amount_fen=data.amount_fen,
        reason=data.reason,
        status=RefundStatus.APPROVED if decides else RefundStatus.REQUESTED,
        requested_by=principal.id,
        decided_by=principal.id if decides else None,
        decided_at=now if decides else None,
        created_at=now,
    )
    await session.execute(insert(RefundRequest), [refund.model_dump()])
    due = await _take_refund(session, order.id, part, refund) if decides else None
    return refund_out(refund), due


async def _take_refund(
    session: AsyncSession, order_id: str, part: OrderPart, refund: RefundRequest
) -> RefundDue:
    """Count an approved refund against the part and the order; say what to pay back. Joins the caller's transaction.

    The conditional UPDATEs keep every part's (and so the order's) refunds within what was paid,
    whatever runs concurrently; the part's status after the update says whether the money is
    still in escrow or was split at settlement.
    """
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
        raise RefundOverLimit("This refund exceeds what is left of the part.")
    status, part_refunded, settled_fen = str(updated[0]), int(updated[1]), int(updated[2])
    result = await session.execute(
        update(Order)
        .where(col(Order.id) == order_id, col(Order.refunded_fen) + amount <= col(Order.paid_fen))
        .values(refunded_fen=col(Order.refunded_fen) + amount, updated_at=now)
    )
    if rowcount(result) != 1:
        raise RefundOverLimit("This refund exceeds what was paid for the order.")
    terms: posting.SplitTerms | None = None
    if status == PartStatus.RECEIVED:
        # The part was split at settlement: take this refund back from what each share still holds
        # (failed refunds gave theirs back), after what escrow may still hold for it.
        reversed_so_far = (
            await session.execute(
                select(
                    func.coalesce(func.sum(col(RefundRequest.reversed_fee_fen)), 0),
                    func.coalesce(func.sum(col(RefundRequest.reversed_collective_fen)), 0),
                    func.coalesce(func.sum(col(RefundRequest.reversed_coop_fen)), 0),
                ).where(
                    col(RefundRequest.part_id) == part.id,
                    col(RefundRequest.id) != refund.id,
                    col(RefundRequest.status) == RefundStatus.APPROVED,
                )
            )
        ).one()
        reversed_shares = (int(reversed_so_far[0]), int(reversed_so_far[1]), int(reversed_so_far[2]))
        # Refunds before receipt came out of escrow, and settlement took the rest; a refund before
        # receipt that failed afterwards put its amount back into escrow (``undo_failed_refund``).
        refunded_from_escrow = part_refunded - amount - sum(reversed_shares)
        terms = posting.SplitTerms(
            part.village_code,
            part.platform_fee_bps,
            part.collective_sales_share_bps,
            settled_fen=settled_fen,
            reversed=reversed_shares,
            escrow_fen=max(part.subtotal_fen - settled_fen - refunded_from_escrow, 0),
        )
        _from_escrow, from_shares = posting.escrow_first(amount, terms)
        fee, collective, rest = posting.refund_reversal(from_shares, terms) if from_shares else (0, 0, 0)
        await session.execute(
            update(RefundRequest)
            .where(col(RefundRequest.id) == refund.id)
            .values(reversed_fee_fen=fee, reversed_collective_fen=collective, reversed_coop_fen=rest)
        )
    paid_in_full_before_shipping = states.part_move(status, PartEvent.REFUND_IN_FULL) is not None
    return RefundDue(
        order_id=order_id,
        part_id=part.id,
        cooperative_id=part.cooperative_id,
        amount_fen=amount,
        reason=refund.reason,
        refund_id=refund.id,
        settled=terms,
        actor_id=refund.decided_by,
        closes_part=paid_in_full_before_shipping and part_refunded == part.subtotal_fen,
        village_code=part.village_code,
        is_related_party=part.is_related_party,
    )


async def close_refunded_part(session: AsyncSession, due: RefundDue) -> None:
    """A paid part refunded in full before shipping: it is ``refunded``, its stock goes back, and
    the order closes when nothing is left open. Joins the caller's transaction."""
    now = clock.now()
    paid, refunded = states.only_move(PartEvent.REFUND_IN_FULL)
    result = await session.execute(
        update(OrderPart)
        .where(col(OrderPart.id) == due.part_id, col(OrderPart.status) == paid)
        .values(status=refunded)
    )
    if rowcount(result) != 1:
        raise ConcurrentUpdate("The order changed meanwhile; try again.")
    await stock.release_parts(
        session, due.order_id, [due.part_id], actor_id=due.actor_id, reason=f"refunded: {due.reason}"
    )
    statuses = (
        (await session.execute(select(col(OrderPart.status)).where(col(OrderPart.order_id) == due.order_id)))
        .scalars()
        .all()
    )
    closing = states.closing_status(statuses)
    if closing is None:
        return
    values: dict[str, object] = {"status": closing, "updated_at": now}
    if closing == states.OrderStatus.CANCELLED:
        values.update(cancelled_at=now, cancel_reason=f"refunded: {due.reason}"[:500])
    await session.execute(
        update(Order)
        .where(col(Order.id) == due.order_id, col(Order.status) == states.OrderStatus.PAID)
        .values(**values)
    )


async def _refund_to_decide(
    session: AsyncSession, principal: Principal, refund_id: str
) -> tuple[RefundRequest, OrderPart]:
    """The refund and its part, for its deciders; 404 to whom cannot see it, 403 to its buyer."""
    refund = (
        await session.execute(select(RefundRequest).where(col(RefundRequest.id) == refund_id))
    ).scalar_one_or_none()
    if refund is None:
        raise RefundNotFound("No such refund.")
    await lock_order(session, refund.order_id)
    orders, parts, _lines = await load_orders(session, [refund.order_id])
    order = orders[refund.order_id]
    visible = visible_parts(principal, order, parts[order.id]) or []
    part = next((p for p in visible if p.id == refund.part_id), None)
    if part is None:
        raise RefundNotFound("No such refund.")
    if not _decides_refunds(principal, part):
        raise PermissionDenied("Only the cooperative or staff decide refunds.", code="forbidden_role")
    _require_not_related_party(principal, order, parts[order.id], part)
    return refund, part


async def _decide(
    session: AsyncSession,
    principal: Principal,
    refund: RefundRequest,
    status: RefundStatus,
    reason: str | None,
) -> RefundRequest:
    """Move a requested refund to ``status`` exactly once (conditional UPDATE); 409 when decided already."""
    result = await session.execute(
        update(RefundRequest)
        .where(col(RefundRequest.id) == refund.id, col(RefundRequest.status) == RefundStatus.REQUESTED)
        .values(status=status, decided_by=principal.id, decided_at=clock.now(), decision_reason=reason)
    )
    if rowcount(result) != 1:
        raise InvalidTransition("This refund was decided already.")
    return (
        await session.execute(
            select(RefundRequest)
            .where(col(RefundRequest.id) == refund.id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one()


async def approve_refund(
    session: AsyncSession, principal: Principal, refund_id: str
) -> tuple[RefundOut, RefundDue]:
    """The part's cooperative manager or staff in scope approve a buyer's request; returns what to pay back.

    Joins the caller's transaction.
    """
    refund, part = await _refund_to_decide(session, principal, refund_id)
    if refund.requested_by == principal.id:
        raise PermissionDenied("You may not approve your own refund request.", code="forbidden_role")
    decided = await _decide(session, principal, refund, RefundStatus.APPROVED, None)
    due = await _take_refund(session, decided.order_id, part, decided)
    return refund_out(decided), due


async def reject_refund(
    session: AsyncSession, principal: Principal, refund_id: str, reason: str
) -> RefundOut:
    """The part's cooperative manager or staff in scope reject a buyer's refund request; nothing moves."""
    refund, _part = await _refund_to_decide(session, principal, refund_id)
    decided = await _decide(session, principal, refund, RefundStatus.REJECTED, reason)
    return refund_out(decided)


async def undo_failed_refund(
    session: AsyncSession, *, order_id: str, part_id: str, refund_id: str, amount_fen: int
) -> None:
    """A provider could not pay a refund of this part back: the amount is no longer refunded.

    The part's and the order's ``refunded_fen`` go down by it (so it can be refunded again; the
    payments slice reversed its posting, so escrow or the settled shares hold it again) and the
    approved request, if the refund had one, becomes ``failed``. A part that closed as
    ``refunded`` stays closed (its stock went back); what is left of it can still be refunded.
    Joins the caller's transaction.
    """
    await lock_order(session, order_id)
    now = clock.now()
    part = await session.execute(
        update(OrderPart)
        .where(col(OrderPart.id) == part_id, col(OrderPart.refunded_fen) >= amount_fen)
        .values(refunded_fen=col(OrderPart.refunded_fen) - amount_fen)
    )
    order = await session.execute(
        update(Order)
        .where(col(Order.id) == order_id, col(Order.refunded_fen) >= amount_fen)
        .values(refunded_fen=col(Order.refunded_fen) - amount_fen, updated_at=now)
    )
    if rowcount(part) != 1 or rowcount(order) != 1:
        # Refunds are counted when decided, so a failed one is always among them.
        raise ConcurrentUpdate(f"Refund {refund_id} of {amount_fen} fen is not counted on part {part_id}.")
    await session.execute(
        update(RefundRequest)
        .where(col(RefundRequest.id) == refund_id, col(RefundRequest.status) == RefundStatus.APPROVED)
        .values(status=RefundStatus.FAILED)
    )


async def reject_open_requests(session: AsyncSession, part_ids: list[str], reason: str) -> None:
    """Requests still open on parts being cancelled have nothing left to refund. Joins the caller's transaction."""
    await session.execute(
        update(RefundRequest)
        .where(
            col(RefundRequest.part_id).in_(part_ids),
            col(RefundRequest.status) == RefundStatus.REQUESTED,
        )
        .values(
            status=RefundStatus.REJECTED,
            decided_at=clock.now(),
            decision_reason=f"part cancelled: {reason}"[:500],
        )
    )


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
    return RefundList(items=[refund_out(r) for r in rows])
