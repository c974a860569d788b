"""Expiry: an order not paid within ``order_payment_timeout_seconds`` is cancelled and its stock released."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import and_, select, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core import clock
from coopmarket.db import Database, rowcount
from coopmarket.orders import states, stock
from coopmarket.orders.models import Order, OrderPart
from coopmarket.orders.states import OrderEvent, OrderStatus, PartStatus

log = logging.getLogger(__name__)


async def expire_overdue_orders(db: Database, *, batch: int = 200) -> int:
    """Cancel unpaid orders past ``expires_at`` and release their stock; returns how many.

    Each order is its own unit of work, so one that is paid meanwhile is simply skipped.
    """
    now = clock.now()
    async with db.read() as conn:
        ids = [
            r[0]
            for r in (
                await conn.execute(
                    select(col(Order.id))
                    .where(
                        and_(col(Order.status) == OrderStatus.PENDING_PAYMENT, col(Order.expires_at) < now)
                    )
                    .order_by(col(Order.id))
                    .limit(batch)
                )
            ).all()
        ]
    expired = 0
    for order_id in ids:
        async with db.unit_of_work() as session:
            expired += await expire_order(session, order_id, now)
    if expired:
        log.info("expired %d unpaid orders", expired)
    return expired


async def expire_order(session: AsyncSession, order_id: str, now: datetime) -> int:
    """Expire one order if it is still unpaid and overdue at ``now``: 1 when it was, 0 when it was
    paid or cancelled meanwhile. Joins the caller's transaction."""
    [(pending, cancelled)] = states.ORDER_MOVES[OrderEvent.EXPIRE].items()
    result = await session.execute(
        update(Order)
        .where(col(Order.id) == order_id, col(Order.status) == pending, col(Order.expires_at) < now)
        .values(status=cancelled, cancelled_at=now, cancel_reason="expired", updated_at=now)
    )
    if rowcount(result) != 1:
        return 0
    # Every open part of an unpaid order is unpaid: they are all cancelled with it.
    part_event = states.PART_EVENT_OF[OrderEvent.EXPIRE]
    cancelled_parts = (
        (
            await session.execute(
                update(OrderPart)
                .where(
                    col(OrderPart.order_id) == order_id, col(OrderPart.status) == PartStatus.PENDING_PAYMENT
                )
                .values(status=states.part_move(PartStatus.PENDING_PAYMENT, part_event))
                .returning(col(OrderPart.id))
            )
        )
        .scalars()
        .all()
    )
    # Only the stock of parts cancelled here: a part cancelled earlier gave its stock back then.
    await stock.release_parts(
        session, order_id, list(cancelled_parts), actor_id=None, reason="order expired unpaid"
    )
    return 1
