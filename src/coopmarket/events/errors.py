"""Refusals of the webhook subscriptions, each with a stable ``code``."""

from __future__ import annotations

from coopmarket.core.errors import NotFound, ValidationFailed


class SubscriptionNotFound(NotFound):
    default_code = "webhook_subscription_not_found"


class InvalidWebhookUrl(ValidationFailed):
    default_code = "invalid_webhook_url"
