"""Payments: start or resume, record offline money, provider webhooks."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, post
from litestar.params import FromPath, HeaderParameter, JSONBody
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core.http import AppSettings, Caller, Db, Session
from coopmarket.core.openapi import NO_TOKEN_NEEDED, problems
from coopmarket.idempotency.http import IdempotencyKeyHeader, run_idempotently
from coopmarket.payments import service, stripe_provider
from coopmarket.payments.schemas import OfflinePaymentIn, PaymentOut, PaymentStartOut, StartPaymentIn


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
                409: ["order_not_payable", "order_expired"],
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
        data: JSONBody[StartPaymentIn | None] = None,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[Any]:
        """The buyer starts paying: offline instructions, or a Stripe PaymentIntent's client secret."""
        body = data or StartPaymentIn()

        async def run(session: AsyncSession) -> tuple[int, PaymentStartOut]:
            return 200, await service.start_payment(session, settings, principal, order_id, body.provider)

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
                403: ["forbidden_role"],
                404: ["order_not_found"],
                409: ["order_not_payable", "payment_already_recorded"],
                422: ["amount_mismatch"],
            },
        ),
    )
    async def record_offline_payment(
        self, order_id: FromPath[str], session: Session, principal: Caller, data: JSONBody[OfflinePaymentIn]
    ) -> PaymentOut:
        """The manager of every part, or staff covering them, records a bank transfer or cash payment."""
        return await service.record_offline_payment(session, principal, order_id, data)


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
        settings: AppSettings,
        stripe_signature: Annotated[
            str | None, HeaderParameter(name="Stripe-Signature", required=False)
        ] = None,
    ) -> dict[str, str]:
        """Stripe reports an event: verified on the raw body, then applied exactly once."""
        payload = await request.body()
        outcome = await stripe_provider.handle_webhook(session, settings, payload, stripe_signature)
        return {"received": "true", "outcome": outcome}


routes: list[type] = [OrderPaymentController, StripeWebhookController]
