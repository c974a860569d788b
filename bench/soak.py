"""The soak behind ``bench/soak`` (see bench/README.md, "Soak").

Starts the real server (``coopmarket serve``, several workers, background jobs on) on a fresh
PostgreSQL database with Stripe pointed at the local fake Stripe of the tests, builds a small
market through the API (district staff, cooperatives with products, buyers), then runs a mixed
load for a set time at a bounded rate: browsing, search, checkout, offline and Stripe payments
(webhooks delivered once, twice, and twice at the same moment), shipping, receipt, refunds before
and after receipt, cancellations, abandoned orders left to expire, restocking, reports. It
samples the server's resident memory and its database connections as it goes.

When the time is up it lets the background jobs finish (expiry, refunds) and checks, straight in
the database: every order answered 201 was written whole and nothing else was; stock conserved
per SKU and order; refunds never above payments; the ledger balanced; every Stripe event applied
once; no order left overdue; memory and connections flat. It prints a table per window and one
JSON line, and exits 1 when an invariant fails or more than 0.1% of requests failed.

Traffic goes only to the server it started on 127.0.0.1, and it stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
from tests.payments.fake_stripe import SECRET_KEY, WEBHOOK_SECRET, FakeStripe  # noqa: E402

from coopmarket.coops.uscc import check_character  # noqa: E402

VENV = Path(os.environ.get("BENCH_VENV", ROOT / ".venv"))
COOPMARKET = VENV / "bin" / "coopmarket"
PG = os.environ.get("SOAK_PG", "postgresql://postgres@127.0.0.1:5432")

# Villages of Fangzi (shared/data), one cooperative in each.
VILLAGES = ["370704003200", "370704004201", "370704005201", "370704006201", "370704007201", "370704008203"]
SEARCH_TERMS = ["梨", "富士", "红富士", "烟薯", "萝卜", "西瓜", "小米", "生姜", "鸡蛋", "草莓", "坊子", "苹果"]
CATEGORIES = ["fruit", "vegetables", "grain_oil", "eggs"]
PRODUCTS = [
    ("坊子烟薯", "vegetables", "沙土地种植，香甜软糯"),
    ("坊子青萝卜", "vegetables", "水果萝卜，脆甜多汁"),
    ("红富士苹果", "fruit", "山地红富士，果面光洁"),
    ("大棚西瓜", "fruit", "皮薄瓤红"),
    ("小米", "grain_oil", "当年新小米"),
    ("小米椒", "vegetables", "鲜辣小米椒"),
    ("坊子生姜", "vegetables", "黄心生姜"),
    ("散养鸡蛋", "eggs", "林下散养"),
    ("奶油草莓", "fruit", "温室草莓"),
    ("砀山梨", "fruit", "酥梨"),
]


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


@dataclass
class Actor:
    id: str
    token: str
    phone: str
    cooperative_ids: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Market:
    staff: Actor
    managers: dict[str, Actor]  # cooperative id -> its manager
    buyers: list[Actor]
    skus: list[dict[str, Any]]  # {"id", "cooperative_id", "price_fen", "scarce"}
    product_ids: list[str]


@dataclass
class Stats:
    """What the load saw: every request's (time, label, status, ms), and the business outcomes."""

    started: float = field(default_factory=time.monotonic)
    samples: list[tuple[float, str, int, float]] = field(default_factory=list)
    orders_created: set[str] = field(default_factory=set)
    flows: Counter[str] = field(default_factory=Counter)
    webhook_deliveries: int = 0
    event_ids: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    resources: list[dict[str, float]] = field(default_factory=list)

    def record(self, label: str, status: int, ms: float) -> None:
        self.samples.append((time.monotonic() - self.started, label, status, ms))


class Unexpected(Exception):
    """An answer the scenario did not expect (recorded, the scenario stops)."""


class Client:
    """httpx with timing, a bounded global rate, and expected statuses."""

    def __init__(self, base: str, stats: Stats, rate: float) -> None:
        self.http = httpx.AsyncClient(base_url=base, timeout=30.0)
        self.stats = stats
        self.interval = 1.0 / rate
        self.next_slot = time.monotonic()

    async def _pace(self) -> None:
        now = time.monotonic()
        slot = max(now, self.next_slot)
        self.next_slot = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)

    async def call(
        self, method: str, path: str, label: str, expect: tuple[int, ...] = (200,), **kwargs: Any
    ) -> httpx.Response:
        await self._pace()
        began = time.perf_counter()
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self.stats.record(label, 599, (time.perf_counter() - began) * 1000)
            raise Unexpected(f"{label}: {type(exc).__name__} {exc}") from exc
        self.stats.record(label, response.status_code, (time.perf_counter() - began) * 1000)
        if response.status_code not in expect:
            raise Unexpected(f"{label}: {response.status_code} {response.text[:300]}")
        return response


