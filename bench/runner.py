"""The benchmark driver behind ``bench/run`` (see bench/README.md for the knobs).

Prepares ``coopmarket_bench`` (migrations + seed, reused when its shape matches), starts the real
app and the raw baseline side by side (same uvicorn, same worker count, same CPU), checks that both
answer the same JSON, then runs wrk against each, scenario by scenario, app first then baseline, on
the same database state, and prints requests/s, p50/p99 and app/baseline ratios, ending with one
JSON line. Exits non-zero when a run fails (a server error, more than 1% non-2xx or socket errors,
JSON that differs from the baseline).

``order_sqlite`` is the embedded default under the same order load: a copy of the bench database
in a SQLite file (``coopmarket migrate``, then every table copied from PostgreSQL), the real app on
it, and wrk with the same script; it reports errors and p99 next to the app on PostgreSQL in the
same run (target: no errors, p99 at most 3x PostgreSQL's).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(ROOT))  # tests.wxpay_fake, for pay_wechat's keys
import report_seed  # noqa: E402  (bench/report_seed.py)
import seed  # noqa: E402  (bench/seed.py)

VENV = Path(os.environ.get("BENCH_VENV", ROOT / ".venv"))
UVICORN = VENV / "bin" / "uvicorn"
COOPMARKET = VENV / "bin" / "coopmarket"


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = _env_int("BENCH_PG_PORT", 5432)
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
DB_NAME = os.environ.get("BENCH_DB", "coopmarket_bench")
DSN = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{DB_NAME}"
ADMIN_DSN = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/postgres"
APP_DB_URL = f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{DB_NAME}"

DURATION = _env_int("BENCH_DURATION", 15)
WARMUP = _env_int("BENCH_WARMUP", 3)
CONNECTIONS = _env_int("BENCH_CONNECTIONS", 32)
WRK_THREADS = _env_int("BENCH_WRK_THREADS", 1)
WORKERS = _env_int("BENCH_WORKERS", 1)
# The most DB connections each server holds, all kept open: the app's pool_size (no overflow, whose
# connections SQLAlchemy closes on return) and the baseline's asyncpg max_size (min_size half of it).
POOL_SIZE = _env_int("BENCH_POOL_SIZE", 20)
APP_PORT = _env_int("BENCH_APP_PORT", 18701)
BASE_PORT = _env_int("BENCH_BASELINE_PORT", 18702)
MAX_ERROR_RATE = float(os.environ.get("BENCH_MAX_ERROR_RATE", "0.01"))
RESEED = os.environ.get("BENCH_RESEED", "") not in ("", "0", "false")
PROFILE = os.environ.get("BENCH_PROFILE", "") not in ("", "0", "false")
NICE = os.environ.get("BENCH_NICE", "")  # e.g. -10: servers and wrk ahead of other work on a busy machine
OUT = Path(os.environ.get("BENCH_OUT", f"/tmp/coopmarket-bench-{time.strftime('%Y%m%d-%H%M%S')}"))

SEARCH_TERM = "苹果"
SCENARIOS: dict[str, dict[str, str]] = {
    "list": {"method": "GET", "path": "/api/v1/products?limit=20", "script": "list.lua"},
    "list_category": {
        "method": "GET",
        "path": "/api/v1/products?limit=20&category=fruit",
        "script": "list.lua",
    },
    "list_q": {
        "method": "GET",
        "path": "/api/v1/products?limit=20&q=" + urllib.parse.quote(SEARCH_TERM),
        "script": "list.lua",
    },
    "list_branded": {
        "method": "GET",
        "path": "/api/v1/products?limit=20&branded=true",
        "script": "list.lua",
    },
    "order": {"method": "POST", "path": "/api/v1/orders", "script": "order.lua"},
    # The same order load on the app with the embedded default (SQLite); no baseline.
    "order_sqlite": {"method": "POST", "path": "/api/v1/orders", "script": "order.lua"},
    # Checkouts paid with WeChat Pay (order, start, notification) against the fake on loopback;
    # bench/wxpay_load.py drives it, not wrk. No baseline: reported next to `order` of the same run.
    "pay_wechat": {"method": "POST", "path": "/api/v1/orders", "script": ""},
    # The yearly collective-income report by village over the whole district, at 10k, 100k and 1M
    # settled order lines, each in its own database (bench/report_seed.py); no baseline.
    "report": {
        "method": "GET",
        "path": "/api/v1/reports/collective-income?from=2025-01-01&to=2025-12-31&group_by=village",
        "script": "report_get.lua",
    },
}
SELECTED = [
    s.strip()
    for s in os.environ.get(
        "BENCH_SCENARIOS", "list,list_category,list_q,list_branded,order,order_sqlite,pay_wechat,report"
    ).split(",")
    if s.strip()
]
SQLITE_PORT = _env_int("BENCH_SQLITE_PORT", 18703)
WXPAY_PORT = _env_int("BENCH_WXPAY_PORT", 18704)
# Side by side: the app from another source tree (e.g. `git archive <commit> src | tar -x -C DIR`,
# then BENCH_BEFORE_SRC=DIR/src), run on the same scenarios in the same run as "before".
BEFORE_SRC = os.environ.get("BENCH_BEFORE_SRC", "")
BEFORE_PORT = _env_int("BENCH_BEFORE_PORT", 18705)
SQLITE_P99_LIMIT = 3.0  # issue 10: p99 on SQLite at most 3x PostgreSQL's, at the same load


def _cpus() -> tuple[str | None, str | None]:
    """CPU lists for the servers and for wrk (None: not pinned)."""
    server = os.environ.get("BENCH_SERVER_CPUS")
    wrk = os.environ.get("BENCH_WRK_CPUS")
    if server is None and wrk is None and (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        return "1", "0"
    return server or None, wrk or None


SERVER_CPUS, WRK_CPUS = _cpus()


class BenchFailure(Exception):
    """A run that cannot be trusted: printed and turned into a non-zero exit."""


def log(message: str = "") -> None:
    print(message, flush=True)


def _pinned(cmd: list[str], cpus: str | None) -> list[str]:
    if NICE:
        cmd = ["nice", "-n", NICE, *cmd]
    return ["taskset", "-c", cpus, *cmd] if cpus else cmd


_TICKS = os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time of every live process in a process group (a server and its workers)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / _TICKS


# --- database --------------------------------------------------------------------------------


async def prepare_database() -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DB_NAME)
        drop = RESEED
        if exists and not drop:
            conn = await asyncpg.connect(DSN)
            try:
                current = await seed.current_shape(conn)
                has_products = await conn.fetchval("SELECT to_regclass('public.product') IS NOT NULL")
            finally:
                await conn.close()
            if current != seed.shape():
                drop = bool(has_products)
                if drop:
                    log(f"database {DB_NAME}: seeded with another shape or older migrations; rebuilding it")
        if exists and drop:
            await admin.execute(f'DROP DATABASE "{DB_NAME}" WITH (FORCE)')
            exists = False
        if not exists:
            await admin.execute(f'CREATE DATABASE "{DB_NAME}"')
            log(f"database {DB_NAME}: created")
    finally:
        await admin.close()


def migrate() -> None:
    started = time.perf_counter()
    result = subprocess.run(
        [str(COOPMARKET), "migrate"],
        env={**os.environ, "COOPMARKET_DATABASE_URL": APP_DB_URL},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise BenchFailure(f"coopmarket migrate failed:\n{result.stdout}{result.stderr}")
    log(f"migrate: {result.stdout.strip()} ({time.perf_counter() - started:.1f}s)")


async def reset_state() -> None:
    """Same database state for every order run: no orders or keys, every SKU back at its seeded stock."""
    conn = await asyncpg.connect(DSN)
    try:
        # CASCADE: and whatever the order slices hang on orders (payments, refunds, ...).
        # The stock history too: checkout writes one row per SKU taken (the seed writes none).
        await conn.execute(
            "TRUNCATE orders, order_part, order_line, idempotency_key, stock_adjustment, outbox_event CASCADE"
        )
        await conn.execute(
            "UPDATE sku SET stock = b.stock FROM bench_sku_stock b WHERE sku.id = b.sku_id AND sku.stock <> b.stock"
        )
        await conn.execute(
            "VACUUM (ANALYZE) sku, orders, order_part, order_line, idempotency_key, stock_adjustment"
        )
    finally:
        await conn.close()


async def sellable_skus() -> list[str]:
    """Ids of every sellable SKU (active product of an approved cooperative), for order.lua."""
    conn = await asyncpg.connect(DSN)
    try:
        rows = await conn.fetch(
            "SELECT sku.id FROM sku JOIN product ON product.id = sku.product_id"
            " JOIN cooperative ON cooperative.id = product.cooperative_id"
            " WHERE product.status = 'active' AND cooperative.status = 'approved' ORDER BY sku.id"
        )
    finally:
        await conn.close()
    return [r["id"] for r in rows]


async def wait_quiet(limit_s: float = 60) -> float:
    """Wait until no other session works on the bench database (requests cut off by wrk's end finish
    on the server). Returns the seconds waited."""
    started = time.monotonic()
    conn = await asyncpg.connect(DSN)
    try:
        while True:
            busy = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"
                " AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')",
                DB_NAME,
            )
            waited = time.monotonic() - started
            if busy == 0:
                return waited
            if waited > limit_s:
                raise BenchFailure(f"{busy} database sessions still busy {limit_s:.0f}s after a run")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def db_sessions() -> int:
    """Connections ever opened to the bench database (pg_stat_database.sessions, PostgreSQL 14+)."""
    conn = await asyncpg.connect(DSN)
    try:
        value = await conn.fetchval("SELECT sessions FROM pg_stat_database WHERE datname = $1", DB_NAME)
        return int(value or 0)
    except asyncpg.UndefinedColumnError:
        return 0
    finally:
        await conn.close()


async def db_counts() -> dict[str, int]:
    conn = await asyncpg.connect(DSN)
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM orders) AS orders, (SELECT count(*) FROM order_line) AS lines,"
            " (SELECT count(*) FROM idempotency_key WHERE status = 'completed') AS keys,"
            " (SELECT coalesce(sum(b.stock - s.stock), 0) FROM sku s JOIN bench_sku_stock b ON b.sku_id = s.id)"
            " AS units_taken,"
            " (SELECT coalesce(sum(quantity), 0) FROM order_line) AS units_ordered"
        )
        return {k: int(v) for k, v in row.items()}
    finally:
        await conn.close()


async def delete_bench_buyers() -> None:
    conn = await asyncpg.connect(DSN)
    try:
        await conn.execute("DELETE FROM user_account WHERE role = 'buyer' AND display_name = '压测买家'")
    finally:
        await conn.close()


# --- servers ---------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


SERVERS: list[Server] = []


def start_server(name: str, target: list[str], port: int, env: dict[str, str]) -> Server:
    cmd = [
        str(UVICORN),
        *target,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(WORKERS),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    log_path = OUT / f"{name}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            _pinned(cmd, SERVER_CPUS),
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped whole, workers included
            cwd=str(ROOT),
        )
    server = Server(name, port, process, log_path)
    SERVERS.append(server)
    return server


def stop_servers() -> None:
    for server in SERVERS:
        if server.process.poll() is None:
            try:
                os.killpg(server.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
    deadline = time.monotonic() + 10
    for server in SERVERS:
        try:
            server.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(server.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    SERVERS.clear()


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw)
        except ValueError:
            return error.code, raw.decode(errors="replace")


def wait_ready(server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{server.port}/api/v1/products?limit=1"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchFailure(
                f"{server.name} server exited with {server.process.returncode}:\n{server.tail()}"
            )
        try:
            status, _ = http("GET", url)
            if status:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise BenchFailure(f"{server.name} server did not answer within {timeout:.0f}s:\n{server.tail()}")


# --- checks before measuring -----------------------------------------------------------------


def _normalised_order(order: dict[str, Any]) -> dict[str, Any]:
    """An order answer without what differs between two placements (ids and times)."""
    copy = json.loads(json.dumps(order))
    for key in ("id", "expires_at", "created_at"):
        copy.pop(key, None)
    for part in copy.get("parts", []):
        part.pop("id", None)
    return copy


def order_body(sku_ids: list[str]) -> dict[str, Any]:
    return {
        "lines": [{"sku_id": s, "quantity": q} for s, q in zip(sku_ids, (1, 2), strict=False)],
        "shipping_address": {
            "name": "王建国",
            "phone": "13712345678",
            "detail": "坊子区凤凰街道北海路1号",
            "region_code": "370704003009",
        },
        "payment_method": "offline",
    }


def check_same_answers(app: Server, base: Server, token: str, sku_ids: list[str]) -> dict[str, str]:
    """Each selected scenario answers 2xx with the same JSON on both servers; a note per scenario."""
    notes: dict[str, str] = {}
    for name in SELECTED:
        if name == "report":  # measured on its own databases, before the others (no baseline)
            continue
        spec = SCENARIOS[name]
        if name == "order_sqlite":
            notes[name] = "same JSON (checked against the SQLite app when it starts)"
            continue
        if name == "pay_wechat":
            notes[name] = "same JSON (no baseline; every step's answer is checked while it runs)"
            continue
        if spec["method"] == "GET":
            a_status, a_body = http("GET", f"http://127.0.0.1:{app.port}{spec['path']}")
            b_status, b_body = http("GET", f"http://127.0.0.1:{base.port}{spec['path']}")
            if a_status != 200:
                notes[name] = f"app answered {a_status}: {str(a_body)[:300]}"
                continue
            if b_status != 200:
                raise BenchFailure(f"{name}: baseline answered {b_status}: {str(b_body)[:300]}")
            if a_body != b_body:
                raise BenchFailure(
                    f"{name}: the baseline's JSON differs from the app's:\napp:      {a_body}\nbaseline: {b_body}"
                )
            notes[name] = f"same JSON on both ({len(a_body['items'])} items)"
        else:
            headers = {"Authorization": f"Bearer {token}"}
            body = order_body(sku_ids)
            a_status, a_body = http(
                "POST",
                f"http://127.0.0.1:{app.port}{spec['path']}",
                body,
                {**headers, "Idempotency-Key": "bench-check-app-" + secrets.token_hex(6)},
            )
            if a_status != 201:
                notes[name] = f"app answered {a_status}: {str(a_body)[:300]}"
                continue
            b_status, b_body = http(
                "POST",
                f"http://127.0.0.1:{base.port}{spec['path']}",
                body,
                {**headers, "Idempotency-Key": "bench-check-base-" + secrets.token_hex(6)},
            )
            if b_status != 201:
                raise BenchFailure(f"{name}: baseline answered {b_status}: {str(b_body)[:300]}")
            if _normalised_order(a_body) != _normalised_order(b_body):
                raise BenchFailure(
                    f"{name}: the baseline's order JSON differs from the app's:\napp:      {a_body}\nbaseline: {b_body}"
                )
            if sorted(a_body) != sorted(b_body):
                raise BenchFailure(f"{name}: the answers have different keys")
            notes[name] = "same JSON on both (ids and times aside), 201"
    return notes


# --- the embedded default: SQLite ----------------------------------------------------------


def _sqlite_template() -> Path:
    """Where the SQLite copy of this database shape and schema is kept between runs (its rows are
    copied once: SQLite's search triggers make that take minutes on a busy machine)."""
    digest = hashlib.sha256(json.dumps(seed.shape(), sort_keys=True, default=str).encode()).hexdigest()[:12]
    template = Path(os.environ.get("BENCH_SQLITE_CACHE", "/tmp")) / f"coopmarket-bench-{DB_NAME}-{digest}.sqlite3"
    if RESEED:
        template.unlink(missing_ok=True)
    return template


def copy_to_sqlite(path: Path) -> dict[str, int]:
    """A SQLite file migrated like any install, holding every row of the bench database; the rows
    copied per table."""
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    url = f"sqlite+aiosqlite:///{path}"
    result = subprocess.run(
        [str(COOPMARKET), "migrate"],
        env={**os.environ, "COOPMARKET_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise BenchFailure(f"coopmarket migrate (SQLite) failed:\n{result.stdout}{result.stderr}")
    return asyncio.run(_copy_rows(url))


async def _copy_rows(url: str, only: set[str] | None = None) -> dict[str, int]:
    from sqlalchemy import select, text
    from sqlalchemy.ext.asyncio import create_async_engine

    from coopmarket.models import metadata

    source = create_async_engine(APP_DB_URL)
    target = create_async_engine(url)
    copied: dict[str, int] = {}
    try:
        async with source.connect() as pg, target.begin() as lite:
            await lite.execute(text("PRAGMA foreign_keys=OFF"))
            on_postgres = set(
                (await pg.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))).scalars()
            )
            for table in metadata.sorted_tables:
                if table.name in ("region", "alembic_version"):
                    continue  # the migrations loaded the regions
                if only is not None and table.name not in only:
                    continue
                if table.name not in on_postgres:
                    continue  # SQLite's own (product_search_gram: filled by triggers on product)
                # Only the columns SQLite has (product.search_grams is PostgreSQL's: SQLite keeps
                # the grams in product_search_gram, which its triggers fill as products arrive).
                here = {r[1] for r in (await lite.execute(text(f'PRAGMA table_info("{table.name}")'))).all()}
                columns = [c for c in table.columns if c.name in here]
                rows = (await pg.execute(select(*columns))).mappings().all()
                if table.name == "catalogue_version" or only is not None:
                    await lite.execute(table.delete())  # the migrations' shards give way to the copy
                for start in range(0, len(rows), 5000):
                    await lite.execute(table.insert(), [dict(r) for r in rows[start : start + 5000]])
                if rows:
                    copied[table.name] = len(rows)
    finally:
        await source.dispose()
        await target.dispose()
    return copied


async def seeded_stock() -> dict[str, int]:
    conn = await asyncpg.connect(DSN)
    try:
        return {
            r["sku_id"]: r["stock"] for r in await conn.fetch("SELECT sku_id, stock FROM bench_sku_stock")
        }
    finally:
        await conn.close()


def sqlite_counts(path: Path, seeded: dict[str, int]) -> dict[str, int]:
    with sqlite3.connect(path, timeout=60) as conn:
        orders = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
        units_ordered = conn.execute("SELECT coalesce(sum(quantity), 0) FROM order_line").fetchone()[0]
        stock = dict(conn.execute("SELECT id, stock FROM sku").fetchall())
    units_taken = sum(seeded[sku] - left for sku, left in stock.items() if sku in seeded)
    return {"orders": int(orders), "units_ordered": int(units_ordered), "units_taken": int(units_taken)}


def run_sqlite_orders(
    common_env: dict[str, str], token: str, sku_file: Path, sku_ids: list[str], failures: list[str]
) -> Result | None:
    """The order scenario against the app on a SQLite copy of the bench database."""
    path = OUT / "bench.sqlite3"
    started = time.perf_counter()
    asyncio.run(reset_state())  # the copy starts from the seeded state, like every order run
    template = _sqlite_template()
    if template.exists():
        shutil.copyfile(template, path)
        asyncio.run(_copy_rows(f"sqlite+aiosqlite:///{path}", only={"user_account"}))  # this run's buyer
        log(f"  SQLite copy: reused {template} ({time.perf_counter() - started:.1f}s; BENCH_RESEED=1 rebuilds it)")
    else:
        copied = copy_to_sqlite(path)
        shutil.copyfile(path, template)
        log(
            f"  SQLite copy: {sum(copied.values())} rows in {len(copied)} tables ({time.perf_counter() - started:.1f}s;"
            f" kept as {template} for the next run)"
        )
    seeded = asyncio.run(seeded_stock())
    env = {**common_env, "COOPMARKET_DATABASE_URL": f"sqlite+aiosqlite:///{path}"}
    server = start_server("app-sqlite", ["--factory", "coopmarket.app:create_app"], SQLITE_PORT, env)
    wait_ready(server)
    status, answer = http(
        "POST",
        f"http://127.0.0.1:{SQLITE_PORT}/api/v1/orders",
        order_body(sku_ids),
        {"Authorization": f"Bearer {token}", "Idempotency-Key": "bench-check-sqlite-" + secrets.token_hex(6)},
    )
    if status != 201:
        failures.append(f"order_sqlite: the app on SQLite answered {status}: {str(answer)[:300]}")
        return None
    env_extra = {"BENCH_TOKEN": token, "BENCH_SKU_FILE": str(sku_file), "BENCH_NONCE": secrets.token_hex(4)}
    if WARMUP > 0:
        run_wrk("order_sqlite", SQLITE_PORT, WARMUP, env_extra)
        time.sleep(2)  # requests wrk cut off finish
    env_extra["BENCH_NONCE"] = secrets.token_hex(4)
    before = sqlite_counts(path, seeded)
    cpu_before = group_cpu_seconds(server.process.pid)
    result = run_wrk("order_sqlite", SQLITE_PORT, DURATION, env_extra)
    result.cpu_s = group_cpu_seconds(server.process.pid) - cpu_before
    time.sleep(2)
    after = sqlite_counts(path, seeded)
    if server.process.poll() is not None:
        failures.append(f"order_sqlite: server died:\n{server.tail()}")
    created = after["orders"] - before["orders"]
    ok = sum(v for k, v in result.statuses.items() if 200 <= int(k) < 300)
    if after["units_taken"] != after["units_ordered"]:
        failures.append(
            f"order_sqlite: stock taken {after['units_taken']} != units ordered {after['units_ordered']}"
        )
    if created < ok:
        failures.append(f"order_sqlite: {ok} answers 2xx but only {created} orders written")
    locked = server.tail(400).count("database is locked")
    statuses = f" statuses {result.statuses}" if result.statuses else ""
    log(
        f"  app on SQLite {result.rps:9.1f} req/s  p50 {result.p50_ms:7.2f} ms  p90 {result.p90_ms:7.2f} ms  "
        f"p99 {result.p99_ms:7.2f} ms  ({result.requests} requests in {result.seconds:.1f}s, "
        f"{result.errors} errors = {100 * result.error_rate:.2f}%); server CPU {result.cpu_ms_per_request:.2f} ms/request"
        f"{statuses}; orders written {created} (2xx {ok}); 'database is locked' in the log: {locked}"
    )
    return result


# --- WeChat Pay checkouts against the fake on loopback -----------------------------------------


def start_wxpay_fake() -> dict[str, str]:
    """Keys for both sides, the fake WeChat Pay served on WXPAY_PORT; the app's settings for it."""
    from tests.wxpay_fake import Keys, new_key, private_pem, public_pem

    keys = Keys(merchant=new_key(), wechat=new_key())
    merchant, wechat, wechat_public = OUT / "wx-merchant.pem", OUT / "wx-wechat.pem", OUT / "wx-wechat-public.pem"
    merchant.write_text(private_pem(keys.merchant))
    wechat.write_text(private_pem(keys.wechat))
    wechat_public.write_text(public_pem(keys.wechat))
    log_path = OUT / "wxpay-fake.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            _pinned(
                [str(VENV / "bin" / "python"), str(BENCH / "wxpay_server.py"), str(WXPAY_PORT), str(merchant), str(wechat)],
                WRK_CPUS,
            ),
            env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=str(ROOT),
        )
    SERVERS.append(Server("wxpay-fake", WXPAY_PORT, process, log_path))
    deadline = time.monotonic() + 30
    while "fake WeChat Pay on" not in log_path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise BenchFailure(f"the fake WeChat Pay did not start:\n{log_path.read_text(errors='replace')}")
        time.sleep(0.2)
    settings = {k: v for k, v in keys.settings().items() if k not in ("wechat_pay_private_key", "wechat_pay_public_key")}
    settings.update(
        {
            "wechat_pay_private_key_path": str(merchant),
            "wechat_pay_public_key_path": str(wechat_public),
            "wechat_pay_api_base": f"http://127.0.0.1:{WXPAY_PORT}",
            "wechat_pay_notify_url": f"http://127.0.0.1:{APP_PORT}/api/v1/payments/wechat/notify",
        }
    )
    env = {f"COOPMARKET_{k.upper()}": str(v) for k, v in settings.items()}
    env["COOPMARKET_PAYMENT_PROVIDERS"] = '["offline", "wechat_pay"]'
    return env


