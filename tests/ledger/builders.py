"""Builders for ledger tests: transactions posted through ``ledger.service.post`` and committed."""

from __future__ import annotations

import itertools
from datetime import datetime

from sqlalchemy import text

from coopmarket.core import clock
from coopmarket.db import Database
from coopmarket.ledger import posting, service

_counter = itertools.count(1)


def unique_key(prefix: str = "test") -> str:
    return f"{prefix}:{next(_counter)}"


async def post_committed(
    db: Database,
    entries: list[posting.Entry],
    *,
    kind: str = "test",
    dedupe_key: str | None = None,
    occurred_at: datetime | None = None,
) -> str | None:
    """Post one transaction in its own unit of work and commit it."""
    async with db.session() as session:
        transaction_id = await service.post(
            session,
            kind=kind,
            dedupe_key=dedupe_key or unique_key(kind),
            entries=entries,
            occurred_at=occurred_at or clock.now(),
        )
        await session.commit()
    return transaction_id


async def settle_part(
    db: Database,
    *,
    cooperative_id: str,
    village_code: str,
    subtotal_fen: int,
    fee_bps: int = 300,
    collective_bps: int = 1000,
    occurred_at: datetime | None = None,
) -> str | None:
    """A ``part_settled`` transaction as the orders slice posts it (no order needed)."""
    return await post_committed(
        db,
        posting.part_settled_entries(cooperative_id, village_code, subtotal_fen, fee_bps, collective_bps),
        kind=posting.PART_SETTLED,
        dedupe_key=unique_key("settle"),
        occurred_at=occurred_at,
    )


async def post_income(
    db: Database, village_code: str, category: str, amount_fen: int, *, occurred_at: datetime | None = None
) -> str | None:
    """Income of another category (e.g. a subsidy) credited to a village collective from cash."""
    return await post_committed(
        db,
        [
            posting.Entry(posting.cash("offline"), amount_fen),
            posting.Entry(posting.collective_income(village_code, category), -amount_fen),
        ],
        kind="collective_income",
        occurred_at=occurred_at,
    )


async def ledger_row_counts(db: Database) -> tuple[int, int]:
    """(transactions, postings) in the ledger."""
    async with db.read() as conn:
        transactions = (await conn.execute(text("SELECT count(*) FROM ledger_transaction"))).scalar_one()
        postings = (await conn.execute(text("SELECT count(*) FROM ledger_posting"))).scalar_one()
    return int(transactions), int(postings)