# --- setting up ----------------------------------------------------------------------------------


def uscc(n: int) -> str:
    """A valid farmers'-cooperative USCC (organisation code ``MA`` + a number)."""
    first17 = f"93370704MA{n:07d}"
    return first17 + check_character(first17)


async def sign_in(client: Client, phone: str, password: str) -> Actor:
    answer = await client.call(
        "POST", "/api/v1/auth/login", "setup", json={"phone": phone, "password": password}
    )
    body = answer.json()
    return Actor(body["user"]["id"], body["access_token"], phone, body["user"]["cooperative_ids"])


async def new_user(client: Client, phone: str, name: str) -> Actor:
    password = secrets.token_urlsafe(12)
    await client.call(
        "POST",
        "/api/v1/auth/register",
        "setup",
        expect=(200, 201, 202),
        json={"phone": phone, "password": password, "display_name": name},
    )
    actor = await sign_in(client, phone, password)
    actor.phone = phone
    actor.__dict__["password"] = password
    return actor


async def build_market(client: Client, staff_phone: str, staff_password: str, buyers: int) -> Market:
    staff = await sign_in(client, staff_phone, staff_password)
    managers: dict[str, Actor] = {}
    skus: list[dict[str, Any]] = []
    product_ids: list[str] = []
    for index, village in enumerate(VILLAGES):
        manager = await new_user(client, f"1370000{index:04d}", f"理事长{index}")
        created = await client.call(
            "POST",
            "/api/v1/cooperatives",
            "setup",
            expect=(201,),
            headers=manager.headers,
            json={
                "name": f"坊子区压测种植专业合作社{index}",
                "uscc": uscc(index + 1),
                "village_code": village,
                "party_organization": "村党支部",
                "chairperson": "王建国",
                "founded_on": "2021-03-15",
                "charter": {
                    "reserve_rate_bps": 1000,
                    "patronage_return_bps": 7000,
                    "collective_sales_share_bps": 1000 + 500 * (index % 3),
                },
            },
        )
        coop_id = created.json()["id"]
        await client.call(
            "POST", f"/api/v1/cooperatives/{coop_id}/approve", "setup", headers=staff.headers, json={"reason": "材料齐全"}
        )
        manager = await sign_in(client, manager.phone, manager.__dict__["password"])
        managers[coop_id] = manager
        for p in range(3):
            name, category, description = PRODUCTS[(index * 3 + p) % len(PRODUCTS)]
            product = await client.call(
                "POST",
                f"/api/v1/cooperatives/{coop_id}/products",
                "setup",
                expect=(201,),
                headers=manager.headers,
                json={
                    "name": name,
                    "category": category,
                    "description": description,
                    "unit": "box",
                    "origin_village_code": village,
                    "skus": [
                        # One plentiful SKU and one scarce one that buyers race for and managers restock.
                        {"code": f"S{p}-A", "spec": "5斤装", "price_fen": 1990 + 100 * p, "stock": 1_000_000},
                        {"code": f"S{p}-B", "spec": "礼盒", "price_fen": 5990 + 37 * index, "stock": 20},
                    ],
                },
            )
            body = product.json()
            product_ids.append(body["id"])
            for n, sku in enumerate(body["skus"]):
                skus.append({"id": sku["id"], "cooperative_id": coop_id, "price_fen": sku["price_fen"], "scarce": n == 1})
    people = [await new_user(client, f"1380001{n:04d}", f"买家{n}") for n in range(buyers)]
    return Market(staff, managers, people, skus, product_ids)


# --- the scenarios -------------------------------------------------------------------------------

ADDRESS = {"name": "王芳", "phone": "13912345678", "detail": "北海路100号", "region_code": VILLAGES[0]}


def key() -> dict[str, str]:
    return {"Idempotency-Key": secrets.token_hex(16)}


