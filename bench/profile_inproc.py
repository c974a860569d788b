"""Profile the app in-process: requests straight into the ASGI callable, no server, no network.

    PYTHONPATH=src .venv/bin/python bench/profile_inproc.py list 2000 [cprofile|pyinstrument|time]
    PYTHONPATH=src .venv/bin/python bench/profile_inproc.py order 300 cprofile

Against the bench database (``bench/run`` seeds it), production settings. ``time`` prints the
process CPU per request (sequential requests, so database wait is not counted). Not part of CI.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import pstats
import random
import secrets
import sys
import time
from typing import Any

os.environ.setdefault(
    "COOPMARKET_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/coopmarket_bench"
)
os.environ.setdefault("COOPMARKET_ENVIRONMENT", "production")
os.environ.setdefault("COOPMARKET_JWT_SECRET", secrets.token_urlsafe(48))
os.environ.setdefault("COOPMARKET_RUN_BACKGROUND_JOBS", "false")
os.environ.setdefault("COOPMARKET_DATABASE_ECHO", "false")
os.environ.setdefault("COOPMARKET_PAYMENT_PROVIDERS", '["offline"]')

import asyncpg

from coopmarket.app import create_app

PATHS = {
    "list": (b"/api/v1/products", b"limit=20"),
    "list_q": (b"/api/v1/products", b"limit=20&q=%E8%8B%B9%E6%9E%9C"),
    "list_branded": (b"/api/v1/products", b"limit=20&branded=true"),
}


async def call(
    app: Any, method: str, path: bytes, query: bytes, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path.decode(),
        "raw_path": path,
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def main() -> None:
    kind = sys.argv[1]
    n = int(sys.argv[2])
    mode = sys.argv[3] if len(sys.argv) > 3 else "time"
    app = create_app()
    async with app.lifespan():
        if kind == "order":
            dsn = os.environ["COOPMARKET_DATABASE_URL"].replace("postgresql+asyncpg", "postgresql")
            conn = await asyncpg.connect(dsn)
            skus = [
                r["id"]
                for r in await conn.fetch(
                    "SELECT sku.id FROM sku JOIN product ON product.id = sku.product_id"
                    " JOIN cooperative ON cooperative.id = product.cooperative_id"
                    " WHERE product.status = 'active' AND cooperative.status = 'approved' ORDER BY sku.id"
                )
            ]
            await conn.close()
            phone = "171" + "".join(secrets.choice("0123456789") for _ in range(8))
            status, answer = await call(
                app,
                "POST",
                b"/api/v1/auth/register",
                b"",
                [(b"content-type", b"application/json")],
                json.dumps(
                    {"phone": phone, "password": secrets.token_urlsafe(12), "display_name": "剖析买家"}
                ).encode(),
            )
            assert status == 201, (status, answer)
            token = json.loads(answer)["access_token"]
            counter = 0

            def request() -> tuple[str, bytes, bytes, list[tuple[bytes, bytes]], bytes]:
                nonlocal counter
                counter += 1
                lines = [{"sku_id": random.choice(skus), "quantity": random.randint(1, 3)}]
                if random.random() < 0.5:
                    second = random.choice(skus)
                    if second != lines[0]["sku_id"]:
                        lines.append({"sku_id": second, "quantity": random.randint(1, 3)})
                body = {
                    "lines": lines,
                    "shipping_address": {
                        "name": "王建国",
                        "phone": "13712345678",
                        "detail": "坊子区凤凰街道北海路1号",
                        "region_code": "370704003009",
                    },
                    "payment_method": "offline",
                }
                headers = [
                    (b"content-type", b"application/json"),
                    (b"authorization", f"Bearer {token}".encode()),
                    (b"idempotency-key", f"prof-{secrets.token_hex(6)}-{counter}".encode()),
                ]
                return "POST", b"/api/v1/orders", b"", headers, json.dumps(body).encode()

            expected = 201
        else:
            path, query = PATHS[kind]

            def request() -> tuple[str, bytes, bytes, list[tuple[bytes, bytes]], bytes]:
                return "GET", path, query, [], b""

            expected = 200
        for _ in range(max(20, n // 10)):  # warm-up
            status, answer = await call(app, *request())
            assert status == expected, (status, answer[:500])
        profiler: Any = None
        if mode == "cprofile":
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
        elif mode == "pyinstrument":
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0002, async_mode="disabled")
            profiler.start()
        started_cpu = time.process_time()
        started = time.perf_counter()
        for _ in range(n):
            status, _ = await call(app, *request())
            assert status == expected
        cpu = time.process_time() - started_cpu
        wall = time.perf_counter() - started
        if mode == "cprofile":
            profiler.disable()
            stats = pstats.Stats(profiler)
            stats.sort_stats("cumulative").print_stats(60)
            stats.sort_stats("tottime").print_stats(40)
        elif mode == "pyinstrument":
            profiler.stop()
            print(profiler.output_text(unicode=True, color=False, show_all=False))
        print(
            f"{kind}: {n} requests, CPU {cpu / n * 1000:.3f} ms/request, wall {wall / n * 1000:.3f} ms/request"
        )


if __name__ == "__main__":
    asyncio.run(main())
