"""Fulfilment: the cooperative ships its part, the buyer receives it (or the hold period passes),
and the received part's money is settled in the ledger."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.audit import service as audit
from coopmarket.core import clock
from coopmarket.core.principal import Principal
from coopmarket.db import Database, rowcount
from coopmarket.events.outbox import EventKind, record_event
from coopmarket.ledger import posting
from coopmarket.ledger import service as ledger_service
from coopmarket.orders import duties, states
from coopmarket.orders.errors import InvalidTransition, OrderNotFound, OrderPartNotFound
from coopmarket.orders.models import Order, OrderPart
from coopmarket.orders.queries import get_order, load_orders, lock_order
from coopmarket.orders.schemas import OrderOut, ShipIn
from coopmarket.orders.states import PartEvent, PartStatus

log = logging.getLogger(__name__)


async def _part_for_manager(
    session: AsyncSession, principal: Principal, order_id: str, part_id: str
) -> OrderPart:
    part = (
        await session.execute(
            select(OrderPart).where(col(OrderPart.id) == part_id, col(OrderPart.order_id) == order_id)
        )
    ).scalar_one_or_none()
    if part is None or not principal.manages(part.cooperative_id):
        raise OrderPartNotFound("No such order part.")
    return part


async def ship_part(
    session: AsyncSession, principal: Principal, order_id: str, part_id: str, data: ShipIn
) -> OrderOut:
    """The cooperative ships its paid part with a carrier and tracking number."""
    part = await _part_for_manager(session, principal, order_id, part_id)
    now = clock.now()
    paid, shipped = states.only_move(PartEvent.SHIP)
    result = await session.execute(
        update(OrderPart)
        .where(col(OrderPart.id) == part.id, col(OrderPart.status) == paid)
        .values(
            status=shipped,
            carrier=data.carrier,
            tracking_number=data.tracking_number,
            shipped_at=now,
        )
    )
    if rowcount(result) != 1:
        raise InvalidTransition(f"A part that is {part.status} cannot be shipped.")
    await record_event(
        session,
        EventKind.PART_SHIPPED,
        "order",
        order_id,
        {
            "order_id": order_id,
            "part_id": part.id,
            "cooperative_id": part.cooperative_id,
            "status": shipped,
            "carrier": data.carrier,
            "tracking_number": data.tracking_number,
            "shipped_at": now.isoformat(),
        },
    )
    return await get_order(session, principal, order_id)


async def receive_part(session: AsyncSession, principal: Principal, order_id: str, part_id: str) -> OrderOut:
    """The buyer confirms receipt: the part completes and its amount is settled in the ledger.

    Not for a part the buyer sells themselves (a related-party part, or one of a cooperative they
    manage now): 403 ``related_party_receipt``. Staff covering such a part confirm its receipt
    instead (audited), or the automatic receipt does after the hold period.
    """
    await lock_order(session, order_id)
    orders, parts, _lines = await load_orders(session, [order_id])
    order = orders.get(order_id)
    part = next((p for p in parts[order_id] if p.id == part_id), None) if order is not None else None
    if order is not None and order.buyer_id == principal.id:
        if part is None:
            raise OrderPartNotFound("No such order part.")
        if part.is_related_party or principal.manages(part.cooperative_id):
            raise duties.RelatedPartyRefused(
                "You sell this part yourself: staff confirm its receipt, or it is received "
                "automatically after the hold period.",
                code=duties.RECEIPT,
            )
        await settle_part(session, order, part)
        return await get_order(session, principal, order_id)
    if order is None or part is None or not (
        part.is_related_party and duties.staff_covers(principal, [part.village_code])
    ):
        # Receipt is the buyer's; staff confirm it only for a related-party part they cover.
        raise OrderNotFound("No such order.")
    status_before = part.status
    await settle_part(session, order, part)
    await audit.record(
        session,
        actor=principal,
        action="order_part.received_by_staff",
        entity="order_part",
        entity_id=part.id,
        before={"status": status_before},
        after={"status": PartStatus.RECEIVED, "order_id": order.id},
        reason="related-party part: the buyer manages its cooperative",
        region_code=part.village_code,
        cooperative_id=part.cooperative_id,
    )
    return await get_order(session, principal, order_id)


async def settle_part(session: AsyncSession, order: Order, part: OrderPart) -> None:
    """Receive a shipped part and settle what escrow still holds for it; close the order if it was
    the last open part. Joins the caller's transaction (which holds the order's lock)."""
    now = clock.now()
    shipped, received_status = states.only_move(PartEvent.RECEIVE)
    result = await session.execute(
        update(OrderPart)
        .where(col(OrderPart.id) == part.id, col(OrderPart.status) == shipped)
        # What escrow still holds: refunds made before receipt already came out of it.
        .values(
            status=received_status,
            received_at=now,
            settled_fen=col(OrderPart.subtotal_fen) - col(OrderPart.refunded_fen),
        )
        .returning(col(OrderPart.settled_fen))
    )
    received = result.first()
    if received is None:
        raise InvalidTransition(f"A part that is {part.status} cannot be received.")
    settled_fen = int(received[0])
    await record_event(
        session,
        EventKind.PART_RECEIVED,
        "order",
        order.id,
        {
            "order_id": order.id,
            "part_id": part.id,
            "cooperative_id": part.cooperative_id,
            "status": received_status,
            "received_at": now.isoformat(),
            "settled_fen": settled_fen,
        },
    )
    if settled_fen > 0:
        await ledger_service.post(
            session,
            kind="part_settled",
            dedupe_key=f"settle:{part.id}",
            entries=posting.part_settled_entries(
                part.cooperative_id,
                part.village_code,
                settled_fen,
                part.platform_fee_bps,
                part.collective_sales_share_bps,
            ),
            occurred_at=now,
            order_id=order.id,
            cooperative_id=part.cooperative_id,
            memo=f"part {part.id} received",
            is_related_party=part.is_related_party,
        )
    statuses = (
        (await session.execute(select(col(OrderPart.status)).where(col(OrderPart.order_id) == order.id)))
        .scalars()
        .all()
    )
    closing = states.closing_status(statuses)
    if closing is not None:
        await session.execute(
            update(Order)
            .where(col(Order.id) == order.id, col(Order.status) == states.OrderStatus.PAID)
            .values(status=closing, updated_at=now)
        )


async def auto_receive_shipped_parts(db: Database, *, hold: timedelta, batch: int = 200) -> int:
    """Receive (and settle) parts shipped longer than ``hold`` ago that the buyer never confirmed.

    Each part is its own unit of work; returns how many were received.
    """
    cutoff = clock.now() - hold
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(col(OrderPart.id), col(OrderPart.order_id))
                .where(col(OrderPart.status) == PartStatus.SHIPPED, col(OrderPart.shipped_at) < cutoff)
                .order_by(col(OrderPart.id))
                .limit(batch)
            )
        ).all()
    received = 0
    for part_id, order_id in rows:
        try:
            async with db.unit_of_work() as session:
                received += await _receive_overdue(session, order_id, part_id)
        except InvalidTransition:
            continue  # the buyer confirmed it meanwhile
    if received:
        log.info("received %d parts automatically after the hold period", received)
    return received


async def _receive_overdue(session: AsyncSession, order_id: str, part_id: str) -> int:
    await lock_order(session, order_id)
    orders, parts, _lines = await load_orders(session, [order_id])
    part = next((p for p in parts[order_id] if p.id == part_id), None)
    if part is None or part.status != PartStatus.SHIPPED:
        return 0
    await settle_part(session, orders[order_id], part)
    return 1
