"""Reading orders: the order lock, loading an order with its parts and lines, what a caller may see."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Select, bindparam, false, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core.pagination import decode_cursor, encode_cursor
from coopmarket.core.principal import Principal
from coopmarket.orders.errors import OrderNotFound
from coopmarket.orders.models import Order, OrderLine, OrderPart
from coopmarket.orders.presentation import order_out, visible_parts
from coopmarket.orders.schemas import OrderList, OrderOut

_LOCK_ORDER = select(col(Order.id)).where(col(Order.id) == bindparam("order_id")).with_for_update()


def _parts_in_scope_condition(principal: Principal) -> Any:
    """Parts a manager's cooperatives sell, or staff's region covers (nothing for anyone else)."""
    if principal.is_staff:
        if principal.region_code is None:
            return false()
        return col(OrderPart.village_code).startswith(principal.region_code, autoescape=True)
    if principal.cooperative_ids:
        return col(OrderPart.cooperative_id).in_(sorted(principal.cooperative_ids))
    return false()


def parts_in_scope(principal: Principal) -> Select[Any]:
    """A sub-select of the ids of the parts the caller handles (their cooperatives', or staff's region)."""
    return select(col(OrderPart.id)).where(_parts_in_scope_condition(principal))


def orders_in_scope(principal: Principal) -> Select[Any]:
    """A sub-select of the ids of the orders with a part the caller handles."""
    return select(col(OrderPart.order_id)).where(_parts_in_scope_condition(principal))


async def lock_order(session: AsyncSession, order_id: str) -> None:
    """Serialise every change to one order (its parts, totals, status) behind its row lock.

    Call first, before reading the order: the checks that follow ("is any part still open?",
    "how much is still refundable?") then hold until commit, and all paths take locks in one order
    (the order, then its parts), so they cannot deadlock. PostgreSQL takes ``FOR UPDATE``; on
    SQLite every write transaction already holds the database's write lock (``BEGIN IMMEDIATE``).
    Joins the caller's transaction.
    """
    await session.execute(_LOCK_ORDER, {"order_id": order_id})


async def load_orders(
    session: AsyncSession, order_ids: list[str]
) -> tuple[dict[str, Order], dict[str, list[OrderPart]], dict[str, list[OrderLine]]]:
    """Orders, their parts and lines by order id (three queries). For this slice's modules."""
    if not order_ids:
        return {}, {}, {}
    orders = {
        o.id: o for o in (await session.execute(select(Order).where(col(Order.id).in_(order_ids)))).scalars()
    }
    parts: dict[str, list[OrderPart]] = defaultdict(list)
    for part in (
        await session.execute(
            select(OrderPart).where(col(OrderPart.order_id).in_(order_ids)).order_by(col(OrderPart.id))
        )
    ).scalars():
        parts[part.order_id].append(part)
    lines: dict[str, list[OrderLine]] = defaultdict(list)
    for line in (
        await session.execute(select(OrderLine).where(col(OrderLine.order_id).in_(order_ids)))
    ).scalars():
        lines[line.order_id].append(line)
    return orders, parts, lines


async def visible_order(
    session: AsyncSession, principal: Principal, order_id: str
) -> tuple[Order, list[OrderPart], list[OrderPart], list[OrderLine]]:
    """(order, all its parts, the parts the caller may see, lines); 404 when none is theirs."""
    orders, parts, lines = await load_orders(session, [order_id])
    order = orders.get(order_id)
    if order is None:
        raise OrderNotFound("No such order.")
    visible = visible_parts(principal, order, parts[order_id])
    if visible is None:
        raise OrderNotFound("No such order.")
    return order, parts[order_id], visible, lines[order_id]


async def get_order(session: AsyncSession, principal: Principal, order_id: str) -> OrderOut:
    """One order as the caller may see it: the buyer all of it, a manager or staff their parts."""
    order, _all, visible, lines = await visible_order(session, principal, order_id)
    return order_out(order, visible, lines, principal)


async def list_orders(
    session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None, status: str | None
) -> OrderList:
    """Orders the caller may see, newest first, with keyset pagination."""
    after = decode_cursor(cursor, 1)
    stmt = select(col(Order.id)).order_by(col(Order.id).desc()).limit(limit + 1)
    if principal.is_staff:
        if principal.region_code is None:
            return OrderList(items=[], next_cursor=None)
        stmt = stmt.where(
            col(Order.id).in_(
                select(col(OrderPart.order_id)).where(
                    col(OrderPart.village_code).startswith(principal.region_code, autoescape=True)
                )
            )
        )
    elif principal.cooperative_ids:
        stmt = stmt.where(
            (col(Order.buyer_id) == principal.id)
            | col(Order.id).in_(
                select(col(OrderPart.order_id)).where(
                    col(OrderPart.cooperative_id).in_(sorted(principal.cooperative_ids))
                )
            )
        )
    else:
        stmt = stmt.where(col(Order.buyer_id) == principal.id)
    if status is not None:
        stmt = stmt.where(col(Order.status) == status)
    if after is not None:
        stmt = stmt.where(col(Order.id) < str(after[0]))
    ids = [r[0] for r in (await session.execute(stmt)).all()]
    page, more = ids[:limit], len(ids) > limit
    orders, parts, lines = await load_orders(session, page)
    items = []
    for order_id in page:
        visible = visible_parts(principal, orders[order_id], parts[order_id])
        if visible is not None:
            items.append(order_out(orders[order_id], visible, lines[order_id], principal))
    return OrderList(items=items, next_cursor=encode_cursor([page[-1]]) if more and page else None)
