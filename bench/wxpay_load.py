"""The load of bench/run's ``pay_wechat`` scenario: checkouts paid with WeChat Pay, end to end.

``python bench/wxpay_load.py`` with its inputs in the environment (BENCH_APP, BENCH_FAKE, BENCH_TOKEN,
BENCH_SKU_FILE, BENCH_USERS, BENCH_SECONDS, BENCH_NONCE). Each of BENCH_USERS simulated buyers
loops, for BENCH_SECONDS:

1. ``POST /api/v1/orders`` (``payment_method: wechat_pay``, one line of a random sellable SKU);
2. ``POST /api/v1/orders/{id}/payments`` (``method: wechat_pay``): the app places the JSAPI order
   at the fake WeChat Pay on loopback and answers ``wx.requestPayment``'s parameters;
3. the buyer pays: the fake marks the WeChat order paid and hands back the signed, encrypted
   TRANSACTION.SUCCESS notification (not timed: WeChat's side);
4. ``POST /api/v1/payments/wechat/notify`` with it, as WeChat Pay delivers it: the app verifies,
   decrypts, applies the payment and posts it to the ledger (204).

Prints one JSON line: checkouts completed, requests to the app, errors by step, and latency
percentiles per step and per checkout (the three app requests).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import httpx

APP = os.environ["BENCH_APP"]
FAKE = os.environ["BENCH_FAKE"]
TOKEN = os.environ["BENCH_TOKEN"]
SKUS = Path(os.environ["BENCH_SKU_FILE"]).read_text().split()
USERS = int(os.environ.get("BENCH_USERS", "32"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
NONCE = os.environ.get("BENCH_NONCE", "x")

ADDRESS = {"name": "王建国", "phone": "13712345678", "detail": "坊子区凤凰街道北海路1号", "region_code": "370704003009"}
STEPS = ("order", "start", "notify")


def _out_trade_no(order_id: str, amount_fen: int) -> str:
    from coopmarket.payments.wechat_provider import out_trade_no

    return out_trade_no(order_id, amount_fen)


async def buyer(n: int, app: httpx.AsyncClient, fake: httpx.AsyncClient, deadline: float, out: dict[str, Any]) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    i = 0
    while time.monotonic() < deadline:
        i += 1
        key = f"wx-{NONCE}-{n}-{i}"
        started = time.perf_counter()
        try:
            t0 = time.perf_counter()
            r = await app.post(
                "/api/v1/orders",
                json={
                    "lines": [{"sku_id": random.choice(SKUS), "quantity": random.randint(1, 3)}],
                    "shipping_address": ADDRESS,
                    "payment_method": "wechat_pay",
                },
                headers={**auth, "Idempotency-Key": key},
            )
            out["latency"]["order"].append(time.perf_counter() - t0)
            if r.status_code != 201:
                out["errors"]["order"][str(r.status_code)] = out["errors"]["order"].get(str(r.status_code), 0) + 1
                continue
            order = r.json()
            t0 = time.perf_counter()
            r = await app.post(
                f"/api/v1/orders/{order['id']}/payments",
                json={"method": "wechat_pay"},
                headers={**auth, "Idempotency-Key": key + "-pay"},
            )
            out["latency"]["start"].append(time.perf_counter() - t0)
            if r.status_code != 200 or not r.json()["next_action"]["request_payment"]["paySign"]:
                out["errors"]["start"][str(r.status_code)] = out["errors"]["start"].get(str(r.status_code), 0) + 1
                continue
            t_wx = time.perf_counter()
            delivery = (await fake.post(f"/bench/pay/{_out_trade_no(order['id'], order['total_fen'])}")).json()
            paying = time.perf_counter() - t_wx
            t0 = time.perf_counter()
            r = await app.post(
                "/api/v1/payments/wechat/notify", content=delivery["body"].encode(), headers=delivery["headers"]
            )
            out["latency"]["notify"].append(time.perf_counter() - t0)
            if r.status_code != 204:
                out["errors"]["notify"][str(r.status_code)] = out["errors"]["notify"].get(str(r.status_code), 0) + 1
                continue
            out["checkout"].append(time.perf_counter() - started - paying)
            out["paid"].append(order["id"])
        except httpx.HTTPError as exc:
            out["errors"]["socket"][type(exc).__name__] = out["errors"]["socket"].get(type(exc).__name__, 0) + 1


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    out: dict[str, Any] = {
        "latency": {s: [] for s in STEPS},
        "errors": {s: {} for s in (*STEPS, "socket")},
        "checkout": [],
        "paid": [],
    }
    limits = httpx.Limits(max_connections=USERS, max_keepalive_connections=USERS)
    async with (
        httpx.AsyncClient(base_url=APP, timeout=30, limits=limits) as app,
        httpx.AsyncClient(base_url=FAKE, timeout=30, limits=limits) as fake,
    ):
        started = time.monotonic()
        deadline = started + SECONDS
        await asyncio.gather(*(buyer(n, app, fake, deadline, out) for n in range(USERS)))
        elapsed = time.monotonic() - started
    requests = sum(len(v) for v in out["latency"].values())
    errors = sum(sum(v.values()) for v in out["errors"].values())
    result = {
        "seconds": round(elapsed, 2),
        "checkouts": len(out["checkout"]),
        "checkouts_per_s": round(len(out["checkout"]) / elapsed, 2),
        "requests": requests,
        "requests_per_s": round(requests / elapsed, 2),
        "errors": errors,
        "errors_by_step": out["errors"],
        "p50_ms": {s: round(_pct(out["latency"][s], 0.50), 2) for s in STEPS},
        "p99_ms": {s: round(_pct(out["latency"][s], 0.99), 2) for s in STEPS},
        "checkout_p50_ms": round(_pct(out["checkout"], 0.50), 2),
        "checkout_p99_ms": round(_pct(out["checkout"], 0.99), 2),
        "paid_orders": out["paid"],
    }
    print("BENCH_WX " + json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
