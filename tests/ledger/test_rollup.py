"""The monthly collective-income rollup: after any sequence of settlements, refunds, reversals and
other income it equals a GROUP BY over the postings, and every report level, read from it and from
the postings at the edges, sums to the ledger's totals for the range (both databases)."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alembic import command
from alembic.script import ScriptDirectory
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from coopmarket.core import clock
from coopmarket.core.principal import DISTRICT_STAFF, Principal
from coopmarket.db import Database
from coopmarket.ledger import posting, service
from coopmarket.migrate import alembic_config
from coopmarket.reports import service as report_service
from coopmarket.settings import Settings
from tests.reports.builders import V1, V2, V3, V4, V5

COOP = "01hcoop0000000000000000001"
VILLAGES = [V1, V2, V3, V4, V5]
SHANGHAI = ZoneInfo("Asia/Shanghai")
# 2026-01-31 16:00 UTC is 2026-02-01 00:00 in Shanghai: offsets of hours around it cross months.
BASE = datetime(2026, 1, 31, 16, 0, tzinfo=UTC)
_keys = itertools.count(1)

operation = st.one_of(
    st.tuples(
        st.just("settle"),
        st.sampled_from(VILLAGES),
        st.integers(1, 10**7),
        st.integers(-24 * 40, 24 * 80),
        st.booleans(),
    ),
    st.tuples(
        st.just("income"),
        st.sampled_from(VILLAGES),
        st.sampled_from(posting.INCOME_CATEGORIES),
        st.integers(1, 10**7),
        st.integers(-24 * 40, 24 * 80),
    ),
    st.tuples(st.just("refund"), st.integers(0, 50), st.integers(1, 10**7), st.integers(0, 24 * 30)),
    st.tuples(st.just("reverse"), st.integers(0, 50), st.integers(0, 24 * 30)),
)


async def _apply(db: Database, operations: list[tuple[Any, ...]]) -> None:
    """Post the operations as the services do: settlements, refunds after settlement (split
    reversal), reversals of earlier transactions, other income."""
    settled: list[
        tuple[str, str, int, datetime, bool, list[int]]
    ] = []  # key, village, subtotal, at, related, reversed
    posted: list[tuple[str, datetime]] = []
    async with db.session() as session:
        for op in operations:
            key = f"rollup-test:{next(_keys)}"
            if op[0] == "settle":
                _, village, subtotal, hours, related = op
                at = BASE + timedelta(hours=hours)
                await service.post(
                    session,
                    kind=posting.PART_SETTLED,
                    dedupe_key=key,
                    entries=posting.part_settled_entries(COOP, village, subtotal, 300, 1000),
                    occurred_at=at,
                    is_related_party=related,
                )
                settled.append((key, village, subtotal, at, related, [0, 0, 0]))
                posted.append((key, at))
            elif op[0] == "income":
                _, village, category, amount, hours = op
                at = BASE + timedelta(hours=hours)
                await service.post(
                    session,
                    kind="collective_income",
                    dedupe_key=key,
                    entries=[
                        posting.Entry(posting.collective_funds(village), amount),
                        posting.Entry(posting.collective_income(village, category), -amount),
                    ],
                    occurred_at=at,
                )
                posted.append((key, at))
            elif op[0] == "refund" and settled:
                _, index, amount, hours = op
                _key, village, subtotal, at, related, taken = settled[index % len(settled)]
                terms = posting.SplitTerms(village, 300, 1000, subtotal, (taken[0], taken[1], taken[2]))
                left = subtotal - sum(taken)
                if left <= 0:
                    continue
                amount = min(amount, left)
                fee, collective, rest = posting.refund_reversal(amount, terms)
                await service.post(
                    session,
                    kind=posting.REFUND,
                    dedupe_key=key,
                    entries=posting.settled_refund_entries("offline", COOP, amount, terms),
                    occurred_at=at + timedelta(hours=hours),
                    is_related_party=related,
                )
                taken[0] += fee
                taken[1] += collective
                taken[2] += rest
                posted.append((key, at + timedelta(hours=hours)))
            elif op[0] == "reverse" and posted:
                _, index, hours = op
                original, at = posted[index % len(posted)]
                await service.reverse(
                    session,
                    original_dedupe_key=original,
                    kind="reversal",
                    dedupe_key=f"reverse:{original}",
                    occurred_at=at + timedelta(hours=hours),
                )
        await session.commit()


async def _group_by_over_postings(db: Database) -> dict[tuple[date, str, str], tuple[int, int]]:
    async with db.read() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT p.account, p.occurred_at, p.amount_fen, t.is_related_party FROM ledger_posting p"
                    " JOIN ledger_transaction t ON t.id = p.transaction_id"
                    " WHERE p.account LIKE 'collective_income:%'"
                )
            )
        ).all()
    sums: dict[tuple[date, str, str], list[int]] = {}
    for account, occurred_at, amount, related in rows:
        if isinstance(occurred_at, str):
            occurred_at = datetime.fromisoformat(occurred_at)
        if occurred_at.tzinfo is None:
            occurred_at = occurred_at.replace(tzinfo=UTC)
        parsed = posting.parse_collective_income(account)
        assert parsed is not None
        month = occurred_at.astimezone(SHANGHAI).date().replace(day=1)
        total = sums.setdefault((month, *parsed), [0, 0])
        total[0] -= int(amount)
        if related:
            total[1] -= int(amount)
    return {k: (a, r) for k, (a, r) in sums.items() if a or r}


async def _rollup(db: Database) -> dict[tuple[date, str, str], tuple[int, int]]:
    async with db.read() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT month, village_code, category, amount_fen, related_party_fen FROM collective_income_month"
                )
            )
        ).all()
    result = {}
    for month, village, category, amount, related in rows:
        if isinstance(month, str):
            month = date.fromisoformat(month)
        if amount or related:
            result[(month, village, category)] = (int(amount), int(related))
    return result


@settings(
    max_examples=10,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(operation, min_size=1, max_size=12))
async def test_the_rollup_equals_a_group_by_over_postings(
    db: Database, operations: list[tuple[Any, ...]]
) -> None:
    # When any sequence of settlements, refunds, reversals and other income is posted
    await _apply(db, operations)
    # Then the rollup is exactly the postings summed per local month, village and category
    assert await _rollup(db) == await _group_by_over_postings(db)


COMMUNITY = "370704003901"  # a rural community of V1 and V2 (street A); V5 stays outside


async def _in_a_community(db: Database, code: str, villages: list[str]) -> None:
    """The community ``code`` under the villages' street, holding ``villages`` (once per database)."""
    async with db.session() as session:
        exists = (
            await session.execute(text("SELECT count(*) FROM region WHERE code = :c"), {"c": code})
        ).scalar_one()
        if not exists:
            await session.execute(
                text(
                    "INSERT INTO region (code, name, level, parent_code) VALUES (:c, '测试社区', 'community', :s)"
                ),
                {"c": code, "s": villages[0][:9]},
            )
            for village in villages:
                await session.execute(
                    text("UPDATE region SET community_code = :c WHERE code = :v"), {"c": code, "v": village}
                )
        await session.commit()