async def give_openid(user_id: str) -> None:
    conn = await asyncpg.connect(DSN)
    try:
        await conn.execute(
            "UPDATE user_account SET wechat_openid = $2 WHERE id = $1 AND wechat_openid IS NULL", user_id, f"o-bench-{user_id}"
        )
    finally:
        await conn.close()


async def wechat_paid_counts(order_ids: list[str]) -> tuple[int, int, int]:
    """(orders paid, WeChat payments succeeded, payment postings) among ``order_ids``."""
    conn = await asyncpg.connect(DSN)
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM orders WHERE id = ANY($1::varchar[]) AND status = 'paid') AS paid,"
            " (SELECT count(*) FROM payment WHERE order_id = ANY($1::varchar[]) AND provider = 'wechat_pay'"
            "  AND status = 'succeeded') AS payments,"
            " (SELECT count(*) FROM ledger_transaction WHERE order_id = ANY($1::varchar[])"
            "  AND kind = 'payment_received') AS postings",
            order_ids,
        )
        return int(row["paid"]), int(row["payments"]), int(row["postings"])
    finally:
        await conn.close()


def run_wechat_load(server: Server, token: str, sku_file: Path, seconds: int) -> dict[str, Any]:
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}",
        "BENCH_APP": f"http://127.0.0.1:{server.port}",
        "BENCH_FAKE": f"http://127.0.0.1:{WXPAY_PORT}",
        "BENCH_TOKEN": token,
        "BENCH_SKU_FILE": str(sku_file),
        "BENCH_USERS": str(CONNECTIONS),
        "BENCH_SECONDS": str(seconds),
        "BENCH_NONCE": secrets.token_hex(4),
    }
    completed = subprocess.run(
        _pinned([str(VENV / "bin" / "python"), str(BENCH / "wxpay_load.py")], WRK_CPUS),
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith("BENCH_WX ")), None)
    if completed.returncode != 0 or line is None:
        raise BenchFailure(f"the WeChat Pay load failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
    return dict(json.loads(line.removeprefix("BENCH_WX ")))


def run_wechat_checkouts(app: Server, token: str, sku_file: Path, failures: list[str]) -> dict[str, Any]:
    asyncio.run(wait_quiet())
    asyncio.run(reset_state())
    if WARMUP > 0:
        run_wechat_load(app, token, sku_file, WARMUP)
        asyncio.run(wait_quiet())
    cpu_before = group_cpu_seconds(app.process.pid)
    result = run_wechat_load(app, token, sku_file, DURATION)
    result["cpu_s"] = group_cpu_seconds(app.process.pid) - cpu_before
    asyncio.run(wait_quiet())
    paid_ids = result.pop("paid_orders")
    paid, payments, postings = asyncio.run(wechat_paid_counts(paid_ids))
    if app.process.poll() is not None:
        failures.append(f"pay_wechat: server died:\n{app.tail()}")
    if not paid_ids:
        failures.append(f"pay_wechat: no checkout completed: {result['errors_by_step']}")
    if not paid == payments == postings == len(paid_ids):
        failures.append(
            f"pay_wechat: {len(paid_ids)} notifications answered 204, but {paid} orders paid, {payments} WeChat "
            f"payments succeeded, {payments} payment postings"
        )
    if result["requests"] and result["errors"] / result["requests"] > MAX_ERROR_RATE:
        failures.append(f"pay_wechat: {result['errors']} errors in {result['requests']} requests: {result['errors_by_step']}")
    result["cpu_ms_per_checkout"] = 1000 * result["cpu_s"] / len(paid_ids) if paid_ids else 0.0
    result["cpu_ms_per_request"] = 1000 * result["cpu_s"] / result["requests"] if result["requests"] else 0.0
    log(
        f"  app       {result['checkouts_per_s']:7.1f} checkouts/s ({result['requests_per_s']:.1f} req/s; "
        f"{result['checkouts']} checkouts, {result['requests']} requests in {result['seconds']:.1f}s, "
        f"{result['errors']} errors {result['errors_by_step'] if result['errors'] else ''})\n"
        f"            p50/p99 ms: order {result['p50_ms']['order']:.1f}/{result['p99_ms']['order']:.1f}, "
        f"start {result['p50_ms']['start']:.1f}/{result['p99_ms']['start']:.1f}, "
        f"notify {result['p50_ms']['notify']:.1f}/{result['p99_ms']['notify']:.1f}, "
        f"checkout (the three) {result['checkout_p50_ms']:.1f}/{result['checkout_p99_ms']:.1f}\n"
        f"            server CPU {result['cpu_ms_per_checkout']:.2f} ms/checkout, {result['cpu_ms_per_request']:.2f} ms/request; "
        f"orders paid {paid}, WeChat payments succeeded {payments}, payment postings {postings} "
        f"(notifications 204: {len(paid_ids)})"
    )
    return result


# --- wrk -------------------------------------------------------------------------------------


@dataclass
class Result:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    errors: int
    error_rate: float
    statuses: dict[str, int] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    cpu_s: float = 0.0  # the server's CPU time during the run
    db_connects: int = 0  # database connections the server opened during the run

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.cpu_s / self.requests if self.requests else 0.0

    @property
    def cpu_share(self) -> float:
        return self.cpu_s / self.seconds if self.seconds else 0.0


def run_wrk(scenario: str, port: int, seconds: int, env_extra: dict[str, str]) -> Result:
    spec = SCENARIOS[scenario]
    url = f"http://127.0.0.1:{port}{spec['path']}"
    cmd = _pinned(
        [
            "wrk",
            f"-t{WRK_THREADS}",
            f"-c{CONNECTIONS}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(BENCH / spec["script"]),
            url,
        ],
        WRK_CPUS,
    )
    env = {**os.environ, "BENCH_DIR": str(BENCH), **env_extra}
    completed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60)
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None)
    if completed.returncode != 0 or line is None:
        raise BenchFailure(f"wrk failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
    raw = json.loads(line.removeprefix("BENCH_RESULT "))
    requests = int(raw["requests"])
    duration = raw["duration_us"] / 1e6
    errs = raw["errors"]
    socket_errors = errs["connect"] + errs["read"] + errs["write"] + errs["timeout"]
    statuses = {str(k): int(v) for k, v in raw.get("statuses", {}).items()}
    if statuses:
        non_2xx = sum(v for k, v in statuses.items() if not 200 <= int(k) < 300)
    else:
        non_2xx = errs["status"]  # wrk counts answers with a status above 399
    errors = socket_errors + non_2xx
    lat = raw["latency_us"]
    return Result(
        requests=requests,
        seconds=duration,
        rps=requests / duration if duration else 0.0,
        p50_ms=lat["p50"] / 1000,
        p90_ms=lat["p90"] / 1000,
        p99_ms=lat["p99"] / 1000,
        mean_ms=lat["mean"] / 1000,
        errors=errors,
        error_rate=errors / requests if requests else 1.0,
        statuses=statuses,
        raw=raw,
    )


# --- profiling (optional) --------------------------------------------------------------------


def start_profile(server: Server, scenario: str) -> subprocess.Popen[bytes] | None:
    py_spy = shutil.which("py-spy") or str(VENV / "bin" / "py-spy")
    if not Path(py_spy).exists():
        log("  (BENCH_PROFILE: py-spy not found; `.venv/bin/pip install py-spy`)")
        return None
    out = OUT / f"profile-{scenario}.txt"
    return subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(server.process.pid),
            "--subprocesses",
            "--rate",
            "200",
            "--duration",
            str(DURATION),
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def summarise_profile(scenario: str, top: int = 25) -> None:
    path = OUT / f"profile-{scenario}.txt"
    if not path.exists():
        return
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [
            re.sub(r" \(([^)]*/)?([^/)]+)\)$", r" (\2)", f) for f in stack.split(";")[1:]
        ]  # drop the process
        frames = [f.replace("(/work/main/", "(") for f in frames]
        total += count
        own[frames[-1] if frames else "?"] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return
    log(f"  profile of the app during {scenario} ({total} samples; raw stacks in {path}):")
    log("    self time:")
    for frame, n in own.most_common(top):
        log(f"      {100 * n / total:5.1f}%  {frame[:150]}")
    log("    inclusive time:")
    for frame, n in inclusive.most_common(top + 15):
        log(f"      {100 * n / total:5.1f}%  {frame[:150]}")


# --- the report scenario ---------------------------------------------------------------------

REPORT_SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
REPORT_CONNECTIONS = _env_int("BENCH_REPORT_CONNECTIONS", 1)
REPORT_TARGET_MS = 50.0


async def _prepare_report_database(name: str) -> bool:
    """Create ``name`` unless it exists with the current migrations; True when it is new."""
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists and not RESEED:
            conn = await asyncpg.connect(f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}")
            try:
                current = await report_seed.current_shape(conn)
            finally:
                await conn.close()
            if current is not None and current.get("migrations") == seed.migrations_fingerprint():
                return False
        if exists:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        return True
    finally:
        await admin.close()


def _report_token(env: dict[str, str]) -> str:
    """A district staff login (created once per database with ``coopmarket create-staff``), signed in."""
    phone, password = "17000000001", "bench-report-password"
    subprocess.run(
        [
            str(COOPMARKET),
            "create-staff",
            "--phone",
            phone,
            "--password",
            password,
            "--display-name",
            "压测区级",
            "--role",
            "district_staff",
            "--region-code",
            "370704",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fails harmlessly when the login exists
    status, answer = http(
        "POST", f"http://127.0.0.1:{APP_PORT}/api/v1/auth/login", {"phone": phone, "password": password}
    )
    if status != 200:
        raise BenchFailure(f"staff login answered {status}: {answer}")
    return str(answer["access_token"])


def run_report_scenario() -> dict[str, Any]:
    """Seed (once) and measure the yearly report by village at each size; the summary's keys."""
    summary: dict[str, Any] = {}
    spec = SCENARIOS["report"]
    fingerprint = seed.migrations_fingerprint()
    for label, lines in REPORT_SIZES.items():
        name = f"{DB_NAME}_report_{label}"
        dsn = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
        url = f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
        log(f"\n== report at {lines:,} settled order lines ({name}): {spec['method']} {spec['path']}")
        if asyncio.run(_prepare_report_database(name)):
            started = time.perf_counter()
            result = subprocess.run(
                [str(COOPMARKET), "migrate"],
                env={**os.environ, "COOPMARKET_DATABASE_URL": url},
                capture_output=True,
                text=True,
                timeout=600,
            )
            if result.returncode != 0:
                raise BenchFailure(f"coopmarket migrate failed:\n{result.stdout}{result.stderr}")
            log(f"  migrated in {time.perf_counter() - started:.1f}s")
        seeded = asyncio.run(report_seed.seed(dsn, lines, fingerprint))
        if seeded is None:
            log("  seeded before: reused (BENCH_RESEED=1 rebuilds)")
        else:
            log(f"  seeded {lines:,} lines in {seeded:.1f}s")
            summary[f"report_{label}_seed_s"] = round(seeded, 1)
        env = {
            **os.environ,
            "COOPMARKET_DATABASE_URL": url,
            "COOPMARKET_ENVIRONMENT": "production",
            "COOPMARKET_JWT_SECRET": secrets.token_urlsafe(48),
            "COOPMARKET_RUN_BACKGROUND_JOBS": "false",
            "COOPMARKET_DATABASE_POOL_SIZE": str(POOL_SIZE),
            "COOPMARKET_DATABASE_MAX_OVERFLOW": "0",
            "COOPMARKET_DATABASE_ECHO": "false",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        server = start_server(
            f"app-report-{label}", ["--factory", "coopmarket.app:create_app"], APP_PORT, env
        )
        try:
            wait_ready(server)
            token = _report_token(env)
            status, body = http(
                "GET",
                f"http://127.0.0.1:{APP_PORT}{spec['path']}",
                headers={"Authorization": f"Bearer {token}"},
            )
            if status != 200:
                raise BenchFailure(f"report answered {status}: {body}")
            log(f"  check: {len(body['items'])} villages, total {body['total_fen']:,} fen")
            wrk_env = {"BENCH_TOKEN": token}
            global CONNECTIONS
            saved, CONNECTIONS = CONNECTIONS, REPORT_CONNECTIONS
            try:
                if WARMUP > 0:
                    run_wrk("report", APP_PORT, WARMUP, wrk_env)
                cpu_before = group_cpu_seconds(server.process.pid)
                result_wrk = run_wrk("report", APP_PORT, DURATION, wrk_env)
                result_wrk.cpu_s = group_cpu_seconds(server.process.pid) - cpu_before
            finally:
                CONNECTIONS = saved
        finally:
            stop_servers()
        log(
            f"  {result_wrk.rps:7.1f} req/s  p50 {result_wrk.p50_ms:7.2f} ms  p90 {result_wrk.p90_ms:7.2f} ms  "
            f"p99 {result_wrk.p99_ms:7.2f} ms  ({result_wrk.requests} requests, {result_wrk.errors} errors, "
            f"{REPORT_CONNECTIONS} connection(s)); server CPU {result_wrk.cpu_ms_per_request:.2f} ms/request"
        )
        summary[f"report_{label}_p50_ms"] = round(result_wrk.p50_ms, 2)
        summary[f"report_{label}_p99_ms"] = round(result_wrk.p99_ms, 2)
        summary[f"report_{label}_cpu_ms_per_request"] = round(result_wrk.cpu_ms_per_request, 3)
        summary[f"report_{label}_errors"] = result_wrk.errors
    small, large = summary.get("report_10k_p50_ms"), summary.get("report_1m_p50_ms")
    if small and large:
        summary["report_1m_vs_10k"] = round(large / small, 2)
        summary["report_target_met"] = large <= 2 * small and large < REPORT_TARGET_MS
        log(
            f"\n  report p50: 10k {small} ms, 100k {summary['report_100k_p50_ms']} ms, 1M {large} ms "
            f"({summary['report_1m_vs_10k']}x; target <= 2x and < {REPORT_TARGET_MS:.0f} ms: "
            f"{'met' if summary['report_target_met'] else 'NOT met'})"
        )
    return summary


# --- main ------------------------------------------------------------------------------------


def main() -> int:
    unknown = [s for s in SELECTED if s not in SCENARIOS]
    if unknown:
        log(f"unknown scenario(s) {unknown}; known: {', '.join(SCENARIOS)}")
        return 2
    if not shutil.which("wrk"):
        log("wrk is not installed (bench/run installs it with apt-get)")
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    load = os.getloadavg()
    log(
        f"coopmarket benchmark — {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; output in {OUT}"
    )
    pin_note = (
        f"servers (app and baseline, {WORKERS} uvicorn worker(s) each) pinned to CPU {SERVER_CPUS}; "
        f"wrk ({WRK_THREADS} thread(s), {CONNECTIONS} connections) pinned to CPU {WRK_CPUS}; "
        "PostgreSQL not pinned (shared server, any CPU)"
        if SERVER_CPUS or WRK_CPUS
        else "nothing pinned"
    )
    if NICE:
        pin_note += f"; servers and wrk run at nice {NICE}"
    log(f"pinning: {pin_note}")
    if load[0] > 1.5:
        log(
            f"WARNING: the machine is busy (load {load[0]:.1f} on {os.cpu_count()} CPUs): req/s and latencies "
            "measure the share of CPU the servers got; the server-CPU-per-request figures hold up better"
        )
    log(
        f"runs: {WARMUP}s warm-up + {DURATION}s measured per server and scenario; scenarios {', '.join(SELECTED)}"
    )

    report_summary: dict[str, Any] = {}
    if "report" in SELECTED:
        report_summary = run_report_scenario()
        if SELECTED == ["report"]:
            report_summary.update(
                {
                    "ok": True,
                    "load_average_at_start": round(load[0], 2),
                    "elapsed_s": round(time.monotonic() - started, 1),
                }
            )
            log(json.dumps(report_summary, ensure_ascii=False))
            return 0
    selected_http = [s for s in SELECTED if s != "report"]

    asyncio.run(prepare_database())
    migrate()
    asyncio.run(seed.seed(DSN))
    asyncio.run(reset_state())
    asyncio.run(delete_bench_buyers())
    sku_file = OUT / "skus.txt"
    sellable = asyncio.run(sellable_skus())
    sku_file.write_text("".join(s + "\n" for s in sellable))
    sku_count = len(sellable)
    log(f"order lines draw from {sku_count} sellable SKUs")

    wechat_env = start_wxpay_fake() if "pay_wechat" in SELECTED else {}
    jwt_secret = secrets.token_urlsafe(48)
    common_env = {
        **os.environ,
        "COOPMARKET_DATABASE_URL": APP_DB_URL,
        "COOPMARKET_ENVIRONMENT": "production",
        "COOPMARKET_JWT_SECRET": jwt_secret,
        "COOPMARKET_RUN_BACKGROUND_JOBS": "false",
        "COOPMARKET_DATABASE_POOL_SIZE": str(POOL_SIZE),
        "COOPMARKET_DATABASE_MAX_OVERFLOW": "0",
        "COOPMARKET_DATABASE_ECHO": "false",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    app = start_server("app", ["--factory", "coopmarket.app:create_app"], APP_PORT, {**common_env, **wechat_env})
    base = start_server(
        "baseline",
        ["baseline:app", "--app-dir", str(BENCH)],
        BASE_PORT,
        {
            **common_env,
            "BENCH_BASELINE_DSN": DSN,
            "BENCH_BASELINE_POOL_MIN": str(max(1, POOL_SIZE // 2)),
            "BENCH_BASELINE_POOL": str(POOL_SIZE),
        },
    )
    before_app: Server | None = None
    if BEFORE_SRC:
        before_app = start_server(
            "before",
            ["--factory", "coopmarket.app:create_app"],
            BEFORE_PORT,
            {**common_env, **wechat_env, "PYTHONPATH": BEFORE_SRC},
        )
    wait_ready(app)
    wait_ready(base)
    if before_app is not None:
        wait_ready(before_app)
        log(f"before: the app of {BEFORE_SRC} on :{BEFORE_PORT}, measured after the app in every scenario")
    log(
        f"servers up: app :{APP_PORT} (coopmarket.app:create_app), baseline :{BASE_PORT} (bench/baseline.py); "
        f"DB pool {POOL_SIZE}+0 overflow / asyncpg {max(1, POOL_SIZE // 2)}..{POOL_SIZE}"
    )

    phone = "170" + "".join(secrets.choice("0123456789") for _ in range(8))
    status, answer = http(
        "POST",
        f"http://127.0.0.1:{APP_PORT}/api/v1/auth/register",
        {"phone": phone, "password": secrets.token_urlsafe(12), "display_name": "压测买家"},
    )
    if status != 201:
        raise BenchFailure(f"registering the buyer answered {status}: {answer}")
    token = answer["access_token"]
    if wechat_env:
        asyncio.run(give_openid(answer["user"]["id"]))  # as after a sign-in through the mini-program
    log(f"buyer registered through the API ({phone}, user {answer['user']['id']})")

    notes = check_same_answers(app, base, token, [sellable[0], sellable[len(sellable) // 2]])
    skipped: dict[str, str] = {}
    for name in selected_http:
        log(f"check {name}: {notes[name]}")
        if not notes[name].startswith("same JSON"):
            skipped[name] = notes[name]

    results: dict[str, dict[str, Result]] = {}
    wx_results: dict[str, Any] | None = None
    wx_before: dict[str, Any] | None = None
    failures: list[str] = []
    for name in selected_http:
        if name == "order_sqlite":
            log(f"\n== {name}: POST /api/v1/orders on the embedded default (SQLite, {WORKERS} worker(s))")
            sqlite_result = run_sqlite_orders(
                common_env, token, sku_file, [sellable[0], sellable[len(sellable) // 2]], failures
            )
            if sqlite_result is not None:
                results[name] = {"app": sqlite_result}
            continue
        if name == "pay_wechat":
            log(
                f"\n== {name}: checkouts paid with WeChat Pay (POST orders, POST orders/{{id}}/payments, the "
                f"notification), {CONNECTIONS} buyers, fake WeChat Pay on :{WXPAY_PORT}"
            )
            wx_results = run_wechat_checkouts(app, token, sku_file, failures)
            if before_app is not None:
                log("  before:")
                wx_before = run_wechat_checkouts(before_app, token, sku_file, failures)
            continue
        if name in skipped:
            log(f"\n== {name}: SKIPPED — the app does not answer 2xx yet ({skipped[name]})")
            continue
        spec = SCENARIOS[name]
        log(f"\n== {name}: {spec['method']} {spec['path']}")
        results[name] = {}
        runs = [("app", app), *([("before", before_app)] if before_app is not None else []), ("baseline", base)]
        for label, server in runs:
            env_extra: dict[str, str] = {}
            asyncio.run(wait_quiet())
            if name == "order":
                asyncio.run(reset_state())
                env_extra = {
                    "BENCH_TOKEN": token,
                    "BENCH_SKU_FILE": str(sku_file),
                    "BENCH_NONCE": secrets.token_hex(4),
                }
            if WARMUP > 0:
                warm = run_wrk(name, server.port, WARMUP, env_extra)
                asyncio.run(wait_quiet())
                if warm.error_rate > MAX_ERROR_RATE:
                    log(
                        f"  {label:8s} warm-up: {warm.errors} errors in {warm.requests} requests {warm.statuses or ''}"
                    )
            profiler = start_profile(server, name) if PROFILE and label == "app" else None
            if name == "order":
                env_extra["BENCH_NONCE"] = secrets.token_hex(4)
            before = asyncio.run(db_counts()) if name == "order" else None
            sessions_before = asyncio.run(db_sessions())
            cpu_before = group_cpu_seconds(server.process.pid)
            result = run_wrk(name, server.port, DURATION, env_extra)
            result.cpu_s = group_cpu_seconds(server.process.pid) - cpu_before
            # Less the runner's own connection that read the counter before.
            result.db_connects = max(0, asyncio.run(db_sessions()) - sessions_before - 1)
            drained = asyncio.run(wait_quiet())
            if profiler is not None:
                try:
                    profiler.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    profiler.kill()
            results[name][label] = result
            if server.process.poll() is not None:
                failures.append(f"{name}/{label}: server died:\n{server.tail()}")
            extra = ""
            if name == "order":
                after = asyncio.run(db_counts())
                created = after["orders"] - before["orders"]
                ok = sum(v for k, v in result.statuses.items() if 200 <= int(k) < 300)
                extra = f"; orders written {created} (2xx {ok}), stock taken = units ordered: {after['units_taken'] == after['units_ordered']}"
                if after["units_taken"] != after["units_ordered"]:
                    failures.append(
                        f"{name}/{label}: stock taken {after['units_taken']} != units ordered {after['units_ordered']}"
                    )
                if created < ok:
                    failures.append(f"{name}/{label}: {ok} answers 2xx but only {created} orders written")
            statuses = f" statuses {result.statuses}" if result.statuses else ""
            if drained > 1:
                extra += f"; the server drained for {drained:.1f}s after wrk stopped"
            log(
                f"  {label:8s} {result.rps:9.1f} req/s  p50 {result.p50_ms:7.2f} ms  p90 {result.p90_ms:7.2f} ms  "
                f"p99 {result.p99_ms:7.2f} ms  ({result.requests} requests in {result.seconds:.1f}s, "
                f"{result.errors} errors = {100 * result.error_rate:.2f}%); server CPU {result.cpu_ms_per_request:.2f} ms/request, "
                f"{100 * result.cpu_share:.0f}% of a core, {result.db_connects} new DB connections{statuses}{extra}"
            )
            if result.error_rate > MAX_ERROR_RATE:
                failures.append(
                    f"{name}/{label}: {100 * result.error_rate:.2f}% of requests failed or were not 2xx "
                    f"(limit {100 * MAX_ERROR_RATE:.0f}%): {result.raw['errors']} {result.statuses or ''}"
                )
            if PROFILE and label == "app":
                summarise_profile(name)
        b = results[name]["baseline"]
        for label in [k for k in ("app", "before") if k in results[name]]:
            a = results[name][label]
            log(
                f"  ratio {label}/baseline: throughput {a.rps / b.rps:.2f}, p50 latency {a.p50_ms / b.p50_ms:.2f}x, "
                f"p99 latency {a.p99_ms / b.p99_ms:.2f}x; server CPU per request baseline/{label} "
                f"{b.cpu_ms_per_request / a.cpu_ms_per_request:.2f}"
            )

    # Issue 5: list >= 0.60 (CPU/request <= 2x), search (q) and branded >= 0.50 (p99 <= 2x);
    # issue 6: order placement >= 0.60 (CPU/request and p99 <= 2x).
    targets = {"list": 0.60, "list_category": 0.60, "list_q": 0.50, "list_branded": 0.50, "order": 0.60}
    aliases = {"list_q": "search", "list_branded": "branded"}
    log(
        "\n== summary (throughput ratio app/baseline; targets: list >= 0.60 and CPU/request <= 2x, "
        "q and branded >= 0.50 and p99 <= 2x, order placement >= 0.60 and CPU/request and p99 <= 2x)"
    )
    log(
        f"  {'scenario':14s} {'app req/s':>10s} {'base req/s':>11s} {'ratio':>6s} {'target':>7s}  "
        f"{'app p50/p99 ms':>16s}  {'base p50/p99 ms':>16s}  {'CPU ms/req app/base':>20s}"
    )
    summary: dict[str, Any] = dict(report_summary)
    for name in selected_http:
        if name == "pay_wechat":
            continue  # below
        if name not in results:
            log(f"  {name:14s} skipped: {skipped.get(name, '')[:80]}")
            continue
        if name == "order_sqlite":
            a = results[name]["app"]
            pg = results.get("order", {}).get("app")
            p99_ratio = a.p99_ms / pg.p99_ms if pg and pg.p99_ms else None
            met = a.errors == 0 and p99_ratio is not None and p99_ratio <= SQLITE_P99_LIMIT
            versus = f"p99 {p99_ratio:.2f}x the app on PostgreSQL" if p99_ratio else "no PostgreSQL order run"
            log(
                f"  {name:14s} {a.rps:10.1f} {'-':>11s} {'-':>6s} {'-':>7s}{' ' if met else '!'} "
                f"{a.p50_ms:7.2f}/{a.p99_ms:<8.2f} errors {a.errors}; {versus} (target: 0 errors, <= {SQLITE_P99_LIMIT:.0f}x)"
            )
            summary.update(
                {
                    "order_sqlite_rps": round(a.rps, 1),
                    "order_sqlite_p50_ms": round(a.p50_ms, 2),
                    "order_sqlite_p99_ms": round(a.p99_ms, 2),
                    "order_sqlite_errors": a.errors,
                    "order_sqlite_error_rate": round(a.error_rate, 5),
                    "order_sqlite_p99_vs_postgres": round(p99_ratio, 3) if p99_ratio else None,
                    "order_sqlite_target_met": met,
                    "order_sqlite_cpu_ms_per_request": round(a.cpu_ms_per_request, 3),
                }
            )
            if a.error_rate > MAX_ERROR_RATE:
                failures.append(
                    f"order_sqlite: {100 * a.error_rate:.2f}% of requests failed {a.statuses or ''}"
                )
            continue
        a, b = results[name]["app"], results[name]["baseline"]
        ratio = a.rps / b.rps if b.rps else 0.0
        met = ratio >= targets[name]
        if name in ("list", "list_category", "order") and b.cpu_ms_per_request:
            met = met and a.cpu_ms_per_request <= 2 * b.cpu_ms_per_request
        if name == "order" and b.p99_ms:
            met = met and a.p99_ms <= 2 * b.p99_ms
        if name in aliases and b.p99_ms:
            met = met and a.p99_ms <= 2 * b.p99_ms
        log(
            f"  {name:14s} {a.rps:10.1f} {b.rps:11.1f} {ratio:6.2f} {targets[name]:7.2f}{' ' if met else '!'} "
            f"{a.p50_ms:7.2f}/{a.p99_ms:<8.2f} {b.p50_ms:7.2f}/{b.p99_ms:<8.2f}  "
            f"{a.cpu_ms_per_request:9.2f}/{b.cpu_ms_per_request:<6.2f}"
        )
        key = name
        if "before" in results[name]:
            p = results[name]["before"]
            log(
                f"  {'  before':14s} {p.rps:10.1f} {b.rps:11.1f} {p.rps / b.rps if b.rps else 0.0:6.2f} {'':7s}  "
                f"{p.p50_ms:7.2f}/{p.p99_ms:<8.2f} {'':17s}  {p.cpu_ms_per_request:9.2f}"
            )
            summary.update(
                {
                    f"{key}_before_rps": round(p.rps, 1),
                    f"{key}_before_ratio": round(p.rps / b.rps, 3) if b.rps else None,
                    f"{key}_before_p99_ms": round(p.p99_ms, 2),
                    f"{key}_before_cpu_ms_per_request": round(p.cpu_ms_per_request, 3),
                }
            )
        summary.update(
            {
                f"{key}_rps": round(a.rps, 1),
                f"{key}_baseline_rps": round(b.rps, 1),
                f"{key}_ratio": round(ratio, 3),
                f"{key}_p50_ms": round(a.p50_ms, 2),
                f"{key}_p99_ms": round(a.p99_ms, 2),
                f"{key}_baseline_p50_ms": round(b.p50_ms, 2),
                f"{key}_baseline_p99_ms": round(b.p99_ms, 2),
                f"{key}_error_rate": round(a.error_rate, 5),
                f"{key}_baseline_error_rate": round(b.error_rate, 5),
                f"{key}_target_met": met,
                f"{key}_cpu_ms_per_request": round(a.cpu_ms_per_request, 3),
                f"{key}_db_connects": a.db_connects,
                f"{key}_baseline_db_connects": b.db_connects,
                f"{key}_baseline_cpu_ms_per_request": round(b.cpu_ms_per_request, 3),
                f"{key}_cpu_ratio": round(b.cpu_ms_per_request / a.cpu_ms_per_request, 3)
                if a.cpu_ms_per_request
                else None,
            }
        )
        if name in aliases:
            alias = aliases[name]
            summary.update(
                {
                    f"{alias}_rps": round(a.rps, 1),
                    f"{alias}_baseline_rps": round(b.rps, 1),
                    f"{alias}_p99_ratio": round(a.p99_ms / b.p99_ms, 3) if b.p99_ms else None,
                    f"{alias}_cpu_ms_per_request": round(a.cpu_ms_per_request, 3),
                    f"{alias}_baseline_cpu_ms_per_request": round(b.cpu_ms_per_request, 3),
                }
            )
    if wx_results is not None:
        order_app = results.get("order", {}).get("app")
        order_base = results.get("order", {}).get("baseline")
        w = wx_results
        versus = ""
        if order_app and order_base:
            versus = (
                f"; per checkout {w['cpu_ms_per_checkout'] / order_base.cpu_ms_per_request:.1f}x the baseline's CPU "
                f"per order, checkouts/s {w['checkouts_per_s'] / order_base.rps:.2f} of the baseline's orders/s"
            )
        log(
            f"  {'pay_wechat':14s} {w['checkouts_per_s']:10.1f} checkouts/s ({w['requests_per_s']:.1f} req/s), "
            f"checkout p50/p99 {w['checkout_p50_ms']:.1f}/{w['checkout_p99_ms']:.1f} ms, errors {w['errors']}, "
            f"CPU {w['cpu_ms_per_checkout']:.2f} ms/checkout{versus}"
        )
        summary.update(
            {
                "pay_wechat_checkouts_per_s": w["checkouts_per_s"],
                "pay_wechat_rps": w["requests_per_s"],
                "pay_wechat_errors": w["errors"],
                "pay_wechat_p50_ms": w["p50_ms"],
                "pay_wechat_p99_ms": w["p99_ms"],
                "pay_wechat_checkout_p50_ms": w["checkout_p50_ms"],
                "pay_wechat_checkout_p99_ms": w["checkout_p99_ms"],
                "pay_wechat_cpu_ms_per_checkout": round(w["cpu_ms_per_checkout"], 3),
                "pay_wechat_cpu_ms_per_request": round(w["cpu_ms_per_request"], 3),
                "pay_wechat_vs_order_baseline_rps": round(w["checkouts_per_s"] / order_base.rps, 3)
                if order_base and order_base.rps
                else None,
            }
        )
    if wx_before is not None:
        w = wx_before
        log(
            f"  {'  before':14s} {w['checkouts_per_s']:10.1f} checkouts/s ({w['requests_per_s']:.1f} req/s), "
            f"checkout p50/p99 {w['checkout_p50_ms']:.1f}/{w['checkout_p99_ms']:.1f} ms, errors {w['errors']}, "
            f"CPU {w['cpu_ms_per_checkout']:.2f} ms/checkout"
        )
        summary.update(
            {
                "pay_wechat_before_checkouts_per_s": w["checkouts_per_s"],
                "pay_wechat_before_checkout_p99_ms": w["checkout_p99_ms"],
                "pay_wechat_before_cpu_ms_per_checkout": round(w["cpu_ms_per_checkout"], 3),
            }
        )
    for name in skipped:
        summary[f"{name}_skipped"] = skipped[name][:200]
    summary.update(
        {
            "ok": not failures,
            "duration_s": DURATION,
            "warmup_s": WARMUP,
            "connections": CONNECTIONS,
            "workers": WORKERS,
            "server_cpus": SERVER_CPUS,
            "wrk_cpus": WRK_CPUS,
            "skus": sku_count,
            "load_average_at_start": round(load[0], 2),
            "elapsed_s": round(time.monotonic() - started, 1),
        }
    )
    if failures:
        log("\nFAILED:")
        for failure in failures:
            log(f"  - {failure}")
    log(json.dumps(summary, ensure_ascii=False))
    return 1 if failures else 0


def _on_signal(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    code = 1
    try:
        code = main()
    except BenchFailure as failure:
        log(f"\nFAILED: {failure}")
        log(json.dumps({"ok": False, "error": str(failure)[:500]}, ensure_ascii=False))
    except KeyboardInterrupt:
        log("\ninterrupted")
        code = 130
    except Exception as error:  # anything unexpected still fails the run, after cleanup
        import traceback

        traceback.print_exc()
        log(json.dumps({"ok": False, "error": repr(error)[:500]}, ensure_ascii=False))
    finally:
        stop_servers()
    sys.exit(code)