async def browse(c: Client, m: Market, rng: random.Random) -> None:
    params: dict[str, Any] = {"limit": rng.choice([10, 20, 50])}
    roll = rng.random()
    if roll < 0.35:
        params["q"] = rng.choice(SEARCH_TERMS)
        if rng.random() < 0.5:
            params["sort"] = "relevance"
    elif roll < 0.55:
        params["category"] = rng.choice(CATEGORIES)
    elif roll < 0.65:
        params["branded"] = "true"
    label = "list_q" if "q" in params else "list"
    listed = await c.call("GET", "/api/v1/products", label, params=params)
    items = listed.json()["items"]
    if items:
        await c.call("GET", f"/api/v1/products/{rng.choice(items)['id']}", "detail")


async def place(c: Client, m: Market, rng: random.Random, buyer: Actor, method: str) -> dict[str, Any] | None:
    chosen = rng.sample(m.skus, rng.choice([1, 1, 2]))
    lines = [{"sku_id": s["id"], "quantity": rng.randint(1, 3)} for s in chosen]
    answer = await c.call(
        "POST",
        "/api/v1/orders",
        "order",
        expect=(201, 409),  # 409: a scarce SKU ran out (insufficient stock), nothing written
        headers={**buyer.headers, **key()},
        json={"lines": lines, "shipping_address": ADDRESS, "payment_method": method},
    )
    if answer.status_code == 409:
        code = answer.json().get("code")
        if code not in ("insufficient_stock", "out_of_stock"):
            raise Unexpected(f"order: 409 {code}")
        c.stats.flows["order_refused_out_of_stock"] += 1
        return None
    order: dict[str, Any] = answer.json()
    c.stats.orders_created.add(order["id"])
    return order


async def fulfil(c: Client, m: Market, rng: random.Random, buyer: Actor, order: dict[str, Any]) -> None:
    """Ship every part; the buyer receives most of them (the rest stay shipped)."""
    for part in order["parts"]:
        manager = m.managers[part["cooperative_id"]]
        await c.call(
            "POST",
            f"/api/v1/orders/{order['id']}/parts/{part['id']}/ship",
            "ship",
            headers=manager.headers,
            json={"carrier": "中国邮政", "tracking_number": f"YZ{secrets.token_hex(5).upper()}"},
        )
        if rng.random() < 0.85:
            await c.call(
                "POST", f"/api/v1/orders/{order['id']}/parts/{part['id']}/receive", "receive", headers=buyer.headers
            )


