"""Cancelling an order: the orders slice cancels the unshipped parts, the payments slice pays back the paid ones."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core.principal import Principal
from coopmarket.flows.refunds import pay_back
from coopmarket.orders import cancellation, queries
from coopmarket.orders.schemas import OrderOut


async def cancel_order(
    session: AsyncSession, principal: Principal, order_id: str, reason: str | None
) -> OrderOut:
    """Cancel what has not shipped: stock goes back; money paid for it is refunded.

    The buyer and staff in scope cancel the whole order (refused once any part has shipped); a
    cooperative manager cancels their own parts only.
    """
    for due in await cancellation.cancel(session, principal, order_id, reason):
        await pay_back(session, due)
    return await queries.get_order(session, principal, order_id)
