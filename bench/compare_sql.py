"""Check that the baseline still sends the app's SQL: ``.venv/bin/python bench/compare_sql.py``.

Needs the seeded ``coopmarket_bench`` (run ``bench/run`` once) and read access to PostgreSQL's log
file (``BENCH_PG_LOG``, default: the newest ``/var/log/postgresql/*.log``). Turns on
``log_statement=all`` for the bench database only (turned off again on exit), starts the app and
the baseline, sends each one request per scenario (an order of two SKUs of two cooperatives), and
prints a diff of the statements each server sent (parameters aside). Exit 1 when they differ.
"""

from __future__ import annotations

import asyncio
import difflib
import glob
import os
import re
import secrets
import sys
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import runner

_ENTRY = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def _log_path() -> Path:
    configured = os.environ.get("BENCH_PG_LOG")
    if configured:
        return Path(configured)
    candidates = sorted(glob.glob("/var/log/postgresql/*.log"), key=os.path.getmtime)
    if not candidates:
        raise SystemExit("no PostgreSQL log found; set BENCH_PG_LOG")
    return Path(candidates[-1])


def _statements(text: str) -> list[str]:
    """The bench database's statements in a log excerpt, without parameters and statement names."""
    entries: list[str] = []
    for line in text.splitlines():
        if _ENTRY.match(line):
            entries.append(line)
        elif entries and line.startswith("\t"):
            entries[-1] += "\n" + line
    out = []
    for entry in entries:
        if f"@{runner.DB_NAME} LOG:" not in entry:
            continue
        body = entry.split(" LOG:  ", 1)[1]
        body = re.sub(r"^execute [^:]+: ", "execute: ", body)
        out.append(body)
    return out


async def _two_skus_of_two_cooperatives() -> list[str]:
    conn = await asyncpg.connect(runner.DSN)
    try:
        rows = await conn.fetch(
            "SELECT DISTINCT ON (product.cooperative_id) sku.id FROM sku"
            " JOIN product ON product.id = sku.product_id JOIN cooperative ON cooperative.id = product.cooperative_id"
            " WHERE product.status = 'active' AND cooperative.status = 'approved' LIMIT 2"
        )
        return [r["id"] for r in rows]
    finally:
        await conn.close()


async def _log_statement(value: str | None) -> None:
    conn = await asyncpg.connect(runner.ADMIN_DSN)
    try:
        if value is None:
            await conn.execute(f'ALTER DATABASE "{runner.DB_NAME}" RESET log_statement')
        else:
            await conn.execute(f"ALTER DATABASE \"{runner.DB_NAME}\" SET log_statement = '{value}'")
    finally:
        await conn.close()


def _capture(server: runner.Server, token: str, sku_ids: list[str], log: Path) -> list[str]:
    base = f"http://127.0.0.1:{server.port}"
    runner.http("GET", f"{base}/api/v1/products?limit=1")  # connections opened and warmed first
    time.sleep(0.5)
    start = log.stat().st_size
    for name in ("list", "list_category", "list_q"):
        status, _ = runner.http("GET", base + runner.SCENARIOS[name]["path"])
        print(f"  {server.name} {name}: {status}")
    status, _ = runner.http(
        "POST",
        f"{base}/api/v1/orders",
        runner.order_body(sku_ids),
        {"Authorization": f"Bearer {token}", "Idempotency-Key": "bench-sql-" + secrets.token_hex(6)},
    )
    print(f"  {server.name} order: {status}")
    time.sleep(1.0)
    with log.open("rb") as f:
        f.seek(start)
        return _statements(f.read().decode(errors="replace"))


def main() -> int:
    log = _log_path()
    runner.OUT.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    env = {
        **os.environ,
        "COOPMARKET_DATABASE_URL": runner.APP_DB_URL,
        "COOPMARKET_ENVIRONMENT": "production",
        "COOPMARKET_JWT_SECRET": secret,
        "COOPMARKET_RUN_BACKGROUND_JOBS": "false",
        "BENCH_BASELINE_DSN": runner.DSN,
        "BENCH_BASELINE_POOL_MIN": "1",
        "BENCH_BASELINE_POOL": "2",
        "COOPMARKET_DATABASE_POOL_SIZE": "1",
    }
    asyncio.run(_log_statement("all"))
    try:
        app = runner.start_server("app", ["--factory", "coopmarket.app:create_app"], 18711, env)
        base = runner.start_server("baseline", ["baseline:app", "--app-dir", str(runner.BENCH)], 18712, env)
        runner.wait_ready(app)
        runner.wait_ready(base)
        status, answer = runner.http(
            "POST",
            "http://127.0.0.1:18711/api/v1/auth/register",
            {
                "phone": "171" + str(secrets.randbelow(10**8)).zfill(8),
                "password": secrets.token_urlsafe(12),
                "display_name": "压测买家",
            },
        )
        if status != 201:
            print(f"registering a buyer answered {status}: {answer}")
            return 1
        sku_ids = asyncio.run(_two_skus_of_two_cooperatives())
        app_sql = _capture(app, answer["access_token"], sku_ids, log)
        base_sql = _capture(base, answer["access_token"], sku_ids, log)
    finally:
        runner.stop_servers()
        asyncio.run(_log_statement(None))
    diff = list(difflib.unified_diff(app_sql, base_sql, "app", "baseline", lineterm=""))
    if not app_sql:
        print(f"no statements found in {log}: is it the server's log?")
        return 1
    if diff:
        print("\n".join(diff))
        return 1
    print(f"same {len(app_sql)} statements from both servers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
