"""The Stripe adapter: a PaymentIntent per order and amount, refunds, and the webhook's events.

Every call to Stripe that creates something carries a deterministic idempotency key per business
operation (``coopmarket-order-{order_id}-pi-{amount}``, ``coopmarket-refund-{refund_id}``): a retry
after a crash or a lost answer finds the object made the first time instead of charging or
refunding twice (the SDK's own random key only covers its internal retries).

I/O and translation only: Stripe's answers become ``providers`` values; nothing here touches a
session or the ledger. The ``StripeClient`` is built once per app (``open_stripe``, from the
lifespan in ``app.py``) and closed at shut-down.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import stripe
from pydantic import SecretStr

from coopmarket.payments.errors import (
    InvalidPayload,
    InvalidSignature,
    ProviderNotEnabled,
    ProviderUnavailable,
    RefundRefused,
)
from coopmarket.payments.providers import (
    STRIPE,
    Change,
    ListedPayment,
    ListedRefund,
    NoQueries,
    PaymentStatus,
    PaymentStatusChanged,
    PaymentSucceeded,
    ProviderEvent,
    RefundOrder,
    RefundSent,
    RefundState,
    RefundUpdated,
    Started,
    StartRequest,
    Window,
)
from coopmarket.settings import Settings

log = logging.getLogger(__name__)

CURRENCY = "cny"  # Stripe's minor unit of CNY is the fen
WEBHOOK_TOLERANCE_SECONDS = 300
LIST_PAGE_SIZE = 100  # Stripe's largest page
SIGNATURE_HEADER = "stripe-signature"

# Stripe's PaymentIntent statuses as our payment's status.
_PAYMENT_STATUS = {
    "requires_payment_method": PaymentStatus.REQUIRES_PAYMENT,
    "requires_confirmation": PaymentStatus.REQUIRES_PAYMENT,
    "requires_action": PaymentStatus.REQUIRES_PAYMENT,
    "requires_capture": PaymentStatus.PROCESSING,
    "processing": PaymentStatus.PROCESSING,
    "canceled": PaymentStatus.CANCELED,
    "succeeded": PaymentStatus.SUCCEEDED,
}
# Stripe's refund statuses as ours.
_REFUND_STATUS = {
    "succeeded": RefundState.SUCCEEDED,
    "failed": RefundState.FAILED,
    "canceled": RefundState.FAILED,
    "pending": RefundState.PENDING,
    "requires_action": RefundState.PENDING,
}


def intent_idempotency_key(order_id: str, amount_fen: int) -> str:
    """The one key under which an order's PaymentIntent for ``amount_fen`` is created.

    The amount is part of the key: when a cooperative cancels its part before payment, the order's
    total drops, and the buyer must be charged the new total through a new intent.
    """
    return f"coopmarket-order-{order_id}-pi-{amount_fen}"


def refund_idempotency_key(refund_id: str) -> str:
    """The one key under which a refund is sent to Stripe."""
    return f"coopmarket-refund-{refund_id}"


def build_client(settings: Settings, http_client: stripe.HTTPClient | None = None) -> stripe.StripeClient:
    """A ``StripeClient`` for ``settings`` (async HTTP through httpx; ``stripe_api_base`` for tests)."""
    if settings.stripe_secret_key is None:
        raise ProviderUnavailable("Stripe is not configured on this server.")
    return stripe.StripeClient(
        settings.stripe_secret_key.get_secret_value(),
        base_addresses={"api": settings.stripe_api_base} if settings.stripe_api_base else None,
        http_client=http_client or stripe.HTTPXClient(timeout=settings.stripe_timeout_seconds),
        # The SDK retries a call that timed out or failed to connect with the same idempotency key.
        max_network_retries=settings.stripe_max_network_retries,
    )


@contextlib.asynccontextmanager
async def open_stripe(
    settings: Settings, http_client: stripe.HTTPClient | None = None
) -> AsyncIterator[StripeProvider]:
    """The app's Stripe provider; the HTTP client it opened is closed on exit.

    ``http_client``: a stand-in transport (tests), closed by its owner.
    """
    owned = None if http_client is not None else stripe.HTTPXClient(timeout=settings.stripe_timeout_seconds)
    provider = StripeProvider(build_client(settings, http_client or owned), settings.stripe_webhook_secret)
    try:
        yield provider
    finally:
        if owned is not None:
            try:
                await owned.close_async()
            except Exception:  # shut-down goes on: a client that cannot close leaks a socket, no more
                log.debug("closing the Stripe HTTP client failed", exc_info=True)


def _unavailable(exc: stripe.StripeError) -> ProviderUnavailable:
    log.warning("Stripe call failed: %s (%s)", type(exc).__name__, getattr(exc, "code", None))
    return ProviderUnavailable("The payment provider did not answer; try again shortly.")


class StripeProvider(NoQueries):
    """Stripe PaymentIntents (cards, WeChat Pay and Alipay through Stripe), refunds and webhooks."""

    name = STRIPE
    sends_refunds = True
    keeps_records = True

    def __init__(self, client: stripe.StripeClient, webhook_secret: SecretStr | None) -> None:
        self._client = client
        self._webhook_secret = webhook_secret

    async def start(self, request: StartRequest) -> Started:
        """Create the order's PaymentIntent for this amount the first time, retrieve it afterwards."""
        try:
            if request.resume_ref is None:
                intent = await self._client.v1.payment_intents.create_async(
                    params={
                        "amount": request.amount_fen,
                        "currency": CURRENCY,
                        "metadata": {"order_id": request.order_id},
                    },
                    options={"idempotency_key": intent_idempotency_key(request.order_id, request.amount_fen)},
                )
            else:
                intent = await self._client.v1.payment_intents.retrieve_async(request.resume_ref)
        except stripe.StripeError as exc:
            raise _unavailable(exc) from exc
        data = intent.to_dict()
        return Started(
            provider=STRIPE,
            provider_ref=str(data["id"]),
            status=_PAYMENT_STATUS.get(str(data["status"]), PaymentStatus.REQUIRES_PAYMENT),
            amount_fen=int(data["amount"]),
            received_fen=int(data.get("amount_received") or data["amount"]),
            client_status=str(data["status"]),
            client_secret=data.get("client_secret"),
            next_action=data.get("next_action"),
            currency=data.get("currency", CURRENCY),
        )

    async def refund(self, request: RefundOrder) -> RefundSent:
        """Refund part of a PaymentIntent under the refund's own idempotency key."""
        try:
            answer = await self._client.v1.refunds.create_async(
                params={
                    "payment_intent": request.payment_ref,
                    "amount": request.amount_fen,
                    "metadata": {"refund_id": request.refund_id},
                },
                options={"idempotency_key": refund_idempotency_key(request.refund_id)},
            )
        except stripe.InvalidRequestError as exc:
            raise RefundRefused(exc.user_message or exc.code or "refused") from exc
        except stripe.StripeError as exc:
            raise _unavailable(exc) from exc
        data = answer.to_dict()
        return RefundSent(str(data["id"]), _REFUND_STATUS.get(str(data.get("status")), RefundState.PENDING))

    def parse_event(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """The event in ``payload`` when its ``Stripe-Signature`` is valid and recent; 400 otherwise."""
        if self._webhook_secret is None:
            raise ProviderNotEnabled("Stripe payments are not enabled here.")
        signature = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER), None)
        try:
            event = stripe.Webhook.construct_event(
                payload,
                signature,  # None fails verification, as it should
                self._webhook_secret.get_secret_value(),
                tolerance=WEBHOOK_TOLERANCE_SECONDS,
            )
        except stripe.SignatureVerificationError as exc:
            raise InvalidSignature("The Stripe signature is missing, wrong or stale.") from exc
        except ValueError as exc:
            raise InvalidPayload("The event is not valid JSON.") from exc
        data: dict[str, Any] = event.to_dict()
        obj = data.get("data", {}).get("object")
        if not isinstance(data.get("id"), str) or not isinstance(obj, dict):
            raise InvalidPayload("The event has no id or object.")
        event_type = str(data.get("type", ""))
        return ProviderEvent(id=data["id"], type=event_type, changes=_changes(event_type, obj))


    async def list_payments(self, window: Window) -> Sequence[ListedPayment]:
        """Every PaymentIntent created in ``window``, all pages (newest first, as Stripe lists them)."""
        found: list[ListedPayment] = []
        try:
            page = await self._client.v1.payment_intents.list_async(params=_window_params(window))
            async for intent in page.auto_paging_iter():
                data = intent.to_dict()
                status = _PAYMENT_STATUS.get(str(data["status"]), PaymentStatus.REQUIRES_PAYMENT)
                order_id = (data.get("metadata") or {}).get("order_id")
                found.append(
                    ListedPayment(
                        provider_ref=str(data["id"]),
                        status=status,
                        amount_fen=int(data["amount"]),
                        received_fen=int(data.get("amount_received") or 0),
                        order_id=None if order_id is None else str(order_id),
                        created_at=_time(data.get("created")),
                    )
                )
        except stripe.StripeError as exc:
            raise _unavailable(exc) from exc
        return found

    async def list_refunds(self, window: Window) -> Sequence[ListedRefund]:
        """Every refund created in ``window``, all pages; ours carry our id in ``metadata.refund_id``."""
        found: list[ListedRefund] = []
        try:
            page = await self._client.v1.refunds.list_async(params=_window_params(window))
            async for refund in page.auto_paging_iter():
                data = refund.to_dict()
                update = _refund_update(data)
                payment_ref = data.get("payment_intent")
                found.append(
                    ListedRefund(
                        provider_ref=update.provider_ref,
                        payment_ref=None if payment_ref is None else str(payment_ref),
                        amount_fen=int(data["amount"]),
                        status=update.status,
                        refund_id=update.refund_id,
                        created_at=_time(data.get("created")),
                        failure_reason=update.failure_reason,
                    )
                )
        except stripe.StripeError as exc:
            raise _unavailable(exc) from exc
        return found


