"""Posting to the ledger on a real database: exactly once, balanced, append-only."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from coopmarket.core import clock
from coopmarket.db import Database
from coopmarket.ledger import posting, service
from coopmarket.ledger.models import LedgerPosting, LedgerTransaction
from coopmarket.ledger.posting import Entry
from coopmarket.ledger.schemas import CollectiveIncomeRow
from tests.ledger.builders import ledger_row_counts, post_committed, post_income, settle_part

COOP = "01hcoop0000000000000000001"
OTHER_COOP = "01hcoop0000000000000000002"
VILLAGE = "370704003200"
T0 = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)


def payment(total: int = 5000) -> list[Entry]:
    return posting.payment_received_entries("offline", total, [(COOP, total)])


async def test_post_writes_the_transaction_and_every_posting(db: Database) -> None:
    # Given a payment split over two cooperatives
    entries = posting.payment_received_entries("offline", 5000, [(COOP, 3000), (OTHER_COOP, 2000)])
    # When posted and committed
    async with db.session() as session:
        transaction_id = await service.post(
            session,
            kind=posting.PAYMENT_RECEIVED,
            dedupe_key="payment:p1",
            entries=entries,
            occurred_at=T0,
            order_id="01horder000000000000000001",
            memo="银行转账",
        )
        await session.commit()
    # Then the transaction and its three postings are in the ledger as given
    async with db.read() as conn:
        header = (
            await conn.execute(
                text("SELECT kind, dedupe_key, order_id, cooperative_id, memo FROM ledger_transaction")
            )
        ).one()
        rows = (
            await conn.execute(
                text("SELECT transaction_id, account, amount_fen FROM ledger_posting ORDER BY amount_fen")
            )
        ).all()
    assert tuple(header) == ("payment_received", "payment:p1", "01horder000000000000000001", None, "银行转账")
    assert [tuple(r) for r in rows] == [
        (transaction_id, f"escrow:coop:{COOP}", -3000),
        (transaction_id, f"escrow:coop:{OTHER_COOP}", -2000),
        (transaction_id, "cash:offline", 5000),
    ]


async def test_post_joins_the_callers_transaction_and_never_commits(db: Database) -> None:
    # Given a posting inside a unit of work / When the caller rolls back
    async with db.session() as session:
        transaction_id = await service.post(
            session, kind="test", dedupe_key="k1", entries=payment(), occurred_at=T0
        )
        await session.rollback()
    # Then nothing was written
    assert transaction_id is not None
    assert await ledger_row_counts(db) == (0, 0)


async def test_post_refuses_an_unbalanced_transaction_and_writes_nothing(db: Database) -> None:
    async with db.session() as session:
        with pytest.raises(posting.LedgerUnbalanced):
            await service.post(
                session,
                kind="test",
                dedupe_key="k1",
                entries=[Entry("cash:offline", 100), Entry(f"escrow:coop:{COOP}", -99)],
                occurred_at=T0,
            )
        await session.commit()
    assert await ledger_row_counts(db) == (0, 0)


async def test_the_same_dedupe_key_posts_once(db: Database) -> None:
    # Given a payment already posted
    first = await post_committed(db, payment(), dedupe_key="payment:p1")
    # When the same event is posted again (even with other amounts)
    second = await post_committed(db, payment(9999), dedupe_key="payment:p1")
    # Then the second attempt writes nothing
    assert first is not None
    assert second is None
    assert await ledger_row_counts(db) == (1, 2)
    async with db.read() as conn:
        assert await service.balances(conn, "cash:") == [("cash:offline", 5000)]


async def test_a_duplicate_leaves_the_callers_transaction_usable(db: Database) -> None:
    # Given a posted key
    await post_committed(db, payment(), dedupe_key="payment:p1")
    # When one unit of work meets the duplicate and then posts something new
    async with db.session() as session:
        duplicate = await service.post(
            session, kind="test", dedupe_key="payment:p1", entries=payment(), occurred_at=T0
        )
        fresh = await service.post(
            session, kind="test", dedupe_key="payment:p2", entries=payment(700), occurred_at=T0
        )
        await session.commit()
    # Then the new transaction committed with it
    assert duplicate is None
    assert fresh is not None
    assert await ledger_row_counts(db) == (2, 4)


async def _post_in_own_session(db: Database, dedupe_key: str) -> str | None:
    async with db.session() as session:
        transaction_id = await service.post(
            session, kind="test", dedupe_key=dedupe_key, entries=payment(), occurred_at=T0
        )
        await session.commit()
    return transaction_id


async def test_two_sessions_racing_on_one_key_post_once(db: Database) -> None:
    # Given two units of work posting the same event at once
    results = await asyncio.gather(*(_post_in_own_session(db, "payment:race") for _ in range(2)))
    # Then exactly one wrote it
    assert sorted(r is None for r in results) == [False, True]
    assert await ledger_row_counts(db) == (1, 2)


async def _wait_for_a_lock_waiter(db: Database) -> None:
    async with db.read() as conn:
        for _ in range(500):
            waiting = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                )
            ).scalar_one()
            if waiting:
                return
            await asyncio.sleep(0.01)
    pytest.fail("the second session never waited for the first one's lock")


async def test_a_second_session_waits_for_the_first_and_then_posts_nothing(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("SQLite serialises writers with BEGIN IMMEDIATE; the race is PostgreSQL's")
    # Given a first unit of work that posted a key and has not committed yet
    async with db.session() as first:
        assert await service.post(first, kind="test", dedupe_key="k", entries=payment(), occurred_at=T0)
        # When a second one posts the same key while the first is still open
        second = asyncio.create_task(_post_in_own_session(db, "k"))
        await _wait_for_a_lock_waiter(db)
        await first.commit()
    # Then the second waited on the unique key and wrote nothing
    assert await second is None
    assert await ledger_row_counts(db) == (1, 2)


accounts = st.sampled_from(
    ["cash:offline", "cash:stripe", f"escrow:coop:{COOP}", f"payable:coop:{COOP}", "revenue:platform_fee"]
)
transactions = st.lists(
    st.lists(
        st.tuples(accounts, st.integers(min_value=-(10**9), max_value=10**9).filter(bool)),
        min_size=1,
        max_size=4,
    ),
    min_size=1,
    max_size=5,
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(generated=transactions)
async def test_the_trial_balance_is_zero_after_any_balanced_transactions(
    db: Database, generated: list[list[tuple[str, int]]]
) -> None:
    # Given balances before (examples share the database)
    async with db.read() as conn:
        before = dict(await service.balances(conn, ""))
    # When any set of transactions is balanced with one last entry and posted
    expected = Counter(before)
    for raw in generated:
        entries = [Entry(account, amount) for account, amount in raw]
        if sum(amount for _, amount in raw):
            entries.append(Entry("equity:balancing", -sum(amount for _, amount in raw)))
        if len(entries) < 2:
            entries = [Entry("cash:offline", 1), Entry("equity:balancing", -1)]
        for entry in entries:
            expected[entry.account] += entry.amount_fen
        await post_committed(db, entries)
    # Then the whole ledger sums to 0 and every account moved by exactly its entries
    async with db.read() as conn:
        assert await service.trial_balance(conn) == 0
        assert dict(await service.balances(conn, "")) == dict(expected)


async def test_balances_sum_accounts_with_the_prefix_taken_literally(db: Database) -> None:
    # Given payments to two cooperatives, one refunded in part, and an account with '_' in its name
    await post_committed(
        db, posting.payment_received_entries("offline", 5000, [(COOP, 3000), (OTHER_COOP, 2000)])
    )
    await post_committed(db, posting.refund_entries("offline", COOP, 700))
    await post_committed(db, [Entry("escrowXcoop:x", 1), Entry("cash:offline", -1)])
    # When balances are read by prefix
    async with db.read() as conn:
        escrow = await service.balances(conn, "escrow:coop:")
        underscored = await service.balances(conn, "escrow_coop")
        cash = await service.balances(conn, "cash:")
    # Then each account's postings are summed, and '_' is not a wildcard
    assert escrow == [(f"escrow:coop:{COOP}", -2300), (f"escrow:coop:{OTHER_COOP}", -2000)]
    assert underscored == []
    assert cash == [("cash:offline", 4299)]


async def test_collective_income_rows_sum_credits_in_the_half_open_range(db: Database) -> None:
    # Given collective income before, at the start of, inside and at the end of a range
    start, end = datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC)
    await post_income(
        db, VILLAGE, "subsidy_income", 100, occurred_at=datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC)
    )
    await post_income(db, VILLAGE, "subsidy_income", 200, occurred_at=start)
    await settle_part(db, cooperative_id=COOP, village_code=VILLAGE, subtotal_fen=10_000, occurred_at=T0)
    await settle_part(db, cooperative_id=COOP, village_code=VILLAGE, subtotal_fen=3990, occurred_at=T0)
    await post_income(
        db, "370704003201", "other_income", 50, occurred_at=datetime(2026, 4, 30, 23, 0, tzinfo=UTC)
    )
    await post_income(db, VILLAGE, "subsidy_income", 400, occurred_at=end)
    # When the rows for the range are read
    async with db.read() as conn:
        rows = await service.collective_income_rows(conn, start, end)
    # Then each village and category is summed, credits as positive amounts, end excluded
    assert rows == [
        CollectiveIncomeRow(VILLAGE, "operating_income", 1000 + 399),
        CollectiveIncomeRow(VILLAGE, "subsidy_income", 200),
        CollectiveIncomeRow("370704003201", "other_income", 50),
    ]


async def test_collective_income_rows_net_reversing_debits(db: Database) -> None:
    # Given income and a debit to the same account (e.g. a correction)
    await post_income(db, VILLAGE, "other_income", 500, occurred_at=T0)
    await post_committed(
        db,
        [Entry(posting.collective_income(VILLAGE, "other_income"), 200), Entry("cash:offline", -200)],
        occurred_at=T0,
    )
    async with db.read() as conn:
        rows = await service.collective_income_rows(
            conn, datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
        )
    # Then the correction reduces the reported income
    assert rows == [CollectiveIncomeRow(VILLAGE, "other_income", 300)]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_posting SET amount_fen = amount_fen * 2",
        "DELETE FROM ledger_posting",
        "UPDATE ledger_transaction SET memo = 'edited'",
        "DELETE FROM ledger_transaction",
    ],
)
async def test_the_database_refuses_to_change_ledger_rows(db: Database, statement: str) -> None:
    # Given a posted payment
    await post_committed(db, payment(5000), occurred_at=T0)
    # When raw SQL tries to edit or remove it / Then the database refuses
    async with db.engine.connect() as conn:
        with pytest.raises(IntegrityError):
            await conn.execute(text(statement))
        await conn.rollback()
    # And the ledger is as it was
    assert await ledger_row_counts(db) == (1, 2)
    async with db.read() as conn:
        assert await service.balances(conn, "") == [("cash:offline", 5000), (f"escrow:coop:{COOP}", -5000)]


async def test_postgresql_refuses_an_unbalanced_transaction_at_commit(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("the deferred balance check is a PostgreSQL constraint trigger")
    # Given raw inserts of a transaction whose only posting does not balance
    async with db.engine.connect() as conn:
        await conn.execute(
            text(
                "INSERT INTO ledger_transaction (id, kind, dedupe_key, occurred_at)"
                " VALUES ('t1', 'manual', 'raw:1', now())"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO ledger_posting (id, transaction_id, account, amount_fen, occurred_at)"
                " VALUES ('p1', 't1', 'cash:offline', 100, now())"
            )
        )
        # When it commits / Then the database refuses it
        with pytest.raises(IntegrityError):
            await conn.commit()
        await conn.rollback()
    assert await ledger_row_counts(db) == (0, 0)


async def test_post_stamps_postings_with_the_event_time_not_the_clock(db: Database) -> None:
    # Given the clock far from the event
    clock.set_now(datetime(2030, 1, 1, tzinfo=UTC))
    # When an event of T0 is posted
    await post_committed(db, payment(), occurred_at=T0)
    # Then the transaction and its postings carry T0
    async with db.read() as conn:
        posted = (await conn.execute(select(LedgerPosting.occurred_at))).scalars().all()
        header = (await conn.execute(select(LedgerTransaction.occurred_at))).scalars().all()
    assert posted == [T0, T0]
    assert header == [T0]
