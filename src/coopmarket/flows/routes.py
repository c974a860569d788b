"""HTTP routes of the use cases that join orders and payments: paying, refunding, cancelling.

The other order routes are in ``orders/routes.py``; these are here because their use cases are
flows (see ``flows/__init__.py``). The paths are API.md's. Listing an order's refunds is the orders
slice's alone, but Litestar wants one controller per path, and ``POST`` on that path is a flow.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeAlias

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core.http import AppSettings, Caller, Db, Session
from coopmarket.core.openapi import NO_TOKEN_NEEDED, problems
from coopmarket.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from coopmarket.flows import cancellation, payment, refunds
from coopmarket.idempotency.http import IdempotencyKeyHeader, run_idempotently
from coopmarket.orders import refunds as order_refunds
from coopmarket.orders.schemas import CancelIn, OrderOut, RefundIn, RefundList, RefundOut
from coopmarket.payments.providers import STRIPE, WECHAT_PAY
from coopmarket.payments.registry import PaymentProviders
from coopmarket.payments.schemas import (
    HandedBackIn,
    OfflinePaymentIn,
    PaymentOut,
    PaymentRefundList,
    PaymentRefundOut,
    PaymentStartOut,
    RefundListState,
    StartPaymentIn,
)

# ``app.py`` provides the providers built in its lifespan.
Providers: TypeAlias = NamedDependency[PaymentProviders]


class OrderFlowController(Controller):
    path = "/api/v1/orders/{order_id:str}"
    tags = ["orders"]

    @post(
        "/cancel",
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
        return await cancellation.cancel_order(session, principal, order_id, data.reason if data else None)

    @post(
        "/refunds",
        status_code=201,
        summary="Refund part of a paid part: the buyer requests, its cooperative or staff refund at once "
        "(Idempotency-Key required)",
        response_model=RefundOut,
        responses=problems(
            401,
            413,
            idempotent=True,
            codes={
                403: ["forbidden_role", "related_party_refund"],
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
        "/refunds",
        summary="The refunds of an order's parts the caller may see",
        responses=problems(400, 401, codes={404: ["order_not_found"]}),
    )
    async def list_refunds(self, session: Session, principal: Caller, order_id: FromPath[str]) -> RefundList:
        """The buyer sees every refund of the order; a manager or staff those of their parts."""
        return await order_refunds.list_refunds(session, principal, order_id)


class RefundFlowController(Controller):
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
                403: ["forbidden_role", "related_party_refund"],
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
        "/{refund_id:str}/handed-back",
        status_code=200,
        summary="Record that an offline refund was paid back to the buyer (that part's manager, staff)",
        responses=problems(
            400,
            401,
            413,
            422,
            codes={
                403: ["forbidden_role", "related_party_refund", "related_party_payment"],
                404: ["refund_not_found"],
                409: ["refund_not_offline", "refund_not_outstanding"],
            },
        ),
    )
    async def hand_back(
        self, session: Session, principal: Caller, refund_id: FromPath[str], data: JSONBody[HandedBackIn]
    ) -> PaymentRefundOut:
        """The refund becomes ``succeeded`` with the pay-back's reference; 409 when not outstanding."""
        return await refunds.hand_back(session, principal, refund_id, data.reference)

    @get(
        "/",
        summary="Refunds waiting for a person: offline ones not handed back, or failed ones (managers, staff)",
        responses=problems(400, 401, codes={403: ["forbidden_role"], 422: ["invalid_cursor"]}),
    )
    async def list_refunds(
        self,
        db: Db,
        principal: Caller,
        status: Annotated[
            RefundListState,
            QueryParameter(
                name="status",
                description="`outstanding`: offline refunds not handed back yet; "
                "`failed`: provider refunds that could not be paid (refund them again)",
            ),
        ],
        limit: Annotated[int, QueryParameter(name="limit", ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, QueryParameter(name="cursor", max_length=200)] = None,
    ) -> PaymentRefundList:
        """Managers see their cooperatives' refunds, staff their region's; oldest first."""
        async with db.read() as conn:
            return await refunds.list_refunds(conn, principal, state=status, limit=limit, cursor=cursor)


class OrderPaymentController(Controller):
    path = "/api/v1/orders/{order_id:str}"
    tags = ["payments"]

    @post(
        "/payments",
        status_code=200,
        summary="Start or resume payment (Idempotency-Key required)",
        response_model=PaymentStartOut,
        responses=problems(
            401,
            413,
            idempotent=True,
            codes={
                404: ["order_not_found"],
                409: ["order_not_payable", "order_expired", "cooperative_suspended"],
                422: ["payment_method_unavailable"],
                503: ["payment_provider_unavailable"],
            },
        ),
    )
    async def start_payment(
        self,
        order_id: FromPath[str],
        db: Db,
        settings: AppSettings,
        principal: Caller,
        providers: Providers,
        data: JSONBody[StartPaymentIn | None] = None,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[Any]:
        """The buyer starts paying: offline instructions, or a Stripe PaymentIntent's client secret."""
        body = data or StartPaymentIn()

        async def run(session: AsyncSession) -> tuple[int, PaymentStartOut]:
            return 200, await payment.start_payment(
                db, session, providers, principal, order_id, body.chosen
            )

        return await run_idempotently(
            db, settings, principal, idempotency_key, f"POST /api/v1/orders/{order_id}/payments", body, run
        )

    @post(
        "/offline-payments",
        status_code=201,
        summary="Record money received offline",
        responses=problems(
            400,
            401,
            413,
            codes={
                403: ["forbidden_role", "related_party_payment"],
                404: ["order_not_found"],
                409: [
                    "order_not_payable",
                    "order_expired",
                    "order_not_expired",
                    "payment_already_recorded",
                    "cooperative_suspended",
                ],
                422: ["amount_mismatch"],
            },
        ),
    )
    async def record_offline_payment(
        self, order_id: FromPath[str], session: Session, principal: Caller, data: JSONBody[OfflinePaymentIn]
    ) -> PaymentOut:
        """The manager of every part, or staff covering them, records a bank transfer or cash payment.

        A related-party order needs staff. An expired order takes none: with ``hold_for_refund``
        money that really arrived is held in suspense and refunded in full (``refund_id``).
        """
        return await payment.record_offline_payment(session, principal, order_id, data)


class StripeWebhookController(Controller):
    path = "/api/v1/payments/stripe"
    tags = ["payments"]

    @post(
        "/webhook",
        status_code=200,
        summary="Stripe webhook (signature checked)",
        security=NO_TOKEN_NEEDED,
        responses=problems(
            413, codes={400: ["invalid_signature", "invalid_payload"], 404: ["provider_not_enabled"]}
        ),
    )
    async def stripe_webhook(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        providers: Providers,
        stripe_signature: Annotated[
            str | None, HeaderParameter(name="Stripe-Signature", required=False)
        ] = None,
    ) -> dict[str, str]:
        """Stripe reports an event: verified on the raw body, then applied exactly once."""
        payload = await request.body()
        headers = {"Stripe-Signature": stripe_signature} if stripe_signature is not None else {}
        outcome = await payment.handle_provider_event(session, providers, STRIPE, payload, headers)
        return {"received": "true", "outcome": outcome}


class WechatPayNotifyController(Controller):
    path = "/api/v1/payments/wechat"
    tags = ["payments"]

    @post(
        "/notify",
        status_code=204,
        summary="WeChat Pay notification (signature and time window checked, resource decrypted)",
        security=NO_TOKEN_NEEDED,
        responses=problems(
            413, codes={400: ["invalid_signature", "invalid_payload"], 404: ["provider_not_enabled"]}
        ),
    )
    async def wechat_pay_notify(
        self, request: Request[Any, Any, Any], session: Session, providers: Providers
    ) -> None:
        """WeChat Pay reports a payment or a refund: verified on the raw body, applied exactly once.

        204 (WeChat's "received"); any error answer makes WeChat deliver it again later.
        """
        payload = await request.body()
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith("wechatpay-")}
        await payment.handle_provider_event(session, providers, WECHAT_PAY, payload, headers)


routes: list[type] = [
    OrderFlowController,
    RefundFlowController,
    OrderPaymentController,
    StripeWebhookController,
    WechatPayNotifyController,
]
