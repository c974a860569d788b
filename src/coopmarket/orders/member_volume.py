"""Transaction volume by supplying member (Art. 41/43): what a cooperative's settled parts sold,
net of their refunds, attributed to the member named on each line (``None``: non-member).

A part counts once it is received (settled in the ledger, ``settle:{part}``), in the period its
``received_at`` falls in. Its refunds, whenever made (before receipt they lowered what settled,
after it they took back from the settlement), are net of failed refunds (``refunded_fen``) and
spread over the part's lines by line total with the largest-remainder method, so the volumes of a
part add up exactly to ``subtotal_fen - refunded_fen``: what the ledger kept of its sale.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from coopmarket.core.money import allocate
from coopmarket.orders.models import OrderLine, OrderPart

L = OrderLine.metadata.tables["order_line"].c
P = OrderPart.metadata.tables["order_part"].c


async def member_volumes(
    conn: AsyncSession | AsyncConnection,
    cooperative_id: str,
    start: datetime | None,
    end: datetime | None,
) -> dict[str | None, int]:
    """{member id or None: net settled volume in fen} for parts received in [start, end)."""
    stmt = (
        select(L.part_id, L.member_id, func.sum(L.line_total_fen), P.refunded_fen)
        .join_from(OrderLine.metadata.tables["order_line"], OrderPart.metadata.tables["order_part"], L.part_id == P.id)
        .where(P.cooperative_id == cooperative_id, P.received_at.is_not(None))
        .group_by(L.part_id, L.member_id, P.refunded_fen)
    )
    if start is not None:
        stmt = stmt.where(P.received_at >= start)
    if end is not None:
        stmt = stmt.where(P.received_at < end)
    by_part: dict[str, list[tuple[str | None, int]]] = defaultdict(list)
    refunded: dict[str, int] = {}
    for part_id, member_id, gross, part_refunded in (await conn.execute(stmt)).all():
        by_part[part_id].append((member_id, int(gross)))
        refunded[part_id] = int(part_refunded)
    out: dict[str | None, int] = defaultdict(int)
    for part_id, groups in by_part.items():
        groups.sort(key=lambda g: (g[0] is not None, g[0] or ""))  # a fixed order: the same split every time
        shares = allocate(refunded[part_id], [gross for _, gross in groups])
        for (member_id, gross), refund in zip(groups, shares, strict=True):
            out[member_id] += gross - refund
    return dict(out)