@settings(
    max_examples=8,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    operations=st.lists(operation, min_size=1, max_size=10),
    first=st.integers(-45, 90),
    length=st.integers(0, 120),
    interval=st.sampled_from([None, "month", "quarter"]),
)
async def test_every_report_level_sums_to_the_ledger_for_the_range(
    db: Database,
    settings: Settings,
    operations: list[tuple[Any, ...]],
    first: int,
    length: int,
    interval: str | None,
) -> None:
    await _in_a_community(db, COMMUNITY, [V1, V2])
    await _apply(db, operations)
    date_from = date(2026, 2, 1) + timedelta(days=first)
    date_to = date_from + timedelta(days=length)
    start, end = clock.local_days_to_utc(date_from, date_to, settings.report_timezone)
    staff = Principal("01hstaff000000000000000001", DISTRICT_STAFF, "区级", region_code="370704")
    async with db.read() as conn:
        ledger: Counter[str] = Counter()
        for row in await service.collective_income_rows(conn, start, end):
            ledger[row.village_code] += row.amount_fen
        related: Counter[str] = Counter()
        for row in await service.related_party_income_rows(conn, start, end):
            related[row.village_code] += row.amount_fen
        for level, length_of_code in (("village", 12), ("community", 12), ("street", 9), ("district", 6)):
            report = await report_service.collective_income_report(
                conn,
                settings,
                staff,
                date_from=date_from,
                date_to=date_to,
                group_by=level,
                region_code=None,
                interval=interval,
            )
            # (Villages outside any community are in no community item.)
            if level == "community":
                in_community = ledger[V1] + ledger[V2]
                got_community = {item.region_code: item.total_fen for item in report.items}
                assert got_community == {COMMUNITY: in_community}
                assert report.total_fen == in_community
            else:
                assert report.total_fen == sum(ledger.values())
                assert report.related_party_fen == sum(related.values())
                expected: Counter[str] = Counter()
                for village, amount in ledger.items():
                    expected[village[:length_of_code]] += amount
                got = {item.region_code: item.total_fen for item in report.items if item.total_fen}
                assert got == {code: amount for code, amount in expected.items() if amount}
            for item in report.items:
                assert item.total_fen == sum(getattr(item.by_category, c) for c in posting.INCOME_CATEGORIES)
            periods = getattr(report, "periods", None)
            if interval is not None:
                assert periods is not None
                assert periods[0].from_ == date_from and periods[-1].to == date_to
                assert sum(p.total_fen for p in periods) == report.total_fen
                assert sum(p.related_party_fen for p in periods) == report.related_party_fen
                per_region: Counter[str] = Counter()
                for period in periods:
                    for item in period.items:
                        per_region[item.region_code] += item.total_fen
                assert {k: v for k, v in per_region.items() if v} == {
                    i.region_code: i.total_fen for i in report.items if i.total_fen
                }
            else:
                assert periods is None


