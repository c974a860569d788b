"""The Stripe adapter: a PaymentIntent per order, the webhook, and refunds sent after commit.

Every call to Stripe that creates something carries a deterministic idempotency key per business
operation (``coopmarket-order-{order_id}-pi``, ``coopmarket-refund-{refund_id}``): a retry after a
crash or a lost answer finds the object made the first time instead of charging or refunding
twice (the SDK's own random key only covers its internal retries). Money reaches the ledger only
through ``payments.service`` (``apply_provider_success``, ``refund_part``).

One ``StripeClient`` per settings object (per app): ``open_client`` at start-up (``app.py``),
``client_for`` where it is needed, ``close_client`` at shut-down.
"""

from __future__ import annotations

import logging
from typing import Any, cast

import stripe
from sqlalchemy import select, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core.errors import BadRequest, NotFound, UpstreamUnavailable
from coopmarket.db import Database
from coopmarket.orders.schemas import OrderForPayment
from coopmarket.payments import service
from coopmarket.payments.models import Payment, PaymentRefund
from coopmarket.payments.schemas import PaymentStartOut
from coopmarket.settings import Settings

log = logging.getLogger(__name__)

STRIPE = service.STRIPE
CURRENCY = "cny"  # Stripe's minor unit of CNY is the fen
WEBHOOK_TOLERANCE_SECONDS = 300
TIMEOUT_SECONDS = 20.0
MAX_NETWORK_RETRIES = 2  # the SDK retries with the same idempotency key

# Stripe's PaymentIntent statuses as our payment's status.
_PAYMENT_STATUS = {
    "requires_payment_method": "requires_payment",
    "requires_confirmation": "requires_payment",
    "requires_action": "requires_payment",
    "requires_capture": "processing",
    "processing": "processing",
    "canceled": "canceled",
}
# Stripe's refund statuses as ours: pending | succeeded | failed.
_REFUND_STATUS = {
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "failed",
    "pending": "pending",
    "requires_action": "pending",
}

_clients: dict[int, tuple[Settings, stripe.StripeClient, stripe.HTTPClient | None]] = {}


def intent_idempotency_key(order_id: str, amount_fen: int) -> str:
    """The one key under which an order's PaymentIntent for ``amount_fen`` is created.

    The amount is part of the key: when a cooperative cancels its part before payment, the order's
    total drops, and the buyer must be charged the new total through a new intent.
    """
    return f"coopmarket-order-{order_id}-pi-{amount_fen}"


def refund_idempotency_key(refund_id: str) -> str:
    """The one key under which a refund is sent to Stripe."""
    return f"coopmarket-refund-{refund_id}"


# ---------------------------------------------------------------- the client


def build_client(settings: Settings, http_client: stripe.HTTPClient | None = None) -> stripe.StripeClient:
    """A ``StripeClient`` for ``settings`` (async HTTP through httpx; ``stripe_api_base`` for tests)."""
    if settings.stripe_secret_key is None:
        raise UpstreamUnavailable(
            "Stripe is not configured on this server.", code="payment_provider_unavailable"
        )
    return stripe.StripeClient(
        settings.stripe_secret_key.get_secret_value(),
        base_addresses={"api": settings.stripe_api_base} if settings.stripe_api_base else None,
        http_client=http_client or stripe.HTTPXClient(timeout=TIMEOUT_SECONDS),
        max_network_retries=MAX_NETWORK_RETRIES,
    )


def open_client(settings: Settings, http_client: stripe.HTTPClient | None = None) -> stripe.StripeClient:
    """Build the app's client once (``http_client``: a stand-in transport, closed by its owner)."""
    entry = _clients.get(id(settings))
    if entry is not None and entry[0] is settings:
        return entry[1]
    owned = None if http_client is not None else stripe.HTTPXClient(timeout=TIMEOUT_SECONDS)
    client = build_client(settings, http_client or owned)
    _clients[id(settings)] = (settings, client, owned)
    return client


def client_for(settings: Settings) -> stripe.StripeClient:
    """The client opened for ``settings`` (opened now when the app did not)."""
    return open_client(settings)


async def close_client(settings: Settings) -> None:
    """Forget the client of ``settings`` and close the HTTP client it owns."""
    entry = _clients.pop(id(settings), None)
    if entry is None or entry[0] is not settings or entry[2] is None:
        return
    try:
        await entry[2].close_async()
    except Exception:  # closing on another event loop (tests) must not fail shut-down
        log.debug("closing the Stripe HTTP client failed", exc_info=True)