async def refund(
    c: Client, m: Market, rng: random.Random, buyer: Actor, order: dict[str, Any], *, offline: bool
) -> None:
    part = rng.choice(order["parts"])
    amount = part["subtotal_fen"] if rng.random() < 0.5 else max(1, part["subtotal_fen"] // 3)
    requested = await c.call(
        "POST",
        f"/api/v1/orders/{order['id']}/refunds",
        "refund_request",
        expect=(201,),
        headers={**buyer.headers, **key()},
        json={"part_id": part["id"], "amount_fen": amount, "reason": "果品有损伤"},
    )
    refund_id = requested.json()["id"]
    manager = m.managers[part["cooperative_id"]]
    await c.call("POST", f"/api/v1/refunds/{refund_id}/approve", "refund_approve", headers=manager.headers)
    if offline:
        await c.call(
            "POST",
            f"/api/v1/refunds/{refund_id}/handed-back",
            "refund_handed_back",
            headers=manager.headers,
            json={"reference": f"退款{secrets.token_hex(4)}"},
        )
    c.stats.flows["refund_offline" if offline else "refund_stripe"] += 1


async def checkout_offline(c: Client, m: Market, rng: random.Random) -> None:
    buyer = rng.choice(m.buyers)
    order = await place(c, m, rng, buyer, "offline")
    if order is None:
        return
    await c.call("POST", f"/api/v1/orders/{order['id']}/payments", "pay_start", headers={**buyer.headers, **key()}, json={})
    await c.call(
        "POST",
        f"/api/v1/orders/{order['id']}/offline-payments",
        "pay_offline",
        expect=(201,),
        headers=m.staff.headers,
        json={"reference": f"ICBC-{secrets.token_hex(6)}", "amount_fen": order["total_fen"]},
    )
    roll = rng.random()
    if roll < 0.15:
        await refund(c, m, rng, buyer, order, offline=True)  # before shipping
    else:
        await fulfil(c, m, rng, buyer, order)
        if roll > 0.9:
            await refund(c, m, rng, buyer, order, offline=True)  # after receipt (or while shipped)
    c.stats.flows["checkout_offline"] += 1


async def deliver(c: Client, fake: FakeStripe, payload: bytes) -> None:
    """Stripe posts one event; a retry of the same event sends the same bytes (same event id)."""
    headers = {"Stripe-Signature": fake.sign(payload), "Content-Type": "application/json"}
    await c.call("POST", "/api/v1/payments/stripe/webhook", "webhook", content=payload, headers=headers)
    c.stats.webhook_deliveries += 1
    c.stats.event_ids.add(json.loads(payload)["id"])


async def checkout_stripe(c: Client, m: Market, rng: random.Random, fake: FakeStripe) -> None:
    buyer = rng.choice(m.buyers)
    order = await place(c, m, rng, buyer, "stripe")
    if order is None:
        return
    started = await c.call(
        "POST", f"/api/v1/orders/{order['id']}/payments", "pay_start", headers={**buyer.headers, **key()}, json={}
    )
    intent_id = started.json()["client_secret"].split("_secret_")[0]
    if rng.random() < 0.2:  # the buyer taps "pay" again: the same intent comes back
        again = await c.call(
            "POST", f"/api/v1/orders/{order['id']}/payments", "pay_start", headers={**buyer.headers, **key()}, json={}
        )
        if again.json()["client_secret"].split("_secret_")[0] != intent_id:
            c.stats.problems.append(f"order {order['id']}: a second payment intent")
    payload = fake.event("payment_intent.succeeded", fake.succeed(intent_id))
    roll = rng.random()
    if roll < 0.15:  # Stripe delivers the event twice at the same moment
        await asyncio.gather(*(deliver(c, fake, payload) for _ in range(2)))
    else:
        await deliver(c, fake, payload)
        if roll < 0.35:  # and again later (a retry after an answer that got lost)
            await deliver(c, fake, payload)
    roll = rng.random()
    if roll < 0.15:
        await refund(c, m, rng, buyer, order, offline=False)
    else:
        await fulfil(c, m, rng, buyer, order)
        if roll > 0.9:
            await refund(c, m, rng, buyer, order, offline=False)
    c.stats.flows["checkout_stripe"] += 1


async def cancel(c: Client, m: Market, rng: random.Random) -> None:
    buyer = rng.choice(m.buyers)
    order = await place(c, m, rng, buyer, "offline")
    if order is None:
        return
    await c.call("POST", f"/api/v1/orders/{order['id']}/cancel", "cancel", headers=buyer.headers, json={"reason": "不要了"})
    c.stats.flows["cancelled"] += 1


async def abandon(c: Client, m: Market, rng: random.Random) -> None:
    """An order never paid: the expiry sweep cancels it and gives its stock back."""
    buyer = rng.choice(m.buyers)
    if await place(c, m, rng, buyer, rng.choice(["offline", "stripe"])) is not None:
        c.stats.flows["abandoned"] += 1


async def restock(c: Client, m: Market, rng: random.Random) -> None:
    sku = rng.choice([s for s in m.skus if s["scarce"]])
    await c.call(
        "POST",
        f"/api/v1/skus/{sku['id']}/stock-adjustments",
        "restock",
        expect=(200, 201),
        headers={**m.managers[sku["cooperative_id"]].headers, **key()},
        json={"delta": rng.randint(5, 15), "reason": "补货入库"},
    )


async def report(c: Client, m: Market, rng: random.Random) -> None:
    today = time.strftime("%Y-%m-%d")
    await c.call(
        "GET",
        "/api/v1/reports/collective-income",
        "report",
        headers=m.staff.headers,
        params={"from": today, "to": today, "group_by": rng.choice(["village", "street"])},
    )


async def user_loop(
    c: Client, m: Market, fake: FakeStripe, seed: int, deadline: float, stop: asyncio.Event
) -> None:
    rng = random.Random(seed)
    scenarios = [
        (browse, 50),
        (checkout_offline, 14),
        (checkout_stripe, 12),
        (cancel, 5),
        (abandon, 5),
        (restock, 3),
        (report, 2),
    ]
    functions = [s for s, _ in scenarios]
    weights = [w for _, w in scenarios]
    while time.monotonic() < deadline and not stop.is_set():
        scenario = rng.choices(functions, weights)[0]
        try:
            if scenario is checkout_stripe:
                await checkout_stripe(c, m, rng, fake)
            else:
                await scenario(c, m, rng)
        except Unexpected as exc:
            c.stats.problems.append(str(exc))


# --- resources -----------------------------------------------------------------------------------


def process_tree(pid: int) -> tuple[float, float]:
    """Resident memory (MiB) and CPU time used so far (s) of ``pid`` and its descendants (the
    uvicorn workers)."""
    rss_kib = 0
    ticks = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        rss_kib += int(line.split()[1])
            with open(f"/proc/{current}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    pending.extend(int(x) for x in children.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return rss_kib / 1024, ticks / os.sysconf("SC_CLK_TCK")


async def sample_resources(stats: Stats, server_pid: int, dsn: str, db_name: str, stop: asyncio.Event) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        while not stop.is_set():
            connections = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", db_name
            )
            rss_mb, cpu_seconds = process_tree(server_pid)
            load = os.getloadavg()[0]
            stats.resources.append(
                {
                    "t": time.monotonic() - stats.started,
                    "rss_mb": rss_mb,
                    "cpu_s": cpu_seconds,
                    "load": load,
                    "db_connections": float(connections),
                }
            )
            try:
                await asyncio.wait_for(stop.wait(), timeout=10)
            except TimeoutError:
                pass
    finally:
        await conn.close()


# --- the checks ----------------------------------------------------------------------------------


async def check_invariants(dsn: str, stats: Stats, fake: FakeStripe) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    failures: list[str] = []
    figures: dict[str, Any] = {}
    try:
        ids = {r["id"] for r in await conn.fetch("SELECT id FROM orders")}
        figures["orders"] = len(ids)
        if ids != stats.orders_created:
            failures.append(
                f"orders: {len(ids - stats.orders_created)} written without a 201, "
                f"{len(stats.orders_created - ids)} answered 201 but missing"
            )
        half = await conn.fetchval(
            """
            SELECT count(*) FROM orders o WHERE
              NOT EXISTS (SELECT 1 FROM order_part p WHERE p.order_id = o.id)
              OR o.total_fen <> (SELECT coalesce(sum(subtotal_fen), 0) FROM order_part p WHERE p.order_id = o.id)
              OR EXISTS (SELECT 1 FROM order_part p WHERE p.order_id = o.id AND p.subtotal_fen <>
                  (SELECT coalesce(sum(line_total_fen), 0) FROM order_line l WHERE l.part_id = p.id))
            """
        )
        if half:
            failures.append(f"{half} orders half written (parts or lines missing or not adding up)")
        overdue = await conn.fetchval(
            "SELECT count(*) FROM orders WHERE status = 'pending_payment' AND expires_at < now() - interval '90 seconds'"
        )
        if overdue:
            failures.append(f"{overdue} unpaid orders left past their expiry")
        figures["orders_by_status"] = dict(
            await conn.fetch("SELECT status, count(*) FROM orders GROUP BY status ORDER BY status")
        )

        # Stock: each SKU's history adds up to its stock; each order took exactly its lines and gave
        # back exactly the lines of the parts closed before shipping.
        bad_history = await conn.fetchval(
            """
            SELECT count(*) FROM sku s WHERE s.stock < 0
               OR s.stock <> (SELECT coalesce(sum(delta), 0) FROM stock_adjustment a WHERE a.sku_id = s.id)
               OR s.stock_version <> (SELECT count(*) FROM stock_adjustment a WHERE a.sku_id = s.id)
            """
        )
        if bad_history:
            failures.append(f"{bad_history} SKUs whose stock differs from its history")
        bad_orders = await conn.fetchval(
            """
            WITH lines AS (
              SELECT l.order_id, l.sku_id, sum(l.quantity) AS ordered,
                     sum(CASE WHEN p.status IN ('cancelled', 'refunded') AND p.shipped_at IS NULL
                              THEN l.quantity ELSE 0 END) AS closed
              FROM order_line l JOIN order_part p ON p.id = l.part_id GROUP BY l.order_id, l.sku_id),
            moves AS (
              SELECT order_id, sku_id,
                     -sum(CASE WHEN kind = 'order' THEN delta ELSE 0 END) AS taken,
                     sum(CASE WHEN kind = 'order_release' THEN delta ELSE 0 END) AS released
              FROM stock_adjustment WHERE order_id IS NOT NULL GROUP BY order_id, sku_id)
            SELECT count(*) FROM lines FULL JOIN moves USING (order_id, sku_id)
            WHERE coalesce(ordered, 0) <> coalesce(taken, 0) OR coalesce(closed, 0) <> coalesce(released, 0)
            """
        )
        if bad_orders:
            failures.append(f"{bad_orders} (order, SKU) pairs whose stock moves differ from their lines")

        over_refunded = await conn.fetchval(
            """
            SELECT count(*) FROM orders o WHERE
              (SELECT coalesce(sum(amount_fen), 0) FROM payment_refund r WHERE r.order_id = o.id AND r.status <> 'failed')
              > (SELECT coalesce(sum(amount_fen), 0) FROM payment y WHERE y.order_id = o.id AND y.status = 'succeeded')
              OR o.refunded_fen > o.paid_fen
            """
        )
        if over_refunded:
            failures.append(f"{over_refunded} orders refunded above what was paid")

        unbalanced = await conn.fetchval(
            "SELECT count(*) FROM (SELECT transaction_id FROM ledger_posting GROUP BY transaction_id"
            " HAVING sum(amount_fen) <> 0) t"
        )
        total = await conn.fetchval("SELECT coalesce(sum(amount_fen), 0) FROM ledger_posting")
        if unbalanced or total:
            failures.append(f"ledger: {unbalanced} unbalanced transactions, total {total}")
        figures["ledger_transactions"] = await conn.fetchval("SELECT count(*) FROM ledger_transaction")

        # Stripe: one succeeded payment per succeeded intent, one payment_received posting each,
        # cash:stripe equal to what the fake holds.
        succeeded = {i for i, intent in fake.intents.items() if intent.get("status") == "succeeded"}
        recorded = [
            r["provider_ref"]
            for r in await conn.fetch("SELECT provider_ref FROM payment WHERE provider = 'stripe' AND status = 'succeeded'")
        ]
        if sorted(recorded) != sorted(succeeded):
            failures.append(f"stripe: {len(recorded)} payments recorded for {len(succeeded)} succeeded intents")
        doubled = await conn.fetchval(
            "SELECT count(*) FROM (SELECT order_id FROM ledger_transaction WHERE kind = 'payment_received'"
            " GROUP BY order_id HAVING count(*) > 1) t"
        )
        if doubled:
            failures.append(f"{doubled} orders with more than one payment posting")
        cash_stripe = await conn.fetchval(
            "SELECT coalesce(sum(amount_fen), 0) FROM ledger_posting WHERE account = 'cash:stripe'"
        )
        at_stripe = sum(fake.intents[i]["amount_received"] for i in succeeded) - sum(
            r["amount"] for r in fake.refunds.values() if r.get("status") in ("succeeded", "pending")
        )
        pending_refunds = await conn.fetchval(
            "SELECT count(*) FROM payment_refund WHERE status = 'pending' AND handed_back_at IS NULL"
            " AND payment_id IN (SELECT id FROM payment WHERE provider = 'stripe')"
        )
        if pending_refunds == 0 and cash_stripe != at_stripe:
            failures.append(f"cash:stripe {cash_stripe} fen, the fake holds {at_stripe} fen")
        figures["stripe_refunds_still_pending"] = pending_refunds
        figures["provider_events"] = await conn.fetchval("SELECT count(*) FROM provider_event")
        if figures["provider_events"] != len(stats.event_ids):
            failures.append(f"{figures['provider_events']} provider events recorded for {len(stats.event_ids)} sent")
        figures["webhook_deliveries"] = stats.webhook_deliveries
    finally:
        await conn.close()
    figures["invariant_failures"] = failures
    return figures


# --- running it ----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def windows(stats: Stats, seconds: float) -> list[dict[str, Any]]:
    grouped: dict[int, list[tuple[float, str, int, float]]] = defaultdict(list)
    for sample in stats.samples:
        grouped[int(sample[0] // seconds)].append(sample)
    rows = []
    for index in sorted(grouped):
        samples = grouped[index]
        latencies = [s[3] for s in samples]
        resources = [r for r in stats.resources if index * seconds <= r["t"] < (index + 1) * seconds]
        cpu = (resources[-1]["cpu_s"] - resources[0]["cpu_s"]) if len(resources) > 1 else 0.0
        counted = [s for s in samples if resources and resources[0]["t"] <= s[0] < resources[-1]["t"]]
        rows.append(
            {
                "minute": round(index * seconds / 60, 1),
                "requests": len(samples),
                "rps": round(len(samples) / seconds, 1),
                "errors": sum(1 for s in samples if s[2] >= 500),
                "p50_ms": round(percentile(latencies, 0.5), 1),
                "p99_ms": round(percentile(latencies, 0.99), 1),
                "rss_mb": round(max((r["rss_mb"] for r in resources), default=0), 1),
                "db_connections": int(max((r["db_connections"] for r in resources), default=0)),
                # The server's own CPU per request (steady whatever else runs) and the machine's
                # load: a slow window with the same CPU per request was a busy machine, not the app.
                "cpu_ms_per_request": round(1000 * cpu / len(counted), 2) if counted else 0.0,
                "load_avg": round(max((r["load"] for r in resources), default=0), 1),
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", "30")))
    parser.add_argument("--workers", type=int, default=env_int("SOAK_WORKERS", 2))
    parser.add_argument("--users", type=int, default=env_int("SOAK_USERS", 24), help="concurrent simulated users")
    parser.add_argument("--rate", type=float, default=float(os.environ.get("SOAK_RATE", "60")), help="requests/s, at most")
    parser.add_argument("--port", type=int, default=env_int("SOAK_PORT", 18711))
    parser.add_argument("--db", default=os.environ.get("SOAK_DB", "coopmarket_soak"))
    parser.add_argument("--window", type=float, default=float(os.environ.get("SOAK_WINDOW_SECONDS", "180")))
    args = parser.parse_args()
    return asyncio.run(soak(args))


async def soak(args: argparse.Namespace) -> int:
    admin = await asyncpg.connect(f"{PG}/postgres")
    await admin.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{args.db}"')
    await admin.close()
    work = Path(tempfile.mkdtemp(prefix="coopmarket-soak-"))
    fake = FakeStripe().start()
    pool_size = 10
    env = {
        **os.environ,
        "COOPMARKET_ENVIRONMENT": "production",
        "COOPMARKET_DATABASE_URL": f"{PG.replace('postgresql://', 'postgresql+asyncpg://')}/{args.db}",
        "COOPMARKET_DATABASE_POOL_SIZE": str(pool_size),
        "COOPMARKET_DATABASE_MAX_OVERFLOW": "5",
        "COOPMARKET_JWT_SECRET": secrets.token_urlsafe(32),
        "COOPMARKET_PAYMENT_PROVIDERS": '["offline","stripe"]',
        "COOPMARKET_STRIPE_SECRET_KEY": SECRET_KEY,
        "COOPMARKET_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "COOPMARKET_STRIPE_API_BASE": fake.url,
        "COOPMARKET_ORDER_PAYMENT_TIMEOUT_SECONDS": "60",
        "COOPMARKET_EXPIRY_SWEEP_INTERVAL_SECONDS": "5",
        "COOPMARKET_RATE_LIMIT_AUTH_PER_MINUTE": "0",
        "COOPMARKET_RATE_LIMIT_PER_PHONE": "0",
        "COOPMARKET_STORAGE_LOCAL_DIR": str(work / "uploads"),
        "COOPMARKET_LOG_LEVEL": "WARNING",
    }
    env.pop("COOPMARKET_REDIS_URL", None)
    subprocess.run([str(COOPMARKET), "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: ASYNC221
    staff_phone, staff_password = "13800009000", secrets.token_urlsafe(14)
    subprocess.run(  # noqa: ASYNC221
        [str(COOPMARKET), "create-staff", "--phone", staff_phone, "--display-name", "压测区级人员",
         "--role", "district_staff", "--region-code", "370704"],
        input=staff_password + "\n", text=True, env=env, check=True, stdout=subprocess.DEVNULL,
    )
    log = open(work / "server.log", "w")  # noqa: ASYNC230 (set-up, before any load)
    server = subprocess.Popen(  # noqa: ASYNC220
        [str(COOPMARKET), "serve", "--host", "127.0.0.1", "--port", str(args.port), "--workers", str(args.workers)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    stats = Stats()
    stop = asyncio.Event()
    base = f"http://127.0.0.1:{args.port}"
    try:
        async with httpx.AsyncClient(base_url=base) as probe:
            for _ in range(120):
                try:
                    if (await probe.get("/ready")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.5)
            else:
                raise SystemExit("the server did not become ready; see " + str(work / "server.log"))
        setup = Client(base, Stats(), rate=500)
        market = await build_market(setup, staff_phone, staff_password, buyers=args.users * 2)
        await setup.http.aclose()
        print(f"soak: {args.minutes} min, {args.users} users, ≤{args.rate} req/s, {args.workers} workers; "
              f"{len(market.managers)} cooperatives, {len(market.skus)} SKUs; logs in {work}", flush=True)
        client = Client(base, stats, rate=args.rate)
        stats.started = time.monotonic()
        sampler = asyncio.create_task(sample_resources(stats, server.pid, f"{PG}/{args.db}", args.db, stop))
        deadline = time.monotonic() + args.minutes * 60
        users = [asyncio.create_task(user_loop(client, market, fake, n, deadline, stop)) for n in range(args.users)]
        await asyncio.gather(*users)
        load_seconds = time.monotonic() - stats.started
        # Let the jobs finish: abandoned orders expire (timeout 60 s, sweep 5 s), refunds go out.
        await asyncio.sleep(75)
        stop.set()
        await sampler
        await client.http.aclose()
        figures = await check_invariants(f"{PG}/{args.db}", stats, fake)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        log.close()
        fake.stop()

    rows = windows(stats, args.window)
    latencies = [s[3] for s in stats.samples]
    errors = sum(1 for s in stats.samples if s[2] >= 500)
    unexpected = len(stats.problems)
    by_label: dict[str, list[float]] = defaultdict(list)
    for _, label, _, ms in stats.samples:
        by_label[label].append(ms)
    early = [r["rss_mb"] for r in stats.resources if 120 <= r["t"] < 420] or [0.0]
    late = [r["rss_mb"] for r in stats.resources if r["t"] >= load_seconds - 300] or [0.0]
    rss_growth = statistics.mean(late) / statistics.mean(early) - 1 if early[0] else 0.0
    connections_max = max((r["db_connections"] for r in stats.resources), default=0)
    failures = list(figures["invariant_failures"])
    if errors + unexpected > 0.001 * max(1, len(stats.samples)):
        failures.append(f"{errors} server errors and {unexpected} unexpected answers in {len(stats.samples)} requests")
    if rss_growth > 0.15:
        failures.append(f"resident memory grew {rss_growth:.0%} between minutes 2–7 and the last 5")
    if connections_max > args.workers * (pool_size + 5) + 2:
        failures.append(f"{connections_max} database connections, above the pools' limit")

    print(
        f"\n{'min':>5} {'req':>7} {'req/s':>6} {'5xx':>4} {'p50 ms':>7} {'p99 ms':>7} {'RSS MiB':>8}"
        f" {'DB conns':>8} {'CPU ms/req':>10} {'load':>5}"
    )
    for row in rows:
        print(
            f"{row['minute']:>5} {row['requests']:>7} {row['rps']:>6} {row['errors']:>4} {row['p50_ms']:>7} "
            f"{row['p99_ms']:>7} {row['rss_mb']:>8} {row['db_connections']:>8} {row['cpu_ms_per_request']:>10}"
            f" {row['load_avg']:>5}"
        )
    print("\nper request kind (count, p50, p99 ms):")
    for label in sorted(by_label):
        values = by_label[label]
        print(f"  {label:<20} {len(values):>7} {percentile(values, 0.5):>8.1f} {percentile(values, 0.99):>8.1f}")
    print("\nflows:", dict(stats.flows))
    for problem in stats.problems[:20]:
        print("unexpected:", problem)
    summary = {
        "soak_minutes": round(load_seconds / 60, 1),
        "requests": len(stats.samples),
        "rps": round(len(stats.samples) / load_seconds, 1),
        "p50_ms": round(percentile(latencies, 0.5), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "server_errors": errors,
        "unexpected_answers": unexpected,
        "rss_growth": round(rss_growth, 3),
        "rss_mb_first": round(statistics.mean(early), 1),
        "rss_mb_last": round(statistics.mean(late), 1),
        "db_connections_max": int(connections_max),
        **{k: v for k, v in figures.items() if k != "invariant_failures"},
        "flows": dict(stats.flows),
        "failures": failures,
        "windows": rows,
    }
    (work / "soak.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1))
    print("\nfailures:" if failures else "\nevery invariant held", *failures, sep="\n  ")
    print(json.dumps({k: v for k, v in summary.items() if k != "windows"}, ensure_ascii=False))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
