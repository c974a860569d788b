"""An order as each caller may see it (pure: rows in, response shapes out)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from coopmarket.core.phone import mask_phone
from coopmarket.core.principal import Principal
from coopmarket.orders.models import Order, OrderLine, OrderPart
from coopmarket.orders.schemas import (
    OrderLineOut,
    OrderOut,
    OrderPartOut,
    PaymentSummary,
    ShippingAddressOut,
)
from coopmarket.orders.states import PAID_PART_STATUSES, OrderStatus


def visible_parts(principal: Principal, order: Order, parts: list[OrderPart]) -> list[OrderPart] | None:
    """The parts of ``order`` the caller may see, or ``None`` when the order is not theirs at all."""
    if order.buyer_id == principal.id:
        return parts
    if principal.is_staff:
        visible = [p for p in parts if principal.covers_region(p.village_code)]
    else:
        visible = [p for p in parts if principal.manages(p.cooperative_id)]
    return visible or None


def payment_summary(order: Order) -> PaymentSummary:
    """The order's payment in the words of the API: ``requires_payment``, ``succeeded``, ``refunded``…"""
    if order.refunded_fen and order.refunded_fen >= order.paid_fen:
        status = "refunded"
    elif order.paid_fen >= order.total_fen:
        status = "succeeded"
    elif order.status == OrderStatus.CANCELLED:
        status = "canceled"
    else:
        status = "requires_payment"
    return PaymentSummary(
        provider=order.payment_method, status=status, amount_fen=order.total_fen, succeeded_at=order.paid_at
    )


def order_out(
    order: Order, parts: list[OrderPart], lines: Iterable[OrderLine], principal: Principal
) -> OrderOut:
    """The order with the parts ``principal`` may see (``parts``), their lines and money."""
    by_part: dict[str, list[OrderLine]] = defaultdict(list)
    for line in lines:
        by_part[line.part_id].append(line)
    is_buyer = order.buyer_id == principal.id
    shipping: ShippingAddressOut | None = None
    if is_buyer or any(principal.manages(p.cooperative_id) for p in parts):
        # The buyer sees their own number; a cooperative sees its own orders' address, phone masked (PIPL).
        shipping = ShippingAddressOut(
            name=order.shipping_name,
            phone=order.shipping_phone if is_buyer else (mask_phone(order.shipping_phone) or ""),
            detail=order.shipping_detail,
            region_code=order.shipping_region_code,
        )
    payment = payment_summary(order)
    total_fen, paid_fen, refunded_fen = order.total_fen, order.paid_fen, order.refunded_fen
    if not is_buyer:
        # A cooperative or staff see the money of the parts they see, not the other cooperatives'.
        total_fen = sum(p.subtotal_fen for p in parts)
        paid_fen = sum(p.subtotal_fen for p in parts if p.status in PAID_PART_STATUSES)
        refunded_fen = sum(p.refunded_fen for p in parts)
        payment = PaymentSummary(
            provider=payment.provider,
            status=payment.status,
            amount_fen=total_fen,
            succeeded_at=payment.succeeded_at,
        )
    return OrderOut(
        id=order.id,
        status=order.status,
        total_fen=total_fen,
        paid_fen=paid_fen,
        refunded_fen=refunded_fen,
        payment_method=order.payment_method,
        expires_at=order.expires_at,
        created_at=order.created_at,
        parts=[
            OrderPartOut(
                id=p.id,
                cooperative_id=p.cooperative_id,
                status=p.status,
                subtotal_fen=p.subtotal_fen,
                refunded_fen=p.refunded_fen,
                carrier=p.carrier,
                tracking_number=p.tracking_number,
                shipped_at=p.shipped_at,
                received_at=p.received_at,
                lines=[
                    OrderLineOut(
                        sku_id=line.sku_id,
                        product_id=line.product_id,
                        product_name=line.product_name,
                        sku_spec=line.sku_spec,
                        quantity=line.quantity,
                        unit_price_fen=line.unit_price_fen,
                        line_total_fen=line.line_total_fen,
                        member_id=line.member_id,
                    )
                    for line in sorted(by_part[p.id], key=lambda ln: ln.id)
                ],
                is_related_party=p.is_related_party,
            )
            for p in parts
        ],
        payment=payment,
        shipping_address=shipping,
        note=order.note if (is_buyer or shipping is not None) else None,
        cancel_reason=order.cancel_reason,
        is_related_party=any(p.is_related_party for p in parts) if not is_buyer else order.is_related_party,
    )
