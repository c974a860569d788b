"""Orders: checkout, reading, cancellation, shipping and receipt."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Response, get, post
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core.http import AppSettings, Caller, Db, Session
from coopmarket.core.openapi import problems
from coopmarket.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from coopmarket.idempotency.http import IdempotencyKeyHeader, run_idempotently
from coopmarket.orders import refunds, service
from coopmarket.orders.schemas import (
    CancelIn,
    OrderList,
    OrderOut,
    PlaceOrderIn,
    RefundIn,
    RefundList,
    RefundOut,
    RejectRefundIn,
    ShipIn,
)

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
                409: ["out_of_stock"],
                422: ["payment_method_unavailable", "duplicate_sku", "invalid_region", "unknown_sku"],
            },
        ),
    )
    async def place_order(
        self,
        data: JSONBody[PlaceOrderIn],
        db: Db,
        settings: AppSettings,
        principal: Caller,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[Any]:
        """Take stock and create an order split per cooperative; answers 201 with the order."""

        async def run(session: AsyncSession) -> tuple[int, OrderOut]:
            return 201, await service.place_order(session, settings, principal, data)

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
        return await service.list_orders(session, principal, limit=limit, cursor=cursor, status=status)

    @get(
        "/{order_id:str}", summary="One order", responses=problems(400, 401, codes={404: ["order_not_found"]})
    )
    async def get_order(self, session: Session, principal: Caller, order_id: FromPath[str]) -> OrderOut:
        """One order as the caller may see it; 404 when it is not theirs to see."""
        return await service.get_order(session, principal, order_id)

    @post(
        "/{order_id:str}/cancel",
        status_code=200,
        summary="Cancel what has not shipped",
        responses=problems(
            400,
            401,
            413,
            422,
            codes={
                404: ["order_not_found"],
                409: [
                    "order_already_shipped",
                    "invalid_transition",
                    "concurrent_update",
                    "no_payment_to_refund",
                ],
            },
        ),
    )
    async def cancel_order(
        self,
        session: Session,
        principal: Caller,
        order_id: FromPath[str],
        data: JSONBody[CancelIn | None] = None,
    ) -> OrderOut:
        """Cancel unshipped parts: stock is released and paid parts are refunded."""
        return await service.cancel_order(session, principal, order_id, data.reason if data else None)

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
        return await service.ship_part(session, principal, order_id, part_id, data)

    @post(
        "/{order_id:str}/parts/{part_id:str}/receive",
        status_code=200,
        summary="Confirm receipt (buyer)",
        responses=problems(
            400, 401, codes={404: ["order_not_found", "order_part_not_found"], 409: ["invalid_transition"]}
        ),
    )
    async def receive_part(
        self, session: Session, principal: Caller, order_id: FromPath[str], part_id: FromPath[str]
    ) -> OrderOut:
        """The buyer confirms receipt; the part is settled in the ledger."""
        return await service.receive_part(session, principal, order_id, part_id)

    @post(
        "/{order_id:str}/refunds",
        status_code=201,
        summary="Refund part of a paid part: the buyer requests, its cooperative or staff refund at once "
        "(Idempotency-Key required)",
        response_model=RefundOut,
        responses=problems(
            401,
            413,
            idempotent=True,
            codes={
                403: ["forbidden_role"],
                404: ["order_not_found", "order_part_not_found"],
                409: [
                    "invalid_transition",
                    "refund_exceeds_paid",
                    "concurrent_update",
                    "no_payment_to_refund",
                ],
                422: ["refund_exceeds_paid"],
            },
        ),
    )
    async def request_refund(
        self,
        order_id: FromPath[str],
        data: JSONBody[RefundIn],
        db: Db,
        settings: AppSettings,
        principal: Caller,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[Any]:
        """201 with the refund: ``requested`` for the buyer, ``approved`` (and paid back) for a decider."""

        async def run(session: AsyncSession) -> tuple[int, RefundOut]:
            return 201, await refunds.request_refund(session, principal, order_id, data)

        return await run_idempotently(
            db, settings, principal, idempotency_key, f"POST /api/v1/orders/{order_id}/refunds", data, run
        )

    @get(
        "/{order_id:str}/refunds",
        summary="The refunds of an order's parts the caller may see",
        responses=problems(400, 401, codes={404: ["order_not_found"]}),
    )
    async def list_refunds(self, session: Session, principal: Caller, order_id: FromPath[str]) -> RefundList:
        """The buyer sees every refund of the order; a manager or staff those of their parts."""
        return await refunds.list_refunds(session, principal, order_id)


class RefundController(Controller):
    path = "/api/v1/refunds"
    tags = ["orders"]

    @post(
        "/{refund_id:str}/approve",
        status_code=200,
        summary="Approve a buyer's refund request (its cooperative or staff): it is paid back now",
        responses=problems(
            400,
            401,
            codes={
                403: ["forbidden_role"],
                404: ["refund_not_found"],
                409: [
                    "invalid_transition",
                    "refund_exceeds_paid",
                    "concurrent_update",
                    "no_payment_to_refund",
                ],
            },
        ),
    )
    async def approve_refund(
        self, session: Session, principal: Caller, refund_id: FromPath[str]
    ) -> RefundOut:
        """The part's cooperative manager or staff in scope approve; 409 when decided already."""
        return await refunds.approve_refund(session, principal, refund_id)

    @post(
        "/{refund_id:str}/reject",
        status_code=200,
        summary="Reject a buyer's refund request (its cooperative or staff)",
        responses=problems(
            400,
            401,
            413,
            422,
            codes={403: ["forbidden_role"], 404: ["refund_not_found"], 409: ["invalid_transition"]},
        ),
    )
    async def reject_refund(
        self, session: Session, principal: Caller, refund_id: FromPath[str], data: JSONBody[RejectRefundIn]
    ) -> RefundOut:
        """The part's cooperative manager or staff in scope reject with a reason; nothing moves."""
        return await refunds.reject_refund(session, principal, refund_id, data.reason)


routes = [OrderController, RefundController]
