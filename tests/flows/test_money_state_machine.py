"""A hypothesis state machine over the money paths, driven through the real HTTP app (both databases).

Rules: place an order (offline, Stripe or WeChat Pay; one or two cooperatives), start an online
payment, the buyer pays at the provider (the local fakes), deliver any provider notification
(first time, again, or late: duplicates and reordering), record an offline payment, ship,
receive, request and approve a refund (before or after receipt), cancel, let the clock run past
the payment timeout and run the expiry sweep (and the WeChat close job), run the refund sender.

Invariants after every step:
- stock conserved: each SKU's stock = opening - units of its live order parts, never below 0;
- refunds never above payments, per order;
- the ledger balanced, each transaction and in total;
- each provider event applied once: one payment row and one payment posting per provider payment,
  at most one settled payment per order, and ``cash:{provider}`` equal to what the fake holds for
  the payments we know of, net of its refunds and of the approved refunds not sent yet;
- each order's status consistent with its parts (``orders/states.py`` close rule).

Hypothesis' stateful runner is synchronous: the test is a plain function that runs the async
client and the checks on a private event loop (the app itself runs on the client's portal).
Each example uses fresh products on the same database and checks only its own orders and SKUs
(the whole ledger's trial balance is checked once at the end), and starts from the same frozen
clock, so that a replay behaves as the first run did. Shrinking is off (each step is an HTTP
call); a failure prints its unshrunk steps.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlmodel import col

from coopmarket.app import Overrides, create_app
from coopmarket.core import clock
from coopmarket.db import Database
from coopmarket.flows import provider_queries
from coopmarket.flows import refunds as refund_flows
from coopmarket.ledger import service as ledger_service
from coopmarket.ledger.models import LedgerPosting, LedgerTransaction
from coopmarket.orders import expiry, states
from coopmarket.orders.models import Order, OrderLine, OrderPart
from coopmarket.payments.models import Payment, PaymentRefund
from coopmarket.products.models import Sku
from coopmarket.settings import Settings
from tests.factories import OTHER_VILLAGE, create_product
from tests.orders.builders import Market, build_market, order_body
from tests.payments.fake_stripe import SECRET_KEY, WEBHOOK_SECRET, FakeStripe
from tests.payments.wechat.support import NOTIFY, give_openid
from tests.wxpay_fake import FakeWechatPay, Keys, new_key

TIMEOUT_SECONDS = 60
METHODS = ("offline", "stripe", "wechat_pay")
LIVE = lambda status: status not in ("cancelled", "refunded")  # noqa: E731  (a part still holding its stock)
_keys = itertools.count(1)


def key() -> str:
    return f"state-machine-{next(_keys)}"


@pytest.fixture(scope="module")
def fake_stripe_server() -> Iterator[FakeStripe]:
    fake = FakeStripe().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_stripe(fake_stripe_server: FakeStripe) -> FakeStripe:
    fake_stripe_server.reset()
    return fake_stripe_server


@pytest.fixture(scope="module")
def wx_keys() -> Keys:
    return Keys(merchant=new_key(), wechat=new_key())


@pytest.fixture
def wxpay(wx_keys: Keys) -> FakeWechatPay:
    return FakeWechatPay(wx_keys)


@pytest.fixture
def settings_overrides(fake_stripe: FakeStripe, wx_keys: Keys) -> dict[str, Any]:
    return {
        "payment_providers": ["offline", "stripe", "wechat_pay"],
        "stripe_secret_key": SECRET_KEY,
        "stripe_webhook_secret": WEBHOOK_SECRET,
        "stripe_api_base": fake_stripe.url,
        "order_payment_timeout_seconds": TIMEOUT_SECONDS,
        "jwt_ttl_seconds": 365 * 24 * 3600,  # the clock moves forward by many timeouts
        **wx_keys.settings(),
    }


@pytest.fixture
def overrides(wxpay: FakeWechatPay) -> Overrides:
    return Overrides(wechat_pay_transport=httpx.MockTransport(wxpay.handle))


@dataclass
class Delivery:
    """A provider notification, kept so that it can be delivered late and again."""

    provider: str
    body: bytes
    delivered: int = 0


@dataclass
class Tracked:
    id: str
    method: str
    total_fen: int
    parts: dict[str, str]  # part id -> cooperative id
    provider_ref: str | None = None  # Stripe intent id or WeChat out_trade_no
    paid_at_provider: bool = False


@dataclass
class World:
    """What lives for the whole test: the loop, the client on the app, the database, the fakes."""

    loop: asyncio.AbstractEventLoop
    client: AsyncTestClient[Any]
    db: Database
    market: Market
    stripe: FakeStripe
    wxpay: FakeWechatPay
    epoch: datetime = field(default_factory=clock.now)  # where each example's clock starts
    seen: Counter[str] = field(default_factory=Counter)  # what the rules reached, for the coverage check

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(coro)

    def on_app(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """``fn(db, providers, ...)`` on the app's own loop, where its provider clients live."""
        app = self.client.app

        async def call() -> Any:
            return await fn(app.state.db, app.state.payment_providers, *args, **kwargs)

        return self.client.blocking_portal.call(call)