def _unavailable(exc: stripe.StripeError) -> UpstreamUnavailable:
    log.warning("Stripe call failed: %s (%s)", type(exc).__name__, getattr(exc, "code", None))
    return UpstreamUnavailable(
        "The payment provider did not answer; try again shortly.", code="payment_provider_unavailable"
    )


# ---------------------------------------------------------------- starting or resuming a payment


async def start(session: AsyncSession, settings: Settings, order: OrderForPayment) -> PaymentStartOut:
    """Create the order's PaymentIntent the first time, resume it afterwards.

    Ends the caller's (read-only so far) transaction before calling Stripe, then writes in a new
    one that the caller commits.

    A resumed intent that already ``succeeded`` is applied now (the buyer came back before the
    webhook); the webhook then finds it applied. The caller (the idempotency executor) commits.
    """
    client = client_for(settings)
    amount = order.total_fen - order.paid_fen
    # Resume the intent for this amount; an intent for an older total is left unused.
    existing = (
        (
            await session.execute(
                select(Payment)
                .where(
                    col(Payment.order_id) == order.id,
                    col(Payment.provider) == STRIPE,
                    col(Payment.amount_fen) == amount,
                )
                .order_by(col(Payment.created_at).desc())
            )
        )
        .scalars()
        .first()
    )
    # Nothing is written yet: end the read transaction so that no lock (SQLite's write lock,
    # a PostgreSQL snapshot) is held while Stripe answers. Writes below start a new one; they are
    # safe against a concurrent caller (deterministic Stripe key, unique provider_ref).
    await session.commit()
    try:
        if existing is None or existing.provider_ref is None:
            intent = await client.v1.payment_intents.create_async(
                params={"amount": amount, "currency": CURRENCY, "metadata": {"order_id": order.id}},
                options={"idempotency_key": intent_idempotency_key(order.id, amount)},
            )
        else:
            intent = await client.v1.payment_intents.retrieve_async(existing.provider_ref)
    except stripe.StripeError as exc:
        raise _unavailable(exc) from exc
    data = intent.to_dict()
    if existing is None:
        await service.record_provider_payment(
            session,
            order_id=order.id,
            provider=STRIPE,
            provider_ref=data["id"],
            amount_fen=int(data["amount"]),
            status=_PAYMENT_STATUS.get(data["status"], "requires_payment"),
        )
    if data["status"] == "succeeded":
        await service.apply_provider_success(
            session,
            provider=STRIPE,
            provider_ref=data["id"],
            amount_fen=int(data.get("amount_received") or data["amount"]),
            order_id=order.id,
        )
    elif data["status"] in _PAYMENT_STATUS:
        await service.set_provider_status(session, STRIPE, data["id"], _PAYMENT_STATUS[data["status"]])
    return PaymentStartOut(
        provider=STRIPE,
        status=data["status"],
        client_secret=data.get("client_secret"),
        next_action=data.get("next_action"),
        amount_fen=int(data["amount"]),
        currency=data.get("currency", CURRENCY),
    )


# ---------------------------------------------------------------- the webhook


def verify_event(settings: Settings, payload: bytes, signature: str | None) -> dict[str, Any]:
    """The event in ``payload`` when its ``Stripe-Signature`` is valid and recent; 400 otherwise."""
    if STRIPE not in settings.payment_providers or settings.stripe_webhook_secret is None:
        raise NotFound("Stripe payments are not enabled here.", code="provider_not_enabled")
    try:
        event = stripe.Webhook.construct_event(
            payload,
            signature,
            settings.stripe_webhook_secret.get_secret_value(),
            tolerance=WEBHOOK_TOLERANCE_SECONDS,
        )
    except stripe.SignatureVerificationError as exc:
        raise BadRequest(
            "The Stripe signature is missing, wrong or stale.", code="invalid_signature"
        ) from exc
    except ValueError as exc:
        raise BadRequest("The event is not valid JSON.", code="invalid_payload") from exc
    data: dict[str, Any] = event.to_dict()
    if not isinstance(data.get("id"), str) or not isinstance(data.get("data", {}).get("object"), dict):
        raise BadRequest("The event has no id or object.", code="invalid_payload")
    return data


