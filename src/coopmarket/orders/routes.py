"""Orders: checkout, reading, cancellation, shipping and receipt."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from litestar import Controller, Response, get, post
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core.http import AppSettings, Caller, Db, Session
from coopmarket.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from coopmarket.idempotency import service as idempotency_service
from coopmarket.idempotency.http import IdempotencyKeyHeader, idempotent_response
from coopmarket.orders import service
from coopmarket.orders.schemas import CancelIn, OrderList, OrderOut, PlaceOrderIn, ShipIn

OrderStatus = Literal["pending_payment", "paid", "completed", "cancelled"]


class OrderController(Controller):
    path = "/api/v1/orders"
    tags = ["orders"]

    @post("/", status_code=201, summary="Place an order (Idempotency-Key required)", response_model=OrderOut)
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

        result = await idempotency_service.execute(
            db,
            user_id=principal.id,
            key=idempotency_key,
            scope="POST /api/v1/orders",
            body=data,
            ttl=timedelta(hours=settings.idempotency_ttl_hours),
            run=run,
        )
        return idempotent_response(result)

    @get("/", summary="Orders the caller may see")
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

    @get("/{order_id:str}", summary="One order")
    async def get_order(self, session: Session, principal: Caller, order_id: FromPath[str]) -> OrderOut:
        """One order as the caller may see it; 404 when it is not theirs to see."""
        return await service.get_order(session, principal, order_id)

    @post("/{order_id:str}/cancel", status_code=200, summary="Cancel what has not shipped")
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
        "/{order_id:str}/parts/{part_id:str}/ship", status_code=200, summary="Ship a part (its cooperative)"
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

    @post("/{order_id:str}/parts/{part_id:str}/receive", status_code=200, summary="Confirm receipt (buyer)")
    async def receive_part(
        self, session: Session, principal: Caller, order_id: FromPath[str], part_id: FromPath[str]
    ) -> OrderOut:
        """The buyer confirms receipt; the part is settled in the ledger."""
        return await service.receive_part(session, principal, order_id, part_id)


routes = [OrderController]