def make_machine(world: World) -> type[RuleBasedStateMachine]:
    client, market = world.client, world.market

    async def post(path: str, actor_headers: dict[str, str], **kwargs: Any) -> httpx.Response:
        return await client.post(path, headers=actor_headers, **kwargs)

    class MoneyMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            # Every example starts at the same frozen instant and moves only by its own steps, so
            # that a replay behaves as the first run did (wall time would expire orders at random).
            clock.set_now(world.epoch)
            self.orders: list[Tracked] = []
            self.deliveries: list[Delivery] = []
            self.sku_a, self.sku_b = world.run(self._fresh_skus())

        async def _fresh_skus(self) -> tuple[str, str]:
            a = await create_product(
                client,
                market.manager_a,
                market.coop_a["id"],
                skus=[{"code": f"SM-A-{key()}", "spec": "5斤装", "price_fen": 3990, "stock": 6}],
            )
            b = await create_product(
                client,
                market.manager_b,
                market.coop_b["id"],
                category="fruit",
                origin_village_code=OTHER_VILLAGE,
                skus=[{"code": f"SM-B-{key()}", "spec": "一箱", "price_fen": 1250, "stock": 4}],
            )
            self.skus = {a["skus"][0]["id"]: 6, b["skus"][0]["id"]: 4}
            return a["skus"][0]["id"], b["skus"][0]["id"]

        def _order(self, index: int) -> Tracked:
            return self.orders[index % len(self.orders)]

        def _pick_part(self, index: int, statuses: tuple[str, ...], aim: bool) -> tuple[Tracked, str, str]:
            """A part of one of this example's orders: when ``aim``, one in ``statuses`` if any
            (so that rules mostly act where they can), else any (to see the refusals too)."""
            candidates = [(o, part_id, coop_id) for o in self.orders for part_id, coop_id in o.parts.items()]
            if aim:
                now = world.run(part_statuses(world.db, [o.id for o in self.orders]))
                aimed = [c for c in candidates if now[c[1]] in statuses]
                candidates = aimed or candidates
            return candidates[index % len(candidates)]

        def _pick_order(self, index: int, methods: tuple[str, ...], aim: bool) -> Tracked | None:
            """One of this example's orders paid by one of ``methods``; when ``aim``, one awaiting payment if any."""
            candidates = [o for o in self.orders if o.method in methods]
            if aim and candidates:
                now = world.run(part_statuses(world.db, [o.id for o in candidates]))
                aimed = [o for o in candidates if any(now[p] == "pending_payment" for p in o.parts)]
                candidates = aimed or candidates
            return candidates[index % len(candidates)] if candidates else None

        async def _show(self, order: Tracked) -> dict[str, Any]:
            response = await client.get(f"/api/v1/orders/{order.id}", headers=market.buyer.headers)
            assert response.status_code == 200, response.text
            return response.json()  # type: ignore[no-any-return]

        def _manager(self, cooperative_id: str) -> dict[str, str]:
            a = cooperative_id == market.coop_a["id"]
            return (market.manager_a if a else market.manager_b).headers

        # ------------------------------------------------------------ rules

        # Three orders at most per example, so that the steps take them far (paid, shipped, refunded).
        @precondition(lambda self: len(self.orders) < 3)
        @rule(
            method=st.sampled_from(METHODS),
            qty_a=st.integers(min_value=0, max_value=3),
            qty_b=st.integers(min_value=0, max_value=2),
        )
        def place(self, method: str, qty_a: int, qty_b: int) -> None:
            lines = [(s, q) for s, q in ((self.sku_a, qty_a), (self.sku_b, qty_b)) if q]
            if not lines:
                lines = [(self.sku_a, 1)]
            response = world.run(
                post(
                    "/api/v1/orders",
                    {**market.buyer.headers, "Idempotency-Key": key()},
                    json=order_body(lines, payment_method=method),
                )
            )
            world.seen[f"place {response.status_code}"] += 1
            if response.status_code == 201:
                body = response.json()
                parts = {p["id"]: p["cooperative_id"] for p in body["parts"]}
                self.orders.append(Tracked(body["id"], method, body["total_fen"], parts))
            else:  # not enough stock: refused whole, nothing reserved
                assert response.status_code == 409, response.text

        @precondition(lambda self: any(o.method != "offline" for o in self.orders))
        @rule(index=st.integers(min_value=0), aim=st.booleans(), then_pays=st.booleans())
        def start_online_payment(self, index: int, aim: bool, then_pays: bool) -> None:
            """The buyer starts paying online (and, with ``then_pays``, pays at the provider at once)."""
            order = self._pick_order(index, ("stripe", "wechat_pay"), aim)
            assert order is not None
            json = {} if order.method == "stripe" else {"method": "wechat_pay"}
            response = world.run(
                post(
                    f"/api/v1/orders/{order.id}/payments",
                    {**market.buyer.headers, "Idempotency-Key": key()},
                    json=json,
                )
            )
            world.seen[f"start {order.method} {response.status_code}"] += 1
            if response.status_code != 200:  # paid, cancelled or expired meanwhile
                assert response.status_code in (409, 422), response.text
                return
            answer = response.json()
            if answer["status"] == "succeeded":  # paid already (the buyer came back after paying)
                return
            if order.method == "stripe":
                ref = answer["client_secret"].split("_secret_")[0]
            else:
                [*_, call] = world.wxpay.calls("POST", "/v3/pay/transactions/jsapi")
                ref = str(call.body["out_trade_no"])
            # Starting again reuses the provider's payment (one intent, one out_trade_no per order).
            assert order.provider_ref in (None, ref), (order.provider_ref, ref)
            order.provider_ref = ref
            if then_pays and not order.paid_at_provider:
                self._pays_at_provider(order)

        @precondition(lambda self: any(o.provider_ref and not o.paid_at_provider for o in self.orders))
        @rule(index=st.integers(min_value=0))
        def buyer_pays_at_provider(self, index: int) -> None:
            """The buyer's money reaches the provider; its notification is kept, not yet delivered."""
            started = [o for o in self.orders if o.provider_ref and not o.paid_at_provider]
            self._pays_at_provider(started[index % len(started)])

        def _pays_at_provider(self, order: Tracked) -> None:
            assert order.provider_ref is not None
            if order.method == "stripe":
                intent = world.stripe.succeed(order.provider_ref)
                body = world.stripe.event("payment_intent.succeeded", intent)
            else:
                if world.wxpay.orders[order.provider_ref]["trade_state"] != "NOTPAY":
                    return  # closed at WeChat when the order expired: it can no longer be paid
                _, body = world.wxpay.pay(order.provider_ref)
            order.paid_at_provider = True
            self.deliveries.append(Delivery(order.method, body))

        @precondition(lambda self: bool(self.deliveries))
        @rule(index=st.integers(min_value=0), aim=st.booleans())
        def deliver(self, index: int, aim: bool) -> None:
            """Any kept notification, in any order, any number of times (signed afresh, as a retry is);
            with ``aim``, one not delivered yet if any."""
            candidates = [d for d in self.deliveries if not d.delivered] if aim else []
            candidates = candidates or self.deliveries
            delivery = candidates[index % len(candidates)]
            if delivery.provider == "stripe":
                headers = {"Stripe-Signature": world.stripe.sign(delivery.body), "Content-Type": "application/json"}
                path = "/api/v1/payments/stripe/webhook"
            else:
                headers = {**world.wxpay.signed_headers(delivery.body), "Content-Type": "application/json"}
                path = NOTIFY
            response = world.run(client.post(path, content=delivery.body, headers=headers))
            assert response.status_code in (200, 204), response.text
            delivery.delivered += 1
            world.seen[f"{delivery.provider} delivery #{min(delivery.delivered, 2)}"] += 1

        @precondition(lambda self: any(o.method == "offline" for o in self.orders))
        @rule(index=st.integers(min_value=0), aim=st.booleans())
        def pay_offline(self, index: int, aim: bool) -> None:
            order = self._pick_order(index, ("offline",), aim)
            assert order is not None
            response = world.run(
                post(
                    f"/api/v1/orders/{order.id}/offline-payments",
                    market.staff.headers,
                    json={"reference": f"BANK-{key()}", "amount_fen": order.total_fen},
                )
            )
            assert response.status_code in (201, 409), response.text
            world.seen[f"offline payment {response.status_code}"] += 1

        @precondition(lambda self: bool(self.orders))
        @rule(index=st.integers(min_value=0), aim=st.booleans())
        def ship(self, index: int, aim: bool) -> None:
            order, part_id, coop_id = self._pick_part(index, ("paid",), aim)
            response = world.run(
                post(
                    f"/api/v1/orders/{order.id}/parts/{part_id}/ship",
                    self._manager(coop_id),
                    json={"carrier": "顺丰", "tracking_number": "SF1234567890"},
                )
            )
            assert response.status_code in (200, 409), response.text
            world.seen[f"ship {response.status_code}"] += 1

        @precondition(lambda self: bool(self.orders))
        @rule(index=st.integers(min_value=0), aim=st.booleans())
        def receive(self, index: int, aim: bool) -> None:
            order, part_id, _ = self._pick_part(index, ("shipped",), aim)
            response = world.run(
                post(f"/api/v1/orders/{order.id}/parts/{part_id}/receive", market.buyer.headers)
            )
            assert response.status_code in (200, 409), response.text
            world.seen[f"receive {response.status_code}"] += 1

        @precondition(lambda self: bool(self.orders))
        @rule(
            index=st.integers(min_value=0),
            aim=st.booleans(),
            share=st.sampled_from([1, 2, 3, 4]),  # quarters of the part's subtotal
            approve=st.booleans(),
        )
        def refund(self, index: int, aim: bool, share: int, approve: bool) -> None:
            """Before receipt (paid, shipped) or after (received)."""
            order, part_id, coop_id = self._pick_part(index, ("paid", "shipped", "received"), aim)
            shown = world.run(self._show(order))
            subtotal = next(p["subtotal_fen"] for p in shown["parts"] if p["id"] == part_id)
            amount = max(1, subtotal * share // 4)
            response = world.run(
                post(
                    f"/api/v1/orders/{order.id}/refunds",
                    {**market.buyer.headers, "Idempotency-Key": key()},
                    json={"part_id": part_id, "amount_fen": amount, "reason": "少了两斤"},
                )
            )
            world.seen[f"refund request {response.status_code}"] += 1
            if response.status_code != 201:  # not paid, closed, or more than is left
                assert response.status_code in (409, 422), response.text
                return
            if approve:
                refund_id = response.json()["id"]
                decided = world.run(post(f"/api/v1/refunds/{refund_id}/approve", self._manager(coop_id)))
                assert decided.status_code in (200, 409), decided.text
                world.seen[f"refund approve {decided.status_code}"] += 1

        @precondition(lambda self: bool(self.orders))
        @rule(index=st.integers(min_value=0))
        def cancel(self, index: int) -> None:
            order = self._order(index)
            response = world.run(
                post(f"/api/v1/orders/{order.id}/cancel", market.buyer.headers, json={"reason": "买错了"})
            )
            assert response.status_code in (200, 409), response.text
            world.seen[f"cancel {order.method} {response.status_code}"] += 1

        @rule()
        def time_passes_and_unpaid_orders_expire(self) -> None:
            # Half a payment timeout: an order left unpaid expires on the second sweep after it.
            clock.advance(timedelta(seconds=TIMEOUT_SECONDS // 2 + 1))
            world.seen["orders expired"] += world.on_app(lambda db, _providers: expiry.expire_overdue_orders(db))
            world.on_app(provider_queries.close_payments_of_closed_orders)

        @rule()
        def refund_job_runs(self) -> None:
            world.seen["refunds sent"] += world.on_app(refund_flows.send_pending_refunds)
            # WeChat Pay finishes the refunds it is processing and notifies (kept, delivered later).
            # Only this example's: the job also sends what earlier examples left, which a replay of
            # this example would not see again.
            mine = {o.provider_ref for o in self.orders if o.method == "wechat_pay"}
            for no, refund in world.wxpay.refunds.items():
                if refund["status"] == "PROCESSING" and refund["out_trade_no"] in mine:
                    _, body = world.wxpay.refund_notification(no, "SUCCESS")
                    self.deliveries.append(Delivery("wechat_pay", body))

        # ------------------------------------------------------------ invariants

        @invariant()
        def money_and_stock_hold(self) -> None:
            world.run(check(world, [o.id for o in self.orders], self.skus))

    return MoneyMachine


async def part_statuses(db: Database, order_ids: list[str]) -> dict[str, str]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(col(OrderPart.id), col(OrderPart.status)).where(col(OrderPart.order_id).in_(order_ids))
        )
        return {part_id: status for part_id, status in rows.all()}


async def check(world: World, order_ids: list[str], skus: dict[str, int]) -> None:
    """The invariants, over this example's orders and SKUs (so that a failure stays with the example
    that made it, and Hypothesis can report it)."""
    async with world.db.read() as conn:
        # The ledger balances: each transaction of these orders, and all of them together.
        sums = (
            await conn.execute(
                select(col(LedgerPosting.transaction_id), func.sum(col(LedgerPosting.amount_fen)))
                .join(LedgerTransaction, col(LedgerTransaction.id) == col(LedgerPosting.transaction_id))
                .where(col(LedgerTransaction.order_id).in_(order_ids))
                .group_by(col(LedgerPosting.transaction_id))
            )
        ).all()
        assert [row for row in sums if row[1] != 0] == [], sums
        assert sum(row[1] for row in sums) == 0

        # Stock conserved: opening - units of live parts; never below 0.
        stock = dict(
            (await conn.execute(select(col(Sku.id), col(Sku.stock)).where(col(Sku.id).in_(list(skus))))).all()
        )
        held = dict.fromkeys(skus, 0)
        for sku_id, quantity, status in (
            await conn.execute(
                select(col(OrderLine.sku_id), col(OrderLine.quantity), col(OrderPart.status))
                .join(OrderPart, col(OrderPart.id) == col(OrderLine.part_id))
                .where(col(OrderLine.sku_id).in_(list(skus)))
            )
        ).all():
            if LIVE(status):
                held[sku_id] += quantity
        for sku_id, opening in skus.items():
            assert stock[sku_id] >= 0, (sku_id, stock[sku_id])
            assert stock[sku_id] == opening - held[sku_id], (sku_id, opening, held[sku_id], stock[sku_id])

        payments = (
            await conn.execute(
                select(
                    col(Payment.id), col(Payment.order_id), col(Payment.provider), col(Payment.status),
                    col(Payment.amount_fen), col(Payment.provider_ref),
                ).where(col(Payment.order_id).in_(order_ids))
            )
        ).all()
        refunds = (
            await conn.execute(
                select(
                    col(PaymentRefund.order_id), col(PaymentRefund.payment_id), col(PaymentRefund.amount_fen),
                    col(PaymentRefund.status), col(PaymentRefund.provider_ref),
                ).where(col(PaymentRefund.order_id).in_(order_ids))
            )
        ).all()
        postings = dict(
            (
                await conn.execute(
                    select(col(LedgerTransaction.dedupe_key), func.count())
                    .where(
                        col(LedgerTransaction.order_id).in_(order_ids),
                        col(LedgerTransaction.dedupe_key).like("payment:%")
                        | col(LedgerTransaction.dedupe_key).like("unmatched:%"),
                    )
                    .group_by(col(LedgerTransaction.dedupe_key))
                )
            ).all()
        )
        cash = dict(
            (
                await conn.execute(
                    select(col(LedgerPosting.account), func.sum(col(LedgerPosting.amount_fen)))
                    .join(LedgerTransaction, col(LedgerTransaction.id) == col(LedgerPosting.transaction_id))
                    .where(col(LedgerTransaction.order_id).in_(order_ids), col(LedgerPosting.account).like("cash:%"))
                    .group_by(col(LedgerPosting.account))
                )
            ).all()
        )

    # Each provider payment that arrived is one payment row with one posting (a payment still
    # awaiting the buyer has none); an order keeps at most one settled payment (any other money is
    # held and refunded in full).
    arrived = [p for p in payments if p[3] in ("succeeded", "refunded")]
    for payment_id, _, _, status, *_ in payments:
        expected = 1 if status in ("succeeded", "refunded") else 0
        count = postings.get(f"payment:{payment_id}", 0) + postings.get(f"unmatched:{payment_id}", 0)
        assert count == expected, (payment_id, status, count)
    assert sum(postings.values()) == len(arrived), postings
    for order_id in order_ids:
        settled = [p for p in payments if p[1] == order_id and p[3] == "succeeded"]
        assert len(settled) <= 1, settled

    # Refunds never above payments, per order.
    for order_id in order_ids:
        paid = sum(p[4] for p in arrived if p[1] == order_id)
        refunded = sum(r[2] for r in refunds if r[0] == order_id and r[3] != "failed")
        assert refunded <= paid, (order_id, paid, refunded)

    # cash:{provider} = what the fake holds for the payments that arrived, net of its refunds and
    # of the approved refunds not sent yet.
    provider_of = {p[0]: p[2] for p in payments}
    unsent = {"stripe": 0, "wechat_pay": 0}
    for _, payment_id, amount, status, ref in refunds:
        if provider_of[payment_id] in unsent and status == "pending" and ref is None:
            unsent[provider_of[payment_id]] += amount
    known = {p[5] for p in arrived if p[5]}
    stripe_held = sum(i["amount_received"] for i in world.stripe.intents.values() if i["id"] in known) - sum(
        r["amount"]
        for r in world.stripe.refunds.values()
        if r["status"] != "failed" and r["payment_intent"] in known
    )
    wx_orders = {no: o for no, o in world.wxpay.orders.items() if no in known or o["transaction_id"] in known}
    wx_held = sum(o.get("paid_amount", o["request"]["amount"]["total"]) for o in wx_orders.values()) - sum(
        r["amount"]["refund"]
        for r in world.wxpay.refunds.values()
        if r["status"] in ("PROCESSING", "SUCCESS") and r["out_trade_no"] in wx_orders
    )
    assert cash.get("cash:stripe", 0) == stripe_held - unsent["stripe"], (cash, stripe_held, unsent)
    assert cash.get("cash:wechat_pay", 0) == wx_held - unsent["wechat_pay"], (cash, wx_held, unsent)
    offline_paid = sum(p[4] for p in arrived if p[2] == "offline")
    offline_refunded = sum(r[2] for r in refunds if provider_of[r[1]] == "offline" and r[3] != "failed")
    assert cash.get("cash:offline", 0) == offline_paid - offline_refunded, cash

    async with world.db.read() as conn:
        # Each order's status says what its parts say (the close rule).
        order_status = dict(
            (await conn.execute(select(col(Order.id), col(Order.status)).where(col(Order.id).in_(order_ids)))).all()
        )
        parts: dict[str, list[str]] = {order_id: [] for order_id in order_ids}
        for order_id, status in (
            await conn.execute(
                select(col(OrderPart.order_id), col(OrderPart.status)).where(col(OrderPart.order_id).in_(order_ids))
            )
        ).all():
            parts[order_id].append(status)
        for order_id in order_ids:
            status, of_parts = order_status[order_id], parts[order_id]
            closes_as = states.closing_status(of_parts)
            if closes_as is not None:
                assert status == closes_as, (order_id, status, of_parts)
            else:
                assert status in ("pending_payment", "paid"), (order_id, status, of_parts)
                assert (status == "pending_payment") == ("pending_payment" in of_parts), (order_id, status, of_parts)


def test_money_holds_whatever_happens_in_whatever_order(
    settings: Settings, overrides: Overrides, fake_stripe: FakeStripe, wxpay: FakeWechatPay
) -> None:
    loop = asyncio.new_event_loop()
    client: AsyncTestClient[Any] = AsyncTestClient(app=create_app(settings, overrides), raise_server_exceptions=False)
    db = Database(settings)
    try:
        loop.run_until_complete(client.__aenter__())

        async def setup() -> Market:
            market = await build_market(client, db)
            await give_openid(db, market.buyer.id)
            return market

        world = World(loop, client, db, loop.run_until_complete(setup()), fake_stripe, wxpay)
        run_state_machine_as_test(
            make_machine(world),
            settings=settings_for_machine,
        )
        print(sorted(world.seen.items()))  # what the rules reached (pytest -s)

        async def trial_balance() -> int:
            async with db.read() as conn:
                return await ledger_service.trial_balance(conn)

        # The whole ledger, every example's postings together, still sums to 0.
        assert loop.run_until_complete(trial_balance()) == 0
    finally:
        loop.run_until_complete(client.__aexit__(None, None, None))
        loop.run_until_complete(db.dispose())
        loop.close()


settings_for_machine = hypothesis_settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    # No shrinking: each step is an HTTP call, and shrinking a failure ran for Hypothesis' full five
    # minutes; the unshrunk steps are printed all the same.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
