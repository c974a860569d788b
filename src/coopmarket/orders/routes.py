"""Orders: checkout, reading, shipping and receipt, refund requests' lists and rejections.

Cancelling, requesting and approving refunds, and paying also move money: their routes are in
``flows/routes.py``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core.http import Caller, Session
from coopmarket.core.openapi import problems
from coopmarket.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from coopmarket.db import Database
from coopmarket.idempotency.http import IdempotencyKeyHeader, run_idempotently
from coopmarket.orders import checkout, fulfilment, phone_reveal, queries, refunds
from coopmarket.orders.schemas import (
    OrderList,
    OrderOut,
    PhoneRevealOut,
    PlaceOrderIn,
    RefundOut,
    RejectRefundIn,
    ShipIn,
)
from coopmarket.settings import Settings

OrderStatus = Literal["pending_payment", "paid", "completed", "cancelled"]


class OrderController(Controller):
    path = "/api/v1/orders"
    tags = ["orders"]

    @post(
        "/",
        status_code=201,
        summary="Place an order (Idempotency-Key required)",
        response_model=OrderOut,
        responses=problems(
            401,
            413,
            idempotent=True,
            codes={
                403: ["forbidden_role"],
                409: ["out_of_stock", "cooperative_suspended"],
                422: ["payment_method_unavailable", "duplicate_sku", "invalid_region", "unknown_sku"],
            },
        ),
    )
    async def place_order(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[PlaceOrderIn],
        principal: Caller,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[Any]:
        """Take stock and create an order split per cooperative; answers 201 with the order."""
        # The database and settings straight from the app's state: with ``principal`` they were
        # three dependencies of one level, which Litestar resolves in an anyio task group (a task
        # each) on every order.
        db: Database = request.app.state.db
        settings: Settings = request.app.state.settings

        async def run(session: AsyncSession) -> tuple[int, OrderOut]:
            return 201, await checkout.place_order(session, settings, principal, data)

        return await run_idempotently(
            db, settings, principal, idempotency_key, "POST /api/v1/orders", data, run
        )

    @get(
        "/",
        summary="Orders the caller may see",
        responses=problems(400, 401, codes={422: ["invalid_cursor"]}),
    )
    async def list_orders(
        self,
        session: Session,
        principal: Caller,
        limit: Annotated[int, QueryParameter(name="limit", ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, QueryParameter(name="cursor", max_length=200)] = None,
        status: Annotated[OrderStatus | None, QueryParameter(name="status")] = None,
    ) -> OrderList:
        """The buyer's own orders, a manager's cooperative parts, staff's scope; newest first."""
        return await queries.list_orders(session, principal, limit=limit, cursor=cursor, status=status)

    @get(
        "/{order_id:str}", summary="One order", responses=problems(400, 401, codes={404: ["order_not_found"]})
    )
    async def get_order(self, session: Session, principal: Caller, order_id: FromPath[str]) -> OrderOut:
        """One order as the caller may see it; 404 when it is not theirs to see."""
        return await queries.get_order(session, principal, order_id)

    @post(
        "/{order_id:str}/parts/{part_id:str}/ship",
        status_code=200,
        summary="Ship a part (its cooperative)",
        responses=problems(
            400, 401, 413, 422, codes={404: ["order_part_not_found"], 409: ["invalid_transition"]}
        ),
    )
    async def ship_part(
        self,
        session: Session,
        principal: Caller,
        order_id: FromPath[str],
        part_id: FromPath[str],
        data: JSONBody[ShipIn],
    ) -> OrderOut:
        """The cooperative's manager marks its paid part shipped."""
        return await fulfilment.ship_part(session, principal, order_id, part_id, data)

    @post(
        "/{order_id:str}/parts/{part_id:str}/reveal-phone",
        status_code=200,
        summary="The buyer's full phone for a courier waybill (the part's manager; audited)",
        responses=problems(
            400,
            401,
            codes={
                403: ["forbidden_role"],
                404: ["order_part_not_found"],
                409: ["phone_not_revealable"],
            },
        ),
    )
    async def reveal_phone(
        self, session: Session, principal: Caller, order_id: FromPath[str], part_id: FromPath[str]
    ) -> PhoneRevealOut:
        """Order answers keep the phone masked; each reveal writes an audit entry (never the number)."""
        return await phone_reveal.reveal_phone(session, principal, order_id, part_id)

    @post(
        "/{order_id:str}/parts/{part_id:str}/receive",
        status_code=200,
        summary="Confirm receipt (buyer; staff for a related-party part)",
        responses=problems(
            400,
            401,
            codes={
                403: ["related_party_receipt"],
                404: ["order_not_found", "order_part_not_found"],
                409: ["invalid_transition"],
            },
        ),
    )
    async def receive_part(
        self, session: Session, principal: Caller, order_id: FromPath[str], part_id: FromPath[str]
    ) -> OrderOut:
        """The buyer confirms receipt; the part is settled in the ledger (a related-party part: staff)."""
        return await fulfilment.receive_part(session, principal, order_id, part_id)


class RefundController(Controller):
    path = "/api/v1/refunds"
    tags = ["orders"]

    @post(
        "/{refund_id:str}/reject",
        status_code=200,
        summary="Reject a buyer's refund request (its cooperative or staff)",
        responses=problems(
            400,
            401,
            413,
            422,
            codes={
                403: ["forbidden_role", "related_party_refund"],
                404: ["refund_not_found"],
                409: ["invalid_transition"],
            },
        ),
    )
    async def reject_refund(
        self, session: Session, principal: Caller, refund_id: FromPath[str], data: JSONBody[RejectRefundIn]
    ) -> RefundOut:
        """The part's cooperative manager or staff in scope reject with a reason; nothing moves."""
        return await refunds.reject_refund(session, principal, refund_id, data.reason)


routes = [OrderController, RefundController]
