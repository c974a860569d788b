"""Checkout: take stock and write the order, split into one part per cooperative.

The hot path of the marketplace (see bench/README.md): SQLAlchemy Core on the session's
connection, statements built once, one round trip per table, no ORM objects.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.audit import service as audit
from coopmarket.coops import service as coops_service
from coopmarket.core import clock
from coopmarket.core.errors import FieldError
from coopmarket.core.ids import new_id
from coopmarket.core.principal import SHOPPER_ROLES, Principal
from coopmarket.db import execute_dml, execute_many
from coopmarket.events.outbox import EventKind, record_event
from coopmarket.orders import duties
from coopmarket.orders.errors import (
    CooperativeSuspended,
    DuplicateSku,
    InvalidRegion,
    OutOfStock,
    PaymentMethodUnavailable,
    UnknownSku,
)
from coopmarket.orders.models import Order, OrderLine, OrderPart
from coopmarket.orders.schemas import (
    OrderLineOut,
    OrderOut,
    OrderPartOut,
    PaymentSummary,
    PlaceOrderIn,
    ShippingAddressOut,
)
from coopmarket.orders.states import OrderStatus, PartStatus
from coopmarket.products import service as products_service
from coopmarket.regions import service as regions_service
from coopmarket.settings import Settings

_INSERT_ORDER = insert(Order.metadata.tables["orders"])
_INSERT_PART = insert(OrderPart.metadata.tables["order_part"])
_INSERT_LINE = insert(OrderLine.metadata.tables["order_line"])


async def place_order(
    session: AsyncSession, settings: Settings, principal: Principal, data: PlaceOrderIn
) -> OrderOut:
    """Take stock and write the order split into one part per cooperative.

    Joins the caller's transaction and does not commit: the idempotency executor commits the
    order together with the stored answer. Prices come from the database, never the client.
    A part of a cooperative the buyer manages is flagged related-party (``orders.duties``), from
    the caller's own cooperatives (no query); only such an order writes an audit entry.
    """
    principal.require_role(*SHOPPER_ROLES)
    if data.payment_method not in settings.payment_providers:
        raise PaymentMethodUnavailable(
            f"Payment method {data.payment_method} is not available.",
            errors=[FieldError("payment_method", "not enabled on this server")],
        )
    sku_ids = [line.sku_id for line in data.lines]
    duplicates = sorted({s for s in sku_ids if sku_ids.count(s) > 1})
    if duplicates:
        raise DuplicateSku(
            "Each SKU may appear on one line only.",
            errors=[FieldError(f"lines[{sku_ids.index(s)}].sku_id", "repeated SKU") for s in duplicates],
        )
    conn = await session.connection()  # Core on the session's connection: no ORM on the hot path
    address = data.shipping_address
    if not await regions_service.region_exists(conn, address.region_code):
        raise InvalidRegion(
            "Unknown shipping region.",
            errors=[FieldError("shipping_address.region_code", "unknown region code")],
        )
    skus = await products_service.skus_for_order(conn, sku_ids)
    missing = [i for i, s in enumerate(sku_ids) if s not in skus]
    if missing:
        raise UnknownSku(
            "Some SKUs do not exist.",
            errors=[FieldError(f"lines[{i}].sku_id", "unknown SKU") for i in missing],
        )
    cooperatives = await coops_service.cooperative_briefs(conn, {skus[s].cooperative_id for s in sku_ids})
    # A suspended cooperative was public: say why it cannot be ordered from (409).
    suspended = [
        i for i, s in enumerate(sku_ids) if cooperatives[skus[s].cooperative_id].status == coops_service.SUSPENDED
    ]
    if suspended:
        raise CooperativeSuspended(
            "A cooperative of this order is suspended: its products cannot be ordered.",
            errors=[FieldError(f"lines[{i}].sku_id", "its cooperative is suspended") for i in suspended],
        )
    # A SKU the public cannot see (archived product, cooperative not approved) is unknown here
    # too, as its product answers 404: ids cannot be probed through checkout.
    hidden = [i for i, s in enumerate(sku_ids) if not skus[s].is_sellable]
    if hidden:
        raise UnknownSku(
            "Some SKUs do not exist or are not on sale.",
            errors=[FieldError(f"lines[{i}].sku_id", "unknown SKU") for i in hidden],
        )

    # Take stock in a fixed order (by SKU id) so that concurrent orders cannot deadlock; each
    # change is recorded in the SKU's stock history under the order's id.
    order_id = new_id()
    quantities = {line.sku_id: line.quantity for line in data.lines}
    for sku_id in sorted(quantities):
        if not await products_service.take_stock(
            conn, sku_id, quantities[sku_id], order_id=order_id, actor_id=principal.id
        ):
            raise OutOfStock("Not enough stock.", extra={"sku_id": sku_id})

    now = clock.now()
    expires_at = now + timedelta(seconds=settings.order_payment_timeout_seconds)
    by_cooperative: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for line in data.lines:
        by_cooperative[skus[line.sku_id].cooperative_id].append((line.sku_id, line.quantity))
    related = duties.related_part_flags(principal, by_cooperative)
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
                    # Art. 41: the supplying member, or None for a non-member transaction.
                    "member_id": sku.member_id,
                    "batch_id": sku.batch_id,
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
                        member_id=sku.member_id,
                    ),
                )
            )
        total += subtotal
        part_rows.append(
            {
                "id": part_id,
                "order_id": order_id,
                "cooperative_id": cooperative_id,
                "status": PartStatus.PENDING_PAYMENT,
                "subtotal_fen": subtotal,
                "refunded_fen": 0,
                "settled_fen": 0,
                "village_code": coop.village_code,
                "collective_sales_share_bps": coop.collective_sales_share_bps,
                "platform_fee_bps": settings.platform_fee_bps,
                "is_related_party": related[cooperative_id],
            }
        )
        lines_out.sort(key=lambda item: item[0])
        parts_out.append(
            OrderPartOut(
                id=part_id,
                cooperative_id=cooperative_id,
                status=PartStatus.PENDING_PAYMENT,
                subtotal_fen=subtotal,
                refunded_fen=0,
                carrier=None,
                tracking_number=None,
                shipped_at=None,
                received_at=None,
                lines=[out for _, out in lines_out],
                is_related_party=related[cooperative_id],
            )
        )
    order_row: dict[str, Any] = {
        "id": order_id,
        "buyer_id": principal.id,
        "status": OrderStatus.PENDING_PAYMENT,
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
        "is_related_party": any(related.values()),
    }
    if data.note is not None:
        order_row["note"] = data.note
    # Core inserts, parents first (one round trip per table).
    await execute_dml(conn, _INSERT_ORDER, order_row)
    await execute_many(conn, _INSERT_PART, part_rows)
    await execute_many(conn, _INSERT_LINE, line_rows)
    await record_event(
        conn,
        EventKind.ORDER_PLACED,
        "order",
        order_id,
        {
            "order_id": order_id,
            "buyer_id": principal.id,
            "status": OrderStatus.PENDING_PAYMENT,
            "total_fen": total,
            "payment_method": data.payment_method,
            "expires_at": expires_at.isoformat(),
            "parts": [
                {"part_id": p["id"], "cooperative_id": p["cooperative_id"], "subtotal_fen": p["subtotal_fen"]}
                for p in part_rows
            ],
        },
    )
    for part in part_rows:
        if part["is_related_party"]:
            await audit.record(
                conn,
                actor=principal,
                action="order.related_party_placed",
                entity="order",
                entity_id=order_id,
                after={
                    "order_id": order_id,
                    "part_id": part["id"],
                    "buyer_id": principal.id,
                    "cooperative_id": part["cooperative_id"],
                    "subtotal_fen": part["subtotal_fen"],
                },
                reason="the buyer manages the selling cooperative",
                region_code=part["village_code"],
                cooperative_id=part["cooperative_id"],
            )
    return OrderOut(
        id=order_id,
        status=OrderStatus.PENDING_PAYMENT,
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
        is_related_party=order_row["is_related_party"],
    )
