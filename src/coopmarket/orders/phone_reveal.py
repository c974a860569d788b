"""The buyer's full phone for a courier waybill (PIPL): order answers keep it masked for the
cooperative; its manager asks for it explicitly, for one part, and every reveal is audited in the
same transaction (who, which order and part, when; never the number itself)."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.audit import service as audit
from coopmarket.core import clock
from coopmarket.core.principal import COOP_MANAGER, Principal
from coopmarket.orders.errors import OrderPartNotFound, PhoneNotRevealable
from coopmarket.orders.models import Order, OrderPart
from coopmarket.orders.schemas import PhoneRevealOut
from coopmarket.orders.states import PartStatus

# A waybill is printed for a paid part, or printed again while it is on its way.
REVEALABLE = (PartStatus.PAID, PartStatus.SHIPPED)


async def reveal_phone(
    session: AsyncSession, principal: Principal, order_id: str, part_id: str
) -> PhoneRevealOut:
    """The part's cooperative manager gets the buyer's full shipping phone; audited.

    Other roles: 403 ``forbidden_role``; another cooperative's manager or an unknown part: 404
    ``order_part_not_found``; a part not paid or shipped: 409 ``phone_not_revealable``.
    """
    principal.require_role(COOP_MANAGER)
    row = (
        await session.execute(
            select(
                col(OrderPart.cooperative_id),
                col(OrderPart.status),
                col(OrderPart.village_code),
                col(Order.shipping_name),
                col(Order.shipping_phone),
            )
            .join(Order, col(Order.id) == col(OrderPart.order_id))
            .where(col(OrderPart.id) == part_id, col(OrderPart.order_id) == order_id)
        )
    ).one_or_none()
    if row is None or not principal.manages(row.cooperative_id):
        raise OrderPartNotFound("No such order part.")
    if row.status not in REVEALABLE:
        raise PhoneNotRevealable(f"The buyer's phone is shown for a paid or shipped part, not a {row.status} one.")
    now = clock.now()
    await audit.record(
        session,
        actor=principal,
        action="order_part.phone_revealed",
        entity="order_part",
        entity_id=part_id,
        after={"order_id": order_id, "part_id": part_id, "field": "shipping_phone", "purpose": "waybill"},
        region_code=row.village_code,
        cooperative_id=row.cooperative_id,
    )
    return PhoneRevealOut(
        order_id=order_id,
        part_id=part_id,
        shipping_name=row.shipping_name,
        shipping_phone=row.shipping_phone,
        revealed_at=now,
    )
