"""Builders for the payment tests: a cooperative with one SKU, a buyer, orders paid with Stripe."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from coopmarket.db import Database
from coopmarket.flows import refunds as refund_flows
from coopmarket.ledger import service as ledger_service
from coopmarket.ledger.models import LedgerTransaction
from coopmarket.payments.models import Payment, PaymentRefund, ProviderEvent
from tests.factories import VILLAGE, Actor, approved_cooperative, create_product, make_staff, register_buyer
from tests.payments.fake_stripe import FakeStripe

_keys = itertools.count(1)
PRICE_FEN = 3990
ADDRESS = {
    "name": "王芳",
    "phone": "13912345678",
    "detail": "坊子区凤凰街道北海路100号",
    "region_code": VILLAGE,
}


def new_key() -> str:
    return f"payments-test-key-{next(_keys)}"


@dataclass
class Shop:
    staff: Actor
    manager: Actor
    cooperative: dict[str, Any]
    sku: dict[str, Any]  # PRICE_FEN each, stock 100
    buyer: Actor


async def build_shop(client: AsyncTestClient[Any], db: Database) -> Shop:
    staff = await make_staff(client, db)
    manager, cooperative = await approved_cooperative(client, staff)
    product = await create_product(
        client,
        manager,
        cooperative["id"],
        skus=[{"code": "YS-5KG", "spec": "5斤装", "price_fen": PRICE_FEN, "stock": 100}],
    )
    buyer = await register_buyer(client)
    return Shop(staff, manager, cooperative, product["skus"][0], buyer)


async def place_stripe_order(client: AsyncTestClient[Any], shop: Shop, quantity: int = 2) -> dict[str, Any]:
    """An unpaid order to be paid with Stripe."""
    response = await client.post(
        "/api/v1/orders",
        json={
            "lines": [{"sku_id": shop.sku["id"], "quantity": quantity}],
            "shipping_address": ADDRESS,
            "payment_method": "stripe",
        },
        headers={**shop.buyer.headers, "Idempotency-Key": new_key()},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def start_payment(client: AsyncTestClient[Any], actor: Actor, order_id: str) -> Any:
    """``POST /orders/{id}/payments`` with a fresh Idempotency-Key."""
    return await client.post(
        f"/api/v1/orders/{order_id}/payments",
        json={},
        headers={**actor.headers, "Idempotency-Key": new_key()},
    )


async def started_intent(client: AsyncTestClient[Any], shop: Shop, order_id: str) -> str:
    """Start paying ``order_id`` as its buyer and return the PaymentIntent's id."""
    response = await start_payment(client, shop.buyer, order_id)
    assert response.status_code == 200, response.text
    return response.json()["client_secret"].split("_secret_")[0]


async def deliver(client: AsyncTestClient[Any], payload: bytes, signature: str) -> Any:
    """Stripe posts ``payload`` to the webhook."""
    return await client.post(
        "/api/v1/payments/stripe/webhook",
        content=payload,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
    )


async def deliver_event(
    client: AsyncTestClient[Any], fake: FakeStripe, event_type: str, obj: dict[str, Any]
) -> Any:
    """Build, sign and deliver one event."""
    payload = fake.event(event_type, obj)
    return await deliver(client, payload, fake.sign(payload))


async def get_order(client: AsyncTestClient[Any], actor: Actor, order_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/orders/{order_id}", headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def ledger_kinds(db: Database, order_id: str) -> list[str]:
    """The kinds of the ledger transactions of ``order_id``, in posting order."""
    async with db.read() as conn:
        rows = await conn.execute(
            select(LedgerTransaction.kind)
            .where(LedgerTransaction.order_id == order_id)
            .order_by(LedgerTransaction.id)
        )
        return [r[0] for r in rows]


async def balances(db: Database, prefix: str = "") -> dict[str, int]:
    async with db.read() as conn:
        return dict(await ledger_service.balances(conn, prefix))


async def trial_balance(db: Database) -> int:
    async with db.read() as conn:
        return await ledger_service.trial_balance(conn)


async def payments_of(db: Database, order_id: str) -> list[tuple[str, str, int, str | None]]:
    """``(provider, status, amount_fen, provider_ref)`` of each payment of the order."""
    async with db.read() as conn:
        rows = await conn.execute(
            select(Payment.provider, Payment.status, Payment.amount_fen, Payment.provider_ref)
            .where(Payment.order_id == order_id)
            .order_by(Payment.id)
        )
        return [tuple(r) for r in rows]


async def refunds_of(db: Database, order_id: str) -> list[tuple[str, int, str, str | None]]:
    """``(id, amount_fen, status, provider_ref)`` of each refund of the order."""
    async with db.read() as conn:
        rows = await conn.execute(
            select(
                PaymentRefund.id, PaymentRefund.amount_fen, PaymentRefund.status, PaymentRefund.provider_ref
            )
            .where(PaymentRefund.order_id == order_id)
            .order_by(PaymentRefund.id)
        )
        return [tuple(r) for r in rows]


async def event_count(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(ProviderEvent))).scalar_one())


async def send_pending_refunds(client: AsyncTestClient[Any]) -> int:
    """Run the refund sender once, on the app's own event loop (where its Stripe client lives)."""
    app = client.app
    return client.blocking_portal.call(
        refund_flows.send_pending_refunds, app.state.db, app.state.payment_providers
    )


def refunds_at_stripe(fake: FakeStripe) -> list[tuple[str, int, str | None]]:
    """``(payment_intent, amount, our refund id)`` of each refund Stripe made."""
    return [(r["payment_intent"], r["amount"], r["metadata"].get("refund_id")) for r in fake.refunds.values()]
