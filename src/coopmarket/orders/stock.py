"""Stock an order gives back: the one place this slice calls ``products.release_stock``.

Checkout takes stock in ``checkout.place_order`` (the one call of ``products.take_stock``);
cancellation, expiry and a full refund before shipping give it back through ``release_parts``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.orders.models import OrderLine
from coopmarket.products import service as products_service


async def release_parts(
    session: AsyncSession, order_id: str, part_ids: Sequence[str], *, actor_id: str | None, reason: str
) -> None:
    """Give back the stock of the lines of ``part_ids`` (parts of ``order_id`` closing now).

    Only parts that close in the caller's transaction: a part closed earlier gave its stock back
    then. ``actor_id`` (``None`` for the system) and ``reason`` go into each SKU's stock history.
    Joins the caller's transaction.
    """
    if not part_ids:
        return
    released: dict[str, int] = defaultdict(int)
    for sku_id, quantity in (
        await session.execute(
            select(col(OrderLine.sku_id), col(OrderLine.quantity)).where(
                col(OrderLine.order_id) == order_id, col(OrderLine.part_id).in_(list(part_ids))
            )
        )
    ).all():
        released[sku_id] += quantity
    await products_service.release_stock(
        session, dict(released), order_id=order_id, actor_id=actor_id, reason=reason
    )
