"""Checkout, order parts per cooperative, stock reservation, the order state machine.

Order: pending_payment → paid → completed, or → cancelled. Part: pending_payment → paid →
shipped → received, or → cancelled (unpaid) / refunded (paid, then cancelled). Every transition
is a conditional UPDATE on the current status, so concurrent requests cannot both apply one.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, bindparam, insert, select, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.coops import service as coops_service
from coopmarket.core import clock
from coopmarket.core.errors import (
    Conflict,
    FieldError,
    NotFound,
    ValidationFailed,
)
from coopmarket.core.ids import new_id
from coopmarket.core.pagination import decode_cursor, encode_cursor
from coopmarket.core.phone import mask_phone
from coopmarket.core.principal import SHOPPER_ROLES, Principal
from coopmarket.db import Database
from coopmarket.ledger import posting
from coopmarket.ledger import service as ledger_service
from coopmarket.orders.models import Order, OrderLine, OrderPart, RefundRequest
from coopmarket.orders.schemas import (
    OrderForPayment,
    OrderLineOut,
    OrderList,
    OrderOut,
    OrderPartOut,
    PaymentSummary,
    PlaceOrderIn,
    ShipIn,
    ShippingAddressOut,
)
from coopmarket.products import service as products_service
from coopmarket.regions import service as regions_service
from coopmarket.settings import Settings

log = logging.getLogger(__name__)

PENDING = "pending_payment"
PAID = "paid"
COMPLETED = "completed"
CANCELLED = "cancelled"
SHIPPED = "shipped"
RECEIVED = "received"
REFUNDED = "refunded"
OPEN_PART_STATUSES = (PENDING, PAID, SHIPPED)
# Refunds: a buyer's request waits for its cooperative or staff; theirs are approved at once.
REFUND_REQUESTED = "requested"
REFUND_APPROVED = "approved"
REFUND_REJECTED = "rejected"
REFUNDABLE_PART_STATUSES = (PAID, SHIPPED, RECEIVED)


# ---------------------------------------------------------------- placing an order

_INSERT_ORDER = insert(Order.metadata.tables["orders"])
_INSERT_PART = insert(OrderPart.metadata.tables["order_part"])
_INSERT_LINE = insert(OrderLine.metadata.tables["order_line"])


async def place_order(
    session: AsyncSession, settings: Settings, principal: Principal, data: PlaceOrderIn
) -> OrderOut:
    """Take stock and write the order split into one part per cooperative.

    Joins the caller's transaction and does not commit: the idempotency executor commits the
    order together with the stored answer. Prices come from the database, never the client.
    """
    principal.require_role(*SHOPPER_ROLES)
    if data.payment_method not in settings.payment_providers:
        raise ValidationFailed(
            f"Payment method {data.payment_method} is not available.",
            code="payment_method_unavailable",
            errors=[FieldError("payment_method", "not enabled on this server")],
        )
    sku_ids = [line.sku_id for line in data.lines]
    duplicates = sorted({s for s in sku_ids if sku_ids.count(s) > 1})
    if duplicates:
        raise ValidationFailed(
            "Each SKU may appear on one line only.",
            code="duplicate_sku",
            errors=[FieldError(f"lines[{sku_ids.index(s)}].sku_id", "repeated SKU") for s in duplicates],
        )
    conn = await session.connection()  # Core on the session's connection: no ORM on the hot path
    address = data.shipping_address
    if not await regions_service.region_exists(conn, address.region_code):
        raise ValidationFailed(
            "Unknown shipping region.",
            code="invalid_region",
            errors=[FieldError("shipping_address.region_code", "unknown region code")],
        )
    skus = await products_service.skus_for_order(conn, sku_ids)
    missing = [i for i, s in enumerate(sku_ids) if s not in skus]
    if missing:
        raise ValidationFailed(
            "Some SKUs do not exist.",
            code="unknown_sku",
            errors=[FieldError(f"lines[{i}].sku_id", "unknown SKU") for i in missing],
        )
    # A SKU the public cannot see (archived product, cooperative not approved) is unknown here
    # too, as its product answers 404: ids cannot be probed through checkout.
    hidden = [i for i, s in enumerate(sku_ids) if not skus[s].is_sellable]
    if hidden:
        raise ValidationFailed(
            "Some SKUs do not exist or are not on sale.",
            code="unknown_sku",
            errors=[FieldError(f"lines[{i}].sku_id", "unknown SKU") for i in hidden],
        )
    cooperatives = await coops_service.cooperative_briefs(conn, {skus[s].cooperative_id for s in sku_ids})

    # Take stock in a fixed order (by SKU id) so that concurrent orders cannot deadlock.
    quantities = {line.sku_id: line.quantity for line in data.lines}
    order_id = new_id()
    for sku_id in sorted(quantities):
        if not await products_service.take_stock(conn, sku_id, quantities[sku_id], order_id=order_id, actor_id=principal.id):
            raise Conflict("Not enough stock.", code="out_of_stock", extra={"sku_id": sku_id})

    now = clock.now()
    expires_at = now + timedelta(seconds=settings.order_payment_timeout_seconds)
    by_cooperative: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for line in data.lines:
        by_cooperative[skus[line.sku_id].cooperative_id].append((line.sku_id, line.quantity))
    # Plain rows for Core inserts (unset NULL columns left out, as the ORM did) and the answer.
    part_rows: list[dict[str, Any]] = []
    line_rows: list[dict[str, Any]] = []
    parts_out: list[OrderPartOut] = []
    total = 0
    for cooperative_id in sorted(by_cooperative):
        coop = cooperatives[cooperative_id]
        part_id = new_id()
        subtotal = 0
        lines_out: list[tuple[str, OrderLineOut]] = []
        for sku_id, quantity in by_cooperative[cooperative_id]:
            sku = skus[sku_id]
            line_total = sku.price_fen * quantity
            subtotal += line_total
            line_id = new_id()
            line_rows.append(
                {
                    "id": line_id,
                    "order_id": order_id,
                    "part_id": part_id,
                    "sku_id": sku_id,
                    "product_id": sku.product_id,
                    "product_name": sku.product_name,
                    "sku_spec": sku.spec,
                    "category": sku.category,
                    "quantity": quantity,
                    "unit_price_fen": sku.price_fen,
                    "line_total_fen": line_total,
                }
            )
            lines_out.append(
                (
                    line_id,
                    OrderLineOut(
                        sku_id=sku_id,
                        product_id=sku.product_id,
                        product_name=sku.product_name,
                        sku_spec=sku.spec,
                        quantity=quantity,
                        unit_price_fen=sku.price_fen,
                        line_total_fen=line_total,
                    ),
                )
            )
        total += subtotal
        part_rows.append(
            {
                "id": part_id,
                "order_id": order_id,
                "cooperative_id": cooperative_id,
                "status": PENDING,
                "subtotal_fen": subtotal,
                "refunded_fen": 0,
                "settled_fen": 0,
                "village_code": coop.village_code,
                "collective_sales_share_bps": coop.collective_sales_share_bps,
                "platform_fee_bps": settings.platform_fee_bps,
            }
        )
        lines_out.sort(key=lambda item: item[0])
        parts_out.append(
            OrderPartOut(
                id=part_id,
                cooperative_id=cooperative_id,
                status=PENDING,
                subtotal_fen=subtotal,
                refunded_fen=0,
                carrier=None,
                tracking_number=None,
                shipped_at=None,
                received_at=None,
                lines=[out for _, out in lines_out],
            )
        )
    order_row: dict[str, Any] = {
        "id": order_id,
        "buyer_id": principal.id,
        "status": PENDING,
        "total_fen": total,
        "paid_fen": 0,
        "refunded_fen": 0,
        "payment_method": data.payment_method,
        "shipping_name": address.name,
        "shipping_phone": address.phone,
        "shipping_detail": address.detail,
        "shipping_region_code": address.region_code,
        "expires_at": expires_at,
        "created_at": now,
        "updated_at": now,
    }
    if data.note is not None:
        order_row["note"] = data.note
    # Core inserts, parents first (one round trip per table).
    await conn.execute(_INSERT_ORDER, order_row)
    await conn.execute(_INSERT_PART, part_rows)
    await conn.execute(_INSERT_LINE, line_rows)
    return OrderOut(
        id=order_id,
        status=PENDING,
        total_fen=total,
        paid_fen=0,
        refunded_fen=0,
        payment_method=data.payment_method,
        expires_at=expires_at,
        created_at=now,
        parts=parts_out,
        payment=PaymentSummary(
            provider=data.payment_method, status="requires_payment", amount_fen=total, succeeded_at=None
        ),
        shipping_address=ShippingAddressOut(
            name=address.name, phone=address.phone, detail=address.detail, region_code=address.region_code
        ),
        note=data.note,
        cancel_reason=None,
    )


# ---------------------------------------------------------------- reading


def visible_parts(principal: Principal, order: Order, parts: list[OrderPart]) -> list[OrderPart] | None:
    """The parts of ``order`` the caller may see, or ``None`` when the order is not theirs at all."""
    if order.buyer_id == principal.id:
        return parts
    if principal.is_staff:
        visible = [p for p in parts if principal.covers_region(p.village_code)]
    else:
        visible = [p for p in parts if principal.manages(p.cooperative_id)]
    return visible or None


def _payment_summary(order: Order) -> PaymentSummary:
    if order.refunded_fen and order.refunded_fen >= order.paid_fen:
        status = "refunded"
    elif order.paid_fen >= order.total_fen:
        status = "succeeded"
    elif order.status == CANCELLED:
        status = "canceled"
    else:
        status = "requires_payment"
    return PaymentSummary(
        provider=order.payment_method, status=status, amount_fen=order.total_fen, succeeded_at=order.paid_at
    )


def _order_out(
    order: Order, parts: list[OrderPart], lines: Iterable[OrderLine], principal: Principal
) -> OrderOut:
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
    payment = _payment_summary(order)
    total_fen, paid_fen, refunded_fen = order.total_fen, order.paid_fen, order.refunded_fen
    if not is_buyer:
        # A cooperative or staff see the money of the parts they see, not the other cooperatives'.
        total_fen = sum(p.subtotal_fen for p in parts)
        paid_fen = sum(p.subtotal_fen for p in parts if p.status in (PAID, SHIPPED, RECEIVED, REFUNDED))
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
                    )
                    for line in sorted(by_part[p.id], key=lambda ln: ln.id)
                ],
            )
            for p in parts
        ],
        payment=payment,
        shipping_address=shipping,
        note=order.note if (is_buyer or shipping is not None) else None,
        cancel_reason=order.cancel_reason,
    )


_LOCK_ORDER = select(col(Order.id)).where(col(Order.id) == bindparam("order_id")).with_for_update()


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
        raise NotFound("No such order.", code="order_not_found")
    visible = visible_parts(principal, order, parts[order_id])
    if visible is None:
        raise NotFound("No such order.", code="order_not_found")
    return order, parts[order_id], visible, lines[order_id]


async def get_order(session: AsyncSession, principal: Principal, order_id: str) -> OrderOut:
    """One order as the caller may see it: the buyer all of it, a manager or staff their parts."""
    order, _all, visible, lines = await visible_order(session, principal, order_id)
    return _order_out(order, visible, lines, principal)


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
            items.append(_order_out(orders[order_id], visible, lines[order_id], principal))
    return OrderList(items=items, next_cursor=encode_cursor([page[-1]]) if more and page else None)


# ---------------------------------------------------------------- payment (called by the payments slice)


async def order_for_payment(
    session: AsyncSession, principal: Principal | None, order_id: str
) -> OrderForPayment:
    """The order as payments needs it; with ``principal``, only the buyer's own (else 404). Joins the caller's transaction."""
    orders, parts, _lines = await load_orders(session, [order_id])
    order = orders.get(order_id)
    if order is None or (principal is not None and order.buyer_id != principal.id):
        raise NotFound("No such order.", code="order_not_found")
    return OrderForPayment(
        id=order.id,
        buyer_id=order.buyer_id,
        status=order.status,
        total_fen=order.total_fen,
        paid_fen=order.paid_fen,
        payment_method=order.payment_method,
        expires_at=order.expires_at,
        cooperative_ids=tuple(p.cooperative_id for p in parts[order_id]),
        village_codes=tuple(p.village_code for p in parts[order_id]),
    )


async def apply_payment(
    session: AsyncSession, *, order_id: str, amount_fen: int, provider: str, payment_id: str
) -> bool:
    """Mark an unpaid order paid in full exactly once and post ``payment_received``.

    Joins the caller's transaction. Returns False (and changes nothing) when the order is not
    awaiting payment or the amount is not its total.
    """
    now = clock.now()
    result = await session.execute(
        update(Order)
        .where(
            col(Order.id) == order_id,
            col(Order.status) == PENDING,
            col(Order.total_fen) == amount_fen,
            col(Order.paid_fen) == 0,
        )
        .values(status=PAID, paid_fen=amount_fen, paid_at=now, updated_at=now)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    # Only the parts this payment pays for (a part cancelled before payment is not among them);
    # the order's total already left those out, so the escrow credits add up to the amount.
    paid_parts = (
        await session.execute(
            update(OrderPart)
            .where(col(OrderPart.order_id) == order_id, col(OrderPart.status) == PENDING)
            .values(status=PAID)
            .returning(col(OrderPart.cooperative_id), col(OrderPart.subtotal_fen))
        )
    ).all()
    await ledger_service.post(
        session,
        kind="payment_received",
        dedupe_key=f"payment:{payment_id}",
        entries=posting.payment_received_entries(
            provider, amount_fen, sorted((str(c), int(subtotal)) for c, subtotal in paid_parts)
        ),
        occurred_at=now,
        order_id=order_id,
        memo=f"{provider} payment {payment_id}",
    )
    return True


# ---------------------------------------------------------------- fulfilment


async def _part_for_manager(
    session: AsyncSession, principal: Principal, order_id: str, part_id: str
) -> OrderPart:
    part = (
        await session.execute(
            select(OrderPart).where(col(OrderPart.id) == part_id, col(OrderPart.order_id) == order_id)
        )
    ).scalar_one_or_none()
    if part is None or not principal.manages(part.cooperative_id):
        raise NotFound("No such order part.", code="order_part_not_found")
    return part


async def ship_part(
    session: AsyncSession, principal: Principal, order_id: str, part_id: str, data: ShipIn
) -> OrderOut:
    """The cooperative ships its paid part with a carrier and tracking number."""
    part = await _part_for_manager(session, principal, order_id, part_id)
    now = clock.now()
    result = await session.execute(
        update(OrderPart)
        .where(col(OrderPart.id) == part.id, col(OrderPart.status) == PAID)
        .values(status=SHIPPED, carrier=data.carrier, tracking_number=data.tracking_number, shipped_at=now)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"A part that is {part.status} cannot be shipped.", code="invalid_transition")
    await session.commit()
    return await get_order(session, principal, order_id)


async def receive_part(session: AsyncSession, principal: Principal, order_id: str, part_id: str) -> OrderOut:
    """The buyer confirms receipt: the part completes and its amount is settled in the ledger."""
    await lock_order(session, order_id)
    orders, parts, _lines = await load_orders(session, [order_id])
    order = orders.get(order_id)
    if order is None or order.buyer_id != principal.id:
        raise NotFound("No such order.", code="order_not_found")
    part = next((p for p in parts[order_id] if p.id == part_id), None)
    if part is None:
        raise NotFound("No such order part.", code="order_part_not_found")
    await _settle_part(session, order, part)
    await session.commit()
    return await get_order(session, principal, order_id)


async def _settle_part(session: AsyncSession, order: Order, part: OrderPart) -> None:
    now = clock.now()
    result = await session.execute(
        update(OrderPart)
        .where(col(OrderPart.id) == part.id, col(OrderPart.status) == SHIPPED)
        # What escrow still holds: refunds made before receipt already came out of it.
        .values(
            status=RECEIVED,
            received_at=now,
            settled_fen=col(OrderPart.subtotal_fen) - col(OrderPart.refunded_fen),
        )
        .returning(col(OrderPart.settled_fen))
    )
    received = result.first()
    if received is None:
        raise Conflict(f"A part that is {part.status} cannot be received.", code="invalid_transition")
    settled_fen = int(received[0])
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
        )
    # The order completes when no part is still open and at least one was received.
    open_parts = (
        await session.execute(
            select(col(OrderPart.id)).where(
                col(OrderPart.order_id) == order.id, col(OrderPart.status).in_(OPEN_PART_STATUSES)
            )
        )
    ).first()
    if open_parts is None:
        await session.execute(
            update(Order)
            .where(col(Order.id) == order.id, col(Order.status) == PAID)
            .values(status=COMPLETED, updated_at=now)
        )


# ---------------------------------------------------------------- cancellation and expiry


async def cancel_order(
    session: AsyncSession, principal: Principal, order_id: str, reason: str | None
) -> OrderOut:
    """Cancel what has not shipped: stock goes back; money paid for it is refunded.

    The buyer and staff in scope cancel the whole order (refused once any part has shipped); a
    cooperative manager cancels their own parts only.
    """
    await lock_order(session, order_id)
    order, parts, visible, lines = await visible_order(session, principal, order_id)
    is_buyer = order.buyer_id == principal.id
    if is_buyer or principal.is_staff:
        if is_buyer and any(p.status in (SHIPPED, RECEIVED) for p in parts):
            raise Conflict(
                "Part of this order has shipped; ask the cooperative instead.", code="order_already_shipped"
            )
        targets = [p for p in (parts if is_buyer else visible) if p.status in (PENDING, PAID)]
    else:
        targets = [p for p in visible if p.status in (PENDING, PAID)]
    if not targets:
        raise Conflict(
            f"Nothing left to cancel in an order that is {order.status}.", code="invalid_transition"
        )
    await _cancel_parts(
        session, order, targets, lines, reason or ("cancelled by buyer" if is_buyer else "cancelled"), principal.id
    )
    await session.commit()
    return await get_order(session, principal, order_id)


async def _cancel_parts(
    session: AsyncSession, order: Order, targets: list[OrderPart], lines: list[OrderLine], reason: str, actor_id: str | None = None
) -> None:
    from coopmarket.payments import service as payments_service

    now = clock.now()
    released: dict[str, int] = defaultdict(int)
    refunded = 0
    # Read before the UPDATEs below (the session synchronises the parts with them).
    unpaid = sum(p.subtotal_fen for p in targets if p.status == PENDING)
    for part in targets:
        new_status = REFUNDED if part.status == PAID else CANCELLED
        # Read before the UPDATE (the session synchronises ``part`` with it); partial refunds were paid back already.
        remaining = part.subtotal_fen - part.refunded_fen
        result = await session.execute(
            update(OrderPart)
            .where(
                col(OrderPart.id) == part.id,
                col(OrderPart.status) == part.status,
                col(OrderPart.refunded_fen) == part.refunded_fen,
            )
            .values(status=new_status, refunded_fen=part.subtotal_fen if new_status == REFUNDED else 0)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("The order changed meanwhile; try again.", code="concurrent_update")
        for line in lines:
            if line.part_id == part.id:
                released[line.sku_id] += line.quantity
        if new_status == REFUNDED and remaining > 0:
            refunded += remaining
            await payments_service.refund_part(
                session,
                order_id=order.id,
                part_id=part.id,
                cooperative_id=part.cooperative_id,
                amount_fen=remaining,
                reason=reason,
            )
    # Refund requests still open on these parts have nothing left to refund.
    await session.execute(
        update(RefundRequest)
        .where(
            col(RefundRequest.part_id).in_([p.id for p in targets]),
            col(RefundRequest.status) == REFUND_REQUESTED,
        )
        .values(status=REFUND_REJECTED, decided_at=now, decision_reason=f"part cancelled: {reason}"[:500])
    )
    await products_service.release_stock(session, dict(released), order_id=order.id, actor_id=actor_id, reason=f"order cancelled: {reason}")
    still_open = (
        (
            await session.execute(
                select(col(OrderPart.status)).where(
                    col(OrderPart.order_id) == order.id, col(OrderPart.id).not_in([p.id for p in targets])
                )
            )
        )
        .scalars()
        .all()
    )
    values: dict[str, object] = {"refunded_fen": col(Order.refunded_fen) + refunded, "updated_at": now}
    if not any(s in OPEN_PART_STATUSES for s in still_open):
        if any(s == RECEIVED for s in still_open):
            values.update(status=COMPLETED)
        else:
            values.update(status=CANCELLED, cancelled_at=now, cancel_reason=reason)
    elif order.status == PENDING:
        # Parts cancelled before payment are no longer owed: the buyer pays for the rest only.
        values.update(total_fen=col(Order.total_fen) - unpaid)
    await session.execute(update(Order).where(col(Order.id) == order.id).values(**values))


async def expire_overdue_orders(db: Database, *, batch: int = 200) -> int:
    """Cancel unpaid orders past ``expires_at`` and release their stock; returns how many."""
    now = clock.now()
    async with db.read() as conn:
        ids = [
            r[0]
            for r in (
                await conn.execute(
                    select(col(Order.id))
                    .where(and_(col(Order.status) == PENDING, col(Order.expires_at) < now))
                    .order_by(col(Order.id))
                    .limit(batch)
                )
            ).all()
        ]
    expired = 0
    for order_id in ids:
        async with db.session() as session:
            result = await session.execute(
                update(Order)
                .where(col(Order.id) == order_id, col(Order.status) == PENDING, col(Order.expires_at) < now)
                .values(status=CANCELLED, cancelled_at=now, cancel_reason="expired", updated_at=now)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                continue  # paid or cancelled meanwhile
            cancelled_parts = (
                (
                    await session.execute(
                        update(OrderPart)
                        .where(col(OrderPart.order_id) == order_id, col(OrderPart.status) == PENDING)
                        .values(status=CANCELLED)
                        .returning(col(OrderPart.id))
                    )
                )
                .scalars()
                .all()
            )
            # Only the stock of parts cancelled here: a part cancelled earlier gave its stock back then.
            released: dict[str, int] = defaultdict(int)
            for line in (
                await session.execute(
                    select(OrderLine).where(col(OrderLine.part_id).in_(list(cancelled_parts)))
                )
            ).scalars():
                released[line.sku_id] += line.quantity
            await products_service.release_stock(session, dict(released), order_id=order_id, actor_id=None, reason="order expired unpaid")
            await session.commit()
            expired += 1
    if expired:
        log.info("expired %d unpaid orders", expired)
    return expired


async def auto_receive_shipped_parts(db: Database, *, hold: timedelta, batch: int = 200) -> int:
    """Receive (and settle) parts shipped longer than ``hold`` ago that the buyer never confirmed."""
    cutoff = clock.now() - hold
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(col(OrderPart.id), col(OrderPart.order_id))
                .where(col(OrderPart.status) == SHIPPED, col(OrderPart.shipped_at) < cutoff)
                .order_by(col(OrderPart.id))
                .limit(batch)
            )
        ).all()
    received = 0
    for part_id, order_id in rows:
        async with db.session() as session:
            await lock_order(session, order_id)
            orders, parts, _lines = await load_orders(session, [order_id])
            part = next((p for p in parts[order_id] if p.id == part_id), None)
            if part is None or part.status != SHIPPED:
                continue
            try:
                await _settle_part(session, orders[order_id], part)
            except Conflict:
                continue  # the buyer confirmed it meanwhile
            await session.commit()
            received += 1
    if received:
        log.info("received %d parts automatically after the hold period", received)
    return received


def require_payable(order: OrderForPayment) -> None:
    """409 unless the order still awaits payment and has not expired."""
    if order.status != PENDING:
        raise Conflict(f"An order that is {order.status} cannot be paid.", code="order_not_payable")
    if order.expires_at <= clock.now():
        raise Conflict("This order expired before it was paid.", code="order_expired")