def _window_params(window: Window) -> Any:
    """Stripe's ``created`` filter (whole seconds: ``since`` rounded down, ``until`` up, so nothing
    inside the window is left out) and its largest page."""
    since = int(window.since.timestamp())
    until = int(window.until.timestamp())
    if until < window.until.timestamp():
        until += 1
    return {"created": {"gte": since, "lt": until}, "limit": LIST_PAGE_SIZE}


def _time(created: Any) -> datetime:
    return datetime.fromtimestamp(int(created or 0), tz=UTC)


def _changes(event_type: str, obj: dict[str, Any]) -> tuple[Change, ...]:
    if event_type == "payment_intent.succeeded":
        order_id = (obj.get("metadata") or {}).get("order_id")
        return (
            PaymentSucceeded(
                provider_ref=str(obj["id"]),
                amount_fen=int(obj.get("amount_received") or obj["amount"]),
                order_id=None if order_id is None else str(order_id),
            ),
        )
    if event_type == "payment_intent.payment_failed":
        return (PaymentStatusChanged(str(obj["id"]), PaymentStatus.FAILED),)
    if event_type == "payment_intent.canceled":
        return (PaymentStatusChanged(str(obj["id"]), PaymentStatus.CANCELED),)
    if event_type.startswith("refund.") or event_type == "charge.refund.updated":
        return (_refund_update(obj),)
    if event_type == "charge.refunded":
        # Recent API versions leave ``refunds`` out of the charge; ``refund.*`` events carry them.
        return tuple(_refund_update(r) for r in (obj.get("refunds") or {}).get("data") or [])
    return ()


def _refund_update(refund: dict[str, Any]) -> RefundUpdated:
    refund_id = (refund.get("metadata") or {}).get("refund_id")
    failure_reason = refund.get("failure_reason")
    return RefundUpdated(
        provider_ref=str(refund["id"]),
        status=_REFUND_STATUS.get(str(refund.get("status")), RefundState.PENDING),
        refund_id=None if refund_id is None else str(refund_id),
        failure_reason=None if failure_reason is None else str(failure_reason),
    )
