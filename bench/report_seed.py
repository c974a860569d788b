"""Seed a report-benchmark database with N settled order lines, fast (set-based SQL, no ORM).

Usage: ``python bench/report_seed.py DSN LINES`` (a plain ``postgresql://`` DSN; the schema must be
migrated, so the district's regions are there). Each settled order part has two lines and posts as
the app does: a ``payment_received`` transaction (Dr ``cash:offline``, Cr ``escrow:coop:{c}``) and
a ``part_settled`` one (Dr escrow; Cr the 3% platform fee, the village's 10% operating income and
the cooperative's rest), spread evenly over 2025 (Asia/Shanghai) and over the district's villages
(one cooperative per village). Each village also receives one subsidy a month. The monthly rollup
(``collective_income_month``) is then built from those postings with the same GROUP BY as
migration 0020's backfill. The order tables themselves are not written: the report reads the
ledger only. A marker row (``bench_report_meta``) records the shape; a database of the same shape
is reused.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import asyncpg

SEED_VERSION = 1
YEAR_START_UTC = "2024-12-31 16:00:00+00"  # 2025-01-01 00:00 in Shanghai
YEAR_SECONDS = 365 * 86400


def shape(lines: int, migrations: str) -> dict[str, int | str]:
    return {"version": SEED_VERSION, "lines": lines, "migrations": migrations}


async def current_shape(conn: asyncpg.Connection) -> dict[str, int | str] | None:
    if not await conn.fetchval("SELECT to_regclass('public.bench_report_meta') IS NOT NULL"):
        return None
    value = await conn.fetchval("SELECT value FROM bench_report_meta WHERE key = 'shape'")
    return json.loads(value) if value else None


async def _seed(conn: asyncpg.Connection, lines: int) -> dict[str, float]:
    parts = lines // 2
    timings: dict[str, float] = {}
    step = time.perf_counter()
    await conn.execute(
        f"""
        CREATE TEMP TABLE bench_part AS
        SELECT i,
               v.code AS village,
               'bc' || lpad(v.n::text, 24, '0') AS coop,
               s.subtotal,
               (s.subtotal * 3 + 50) / 100 AS fee,
               (s.subtotal * 10 + 50) / 100 AS collective,
               TIMESTAMPTZ '{YEAR_START_UTC}' + ((i - 1)::bigint * {YEAR_SECONDS} / $1) * INTERVAL '1 second' AS at
        FROM generate_series(1, $1) AS i
        CROSS JOIN LATERAL (SELECT 2000 + (i::bigint * 7919) % 98000 AS subtotal) s
        JOIN (SELECT code, row_number() OVER (ORDER BY code) - 1 AS n, count(*) OVER () AS total
              FROM region WHERE level = 'village') v ON v.n = i % v.total
        """,
        parts,
    )
    timings["parts"] = time.perf_counter() - step
    step = time.perf_counter()
    await conn.execute(
        """
        INSERT INTO ledger_transaction (id, kind, dedupe_key, order_id, cooperative_id, memo, occurred_at, is_related_party)
        SELECT 'bp' || lpad(i::text, 24, '0'), 'payment_received', 'payment:bench' || i, NULL, NULL, NULL,
               at - INTERVAL '3 days', false FROM bench_part
        UNION ALL
        SELECT 'bs' || lpad(i::text, 24, '0'), 'part_settled', 'settle:bench' || i, NULL, coop, NULL, at,
               (i % 97 = 0) FROM bench_part
        """
    )
    timings["transactions"] = time.perf_counter() - step
    step = time.perf_counter()
    await conn.execute(
        """
        INSERT INTO ledger_posting (id, transaction_id, account, amount_fen, occurred_at)
        SELECT 'b' || k || lpad(i::text, 24, '0'),
               CASE WHEN k IN ('a', 'b') THEN 'bp' ELSE 'bs' END || lpad(i::text, 24, '0'),
               CASE k WHEN 'a' THEN 'cash:offline' WHEN 'b' THEN 'escrow:coop:' || coop
                      WHEN 'c' THEN 'escrow:coop:' || coop WHEN 'd' THEN 'revenue:platform_fee'
                      WHEN 'e' THEN 'collective_income:' || village || ':operating_income'
                      ELSE 'payable:coop:' || coop END,
               CASE k WHEN 'a' THEN subtotal WHEN 'b' THEN -subtotal WHEN 'c' THEN subtotal
                      WHEN 'd' THEN -fee WHEN 'e' THEN -collective ELSE -(subtotal - fee - collective) END,
               CASE WHEN k IN ('a', 'b') THEN at - INTERVAL '3 days' ELSE at END
        FROM bench_part CROSS JOIN unnest(ARRAY['a', 'b', 'c', 'd', 'e', 'f']) AS k
        """
    )
    timings["postings"] = time.perf_counter() - step
    step = time.perf_counter()
    # One subsidy a month per village, on the 10th (noon, Shanghai).
    await conn.execute(
        """
        CREATE TEMP TABLE bench_subsidy AS
        SELECT row_number() OVER () AS i, v.code AS village,
               TIMESTAMPTZ '2025-01-10 04:00:00+00' + (m * INTERVAL '1 month') AS at,
               100000 + (length(v.code) * m * 7919) % 400000 AS amount
        FROM region v CROSS JOIN generate_series(0, 11) AS m WHERE v.level = 'village'
        """
    )
    await conn.execute(
        """
        INSERT INTO ledger_transaction (id, kind, dedupe_key, order_id, cooperative_id, memo, occurred_at, is_related_party)
        SELECT 'bi' || lpad(i::text, 24, '0'), 'collective_income', 'income:bench' || i, NULL, NULL, '补助', at, false
        FROM bench_subsidy;
        INSERT INTO ledger_posting (id, transaction_id, account, amount_fen, occurred_at)
        SELECT 'bx' || k || lpad(i::text, 23, '0'), 'bi' || lpad(i::text, 24, '0'),
               CASE k WHEN 'a' THEN 'collective_funds:' || village ELSE 'collective_income:' || village || ':subsidy_income' END,
               CASE k WHEN 'a' THEN amount ELSE -amount END, at
        FROM bench_subsidy CROSS JOIN unnest(ARRAY['a', 'b']) AS k;
        """
    )
    timings["subsidies"] = time.perf_counter() - step
    step = time.perf_counter()
    # The rollup, exactly as migration 0020 backfills it (and ledger.service.post keeps it).
    await conn.execute(
        """
        INSERT INTO collective_income_month (month, village_code, category, amount_fen, related_party_fen)
        SELECT date_trunc('month', p.occurred_at AT TIME ZONE 'Asia/Shanghai')::date,
               split_part(p.account, ':', 2), split_part(p.account, ':', 3),
               -sum(p.amount_fen), -sum(p.amount_fen) FILTER (WHERE t.is_related_party)
        FROM ledger_posting p JOIN ledger_transaction t ON t.id = p.transaction_id
        WHERE p.account LIKE 'collective\\_income:%'
        GROUP BY 1, 2, 3
        """.replace(
            "-sum(p.amount_fen) FILTER (WHERE t.is_related_party)",
            "coalesce(-sum(p.amount_fen) FILTER (WHERE t.is_related_party), 0)",
        )
    )
    timings["rollup"] = time.perf_counter() - step
    step = time.perf_counter()
    unbalanced = await conn.fetchval("SELECT coalesce(sum(amount_fen), 0) FROM ledger_posting")
    if unbalanced != 0:
        raise SystemExit(f"report seed: the ledger does not balance ({unbalanced})")
    await conn.execute("ANALYZE")
    timings["analyze"] = time.perf_counter() - step
    return timings


async def seed(dsn: str, lines: int, migrations: str) -> float | None:
    """Seed ``lines`` settled order lines unless the database already has that shape; the seconds
    it took, or ``None`` when it was reused."""
    conn = await asyncpg.connect(dsn)
    try:
        wanted = shape(lines, migrations)
        if await current_shape(conn) == wanted:
            return None
        if await conn.fetchval("SELECT count(*) FROM ledger_transaction") > 0:
            raise SystemExit("report seed: the database holds another ledger; drop it first")
        started = time.perf_counter()
        # Triggers off while seeding (the ledger's deferred balance check would run per
        # transaction); balance is checked once at the end instead. Needs a superuser.
        await conn.execute("SET session_replication_role = replica")
        timings = await _seed(conn, lines)
        await conn.execute("SET session_replication_role = DEFAULT")
        await conn.execute("CREATE TABLE IF NOT EXISTS bench_report_meta (key text PRIMARY KEY, value text)")
        await conn.execute(
            "INSERT INTO bench_report_meta VALUES ('shape', $1) ON CONFLICT (key) DO UPDATE SET value = $1",
            json.dumps(wanted),
        )
        elapsed = time.perf_counter() - started
        detail = ", ".join(f"{k} {v:.1f}s" for k, v in timings.items())
        print(f"report seed: {lines:,} lines in {elapsed:.1f}s ({detail})", flush=True)
        return elapsed
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(seed(sys.argv[1], int(sys.argv[2]), "manual"))