async def test_a_report_in_another_time_zone_reads_the_postings(db: Database, settings: Settings) -> None:
    # A settlement at 2026-03-31 20:00 UTC: April in Shanghai, March in UTC
    at = datetime(2026, 3, 31, 20, 0, tzinfo=UTC)
    await _apply(db, [("settle", V1, 1_000_000, int((at - BASE).total_seconds() // 3600), False)])
    staff = Principal("01hstaff000000000000000001", DISTRICT_STAFF, "区级", region_code="370704")
    utc_settings = settings.model_copy(update={"report_timezone": "UTC"})
    async with db.read() as conn:
        for zone_settings, month, expected in (
            (settings, (date(2026, 4, 1), date(2026, 4, 30)), 100_000),
            (settings, (date(2026, 3, 1), date(2026, 3, 31)), 0),
            (utc_settings, (date(2026, 3, 1), date(2026, 3, 31)), 100_000),
            (utc_settings, (date(2026, 4, 1), date(2026, 4, 30)), 0),
        ):
            report = await report_service.collective_income_report(
                conn,
                zone_settings,
                staff,
                date_from=month[0],
                date_to=month[1],
                group_by="district",
                region_code=None,
            )
            assert report.total_fen == expected


def _down_and_up_through_the_rollup_migration(connection: Any) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    before = ScriptDirectory.from_config(config).get_revision("0020_income_rollups").down_revision
    assert isinstance(before, str)
    command.downgrade(config, before)
    command.upgrade(config, "head")


async def test_the_migration_backfills_the_rollup_from_existing_postings(
    db: Database, settings: Settings
) -> None:
    # Given postings of every kind in several months, their rollup kept as they were posted
    await _apply(
        db,
        [
            ("settle", V1, 1_000_000, 0, True),
            ("settle", V2, 2_000_000, -1, False),
            ("income", V3, "subsidy_income", 500_000, 24 * 40),
            ("refund", 0, 300_000, 2),
            ("reverse", 1, 5),
        ],
    )
    kept = await _rollup(db)
    assert kept == await _group_by_over_postings(db)
    await db.dispose()
    # When the table is dropped and the migration runs again
    engine = create_async_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_down_and_up_through_the_rollup_migration)
            await conn.commit()
    finally:
        await engine.dispose()
    # Then it holds the same sums, built from the postings
    fresh = Database(settings)
    try:
        assert await _rollup(fresh) == kept
    finally:
        await fresh.dispose()


async def test_concurrent_postings_to_one_village_month_both_count(db: Database) -> None:
    # Given two settlements for the same village and month, posted by two sessions at once
    at = datetime(2026, 4, 15, 4, 0, tzinfo=UTC)

    async def settle(key: str, subtotal: int) -> None:
        async with db.session() as session:
            await service.post(
                session,
                kind=posting.PART_SETTLED,
                dedupe_key=key,
                entries=posting.part_settled_entries(COOP, V1, subtotal, 300, 1000),
                occurred_at=at,
            )
            await session.commit()

    await asyncio.gather(*(settle(f"concurrent:{n}", 1_000_000 * (n + 1)) for n in range(4)))
    # Then the month's row holds every one of them (an upsert, not a lost update)
    assert (await _rollup(db))[(date(2026, 4, 1), V1, "operating_income")] == (1_000_000, 0)
    assert await _rollup(db) == await _group_by_over_postings(db)