async def handle_webhook(
    session: AsyncSession, settings: Settings, payload: bytes, signature: str | None
) -> str:
    """Verify a Stripe event and apply it exactly once, committing the effect with the event's id.

    Returns what happened (``duplicate``, ``ignored`` or the outcome of the event's handler).
    """
    event = verify_event(settings, payload, signature)
    event_type = str(event.get("type", ""))
    if not await service.record_event_once(session, STRIPE, event["id"], event_type):
        return "duplicate"
    outcome = await _apply_event(session, event_type, event["data"]["object"])
    await session.commit()
    log.info("stripe event %s (%s): %s", event["id"], event_type, outcome)
    return outcome


async def _apply_event(session: AsyncSession, event_type: str, obj: dict[str, Any]) -> str:
    if event_type == "payment_intent.succeeded":
        return await service.apply_provider_success(
            session,
            provider=STRIPE,
            provider_ref=str(obj["id"]),
            amount_fen=int(obj.get("amount_received") or obj["amount"]),
            order_id=(obj.get("metadata") or {}).get("order_id"),
        )
    if event_type == "payment_intent.payment_failed":
        changed = await service.set_provider_status(session, STRIPE, str(obj["id"]), service.FAILED)
        return "failed" if changed else "unchanged"
    if event_type == "payment_intent.canceled":
        changed = await service.set_provider_status(session, STRIPE, str(obj["id"]), "canceled")
        return "canceled" if changed else "unchanged"
    if event_type.startswith("refund."):
        return await _apply_refund(session, obj)
    if event_type == "charge.refunded":
        # Recent API versions leave ``refunds`` out of the charge; ``refund.*`` events carry them.
        outcomes = [await _apply_refund(session, r) for r in (obj.get("refunds") or {}).get("data") or []]
        return ",".join(outcomes) or "ignored"
    return "ignored"


async def _apply_refund(session: AsyncSession, refund: dict[str, Any]) -> str:
    status = _REFUND_STATUS.get(str(refund.get("status")), "pending")
    changed = await service.set_refund_status(
        session,
        provider_ref=str(refund["id"]),
        status=status,
        refund_id=(refund.get("metadata") or {}).get("refund_id"),
    )
    return f"refund_{status}" if changed else "unchanged"


# ---------------------------------------------------------------- refunds, after commit


async def execute_pending_refunds(db: Database, settings: Settings, *, batch: int = 100) -> int:
    """Send the pending refunds of Stripe payments to Stripe; returns how many were sent.

    Each refund goes out under its own idempotency key, so a crash between Stripe's answer and
    our commit, or two workers at once, still refund once. Offline refunds are not touched.
    """
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(col(PaymentRefund.id), col(PaymentRefund.amount_fen), col(Payment.provider_ref))
                .join(Payment, col(Payment.id) == col(PaymentRefund.payment_id))
                .where(
                    col(Payment.provider) == STRIPE,
                    col(PaymentRefund.status) == service.PENDING_REFUND,
                    col(PaymentRefund.provider_ref).is_(None),
                )
                .order_by(col(PaymentRefund.id))
                .limit(batch)
            )
        ).all()
    if not rows:
        return 0
    client = client_for(settings)
    sent = 0
    for refund_id, amount_fen, intent_id in rows:
        try:
            answer = await client.v1.refunds.create_async(
                params={
                    # Stripe payments are recorded with their PaymentIntent id, so it is never None.
                    "payment_intent": cast(str, intent_id),
                    "amount": amount_fen,
                    "metadata": {"refund_id": refund_id},
                },
                options={"idempotency_key": refund_idempotency_key(refund_id)},
            )
        except stripe.InvalidRequestError as exc:
            # Stripe refuses it for good (already refunded, amount too large…): a person must look.
            log.error("Stripe refused refund %s: %s", refund_id, exc.user_message or exc.code)
            await _store_refund(db, refund_id, None, service.FAILED)
            continue
        except stripe.StripeError:
            log.warning("Stripe refund %s not sent; retried later", refund_id, exc_info=True)
            continue
        data = answer.to_dict()
        await _store_refund(
            db, refund_id, str(data["id"]), _REFUND_STATUS.get(str(data.get("status")), "pending")
        )
        sent += 1
    return sent


async def _store_refund(db: Database, refund_id: str, provider_ref: str | None, status: str) -> None:
    async with db.session() as session:
        values: dict[str, object] = {"status": status}
        if provider_ref is not None:
            values["provider_ref"] = provider_ref
        await session.execute(
            update(PaymentRefund)
            .where(col(PaymentRefund.id) == refund_id, col(PaymentRefund.status) == service.PENDING_REFUND)
            .values(**values)
        )
        await session.commit()
