"""HTTP routes of webhook subscriptions (district staff): create, list, delete, dead letters, replay."""

from __future__ import annotations

from litestar import Controller, delete, get, post
from litestar.params import FromPath, JSONBody

from coopmarket.core.http import AppSettings, Caller, Db, Session
from coopmarket.core.openapi import problems
from coopmarket.events import subscriptions
from coopmarket.events.schemas import (
    DeadLetterList,
    ReplayOut,
    WebhookSubscriptionCreated,
    WebhookSubscriptionIn,
    WebhookSubscriptionList,
)

NOT_FOUND = {403: ["forbidden_role"], 404: ["webhook_subscription_not_found"]}


class WebhookSubscriptionController(Controller):
    path = "/api/v1/webhook-subscriptions"
    tags = ["webhooks"]

    @post(
        "/",
        status_code=201,
        summary="Subscribe a URL to events (district staff); the signing secret is shown once",
        responses=problems(400, 401, 413, codes={403: ["forbidden_role"], 422: ["invalid_webhook_url"]}),
    )
    async def create(
        self,
        data: JSONBody[WebhookSubscriptionIn],
        session: Session,
        principal: Caller,
        settings: AppSettings,
    ) -> WebhookSubscriptionCreated:
        """Deliveries are POSTs signed with `Coopmarket-Signature: t=…,v1=…` (HMAC-SHA256 over `{t}.{body}`)."""
        return await subscriptions.create(session, principal, data, settings)

    @get(
        "/",
        summary="Webhook subscriptions with their owed and dead deliveries (district staff)",
        responses=problems(400, 401, codes={403: ["forbidden_role"]}),
    )
    async def list_subscriptions(self, db: Db, principal: Caller) -> WebhookSubscriptionList:
        """Live subscriptions; never their secrets."""
        async with db.read() as conn:
            return await subscriptions.list_subscriptions(conn, principal)

    @delete(
        "/{subscription_id:str}",
        status_code=204,
        summary="Stop a webhook subscription (district staff)",
        responses=problems(400, 401, codes=NOT_FOUND),
    )
    async def delete_subscription(
        self, subscription_id: FromPath[str], session: Session, principal: Caller
    ) -> None:
        """No more deliveries to it."""
        await subscriptions.delete(session, principal, subscription_id)

    @get(
        "/{subscription_id:str}/dead-letters",
        summary="Deliveries that failed every attempt (district staff)",
        responses=problems(400, 401, codes=NOT_FOUND),
    )
    async def dead_letters(self, subscription_id: FromPath[str], db: Db, principal: Caller) -> DeadLetterList:
        """Each with its event, attempts and last answer."""
        async with db.read() as conn:
            return await subscriptions.dead_letters(conn, principal, subscription_id)

    @post(
        "/{subscription_id:str}/replay",
        status_code=200,
        summary="Send the subscription's dead letters again (district staff)",
        responses=problems(400, 401, codes=NOT_FOUND),
    )
    async def replay(self, subscription_id: FromPath[str], session: Session, principal: Caller) -> ReplayOut:
        """Every dead letter is owed again, its attempts starting over."""
        return await subscriptions.replay(session, principal, subscription_id)


routes = [WebhookSubscriptionController]
