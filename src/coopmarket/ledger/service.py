"""The ledger: posting balanced, append-only transactions exactly once, and reading balances."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, insert, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

from coopmarket.core.errors import RuleViolated
from coopmarket.core.ids import new_id
from coopmarket.core.principal import DISTRICT_STAFF, Principal
from coopmarket.db import Executor, dialect_name, insert_or_ignore
from coopmarket.ledger import posting
from coopmarket.ledger.models import CollectiveIncomeMonth, LedgerPosting, LedgerTransaction
from coopmarket.ledger.schemas import AccountBalance, BalanceList, CollectiveIncomeRow, MonthlyIncomeRow

_transaction = LedgerTransaction.__table__  # type: ignore[attr-defined]
_posting = LedgerPosting.__table__  # type: ignore[attr-defined]
_rollup = CollectiveIncomeMonth.__table__  # type: ignore[attr-defined]

# The months of ``collective_income_month`` are months in this zone (the default
# ``COOPMARKET_REPORT_TIMEZONE``); a report in another zone reads the postings only.
ROLLUP_TIMEZONE = "Asia/Shanghai"
_ROLLUP_ZONE = ZoneInfo(ROLLUP_TIMEZONE)


def rollup_month(occurred_at: datetime) -> date:
    """The first day of the month, in ``ROLLUP_TIMEZONE``, of an aware instant."""
    return occurred_at.astimezone(_ROLLUP_ZONE).date().replace(day=1)


def _upsert_rollup(executor: Executor, rows: list[dict[str, object]]) -> Executable:
    """``INSERT … ON CONFLICT (month, village_code, category) DO UPDATE`` adding to the sums."""
    dialect_insert = postgresql.insert if dialect_name(executor) == "postgresql" else sqlite.insert
    stmt = dialect_insert(_rollup).values(rows)
    return stmt.on_conflict_do_update(
        index_elements=[_rollup.c.month.name, _rollup.c.village_code.name, _rollup.c.category.name],
        set_={
            "amount_fen": _rollup.c.amount_fen + stmt.excluded.amount_fen,
            "related_party_fen": _rollup.c.related_party_fen + stmt.excluded.related_party_fen,
        },
    )


async def _roll_up(
    session: Executor, entries: Iterable[posting.Entry], occurred_at: datetime, is_related_party: bool
) -> None:
    """Add a transaction's collective-income entries to ``collective_income_month`` (same transaction)."""
    sums: dict[tuple[str, str], int] = {}
    for entry in entries:
        parsed = posting.parse_collective_income(entry.account)
        if parsed is not None:
            sums[parsed] = sums.get(parsed, 0) - entry.amount_fen
    rows: list[dict[str, object]] = [
        {
            "month": rollup_month(occurred_at),
            "village_code": village_code,
            "category": category,
            "amount_fen": amount,
            "related_party_fen": amount if is_related_party else 0,
        }
        for (village_code, category), amount in sorted(sums.items())
        if amount
    ]
    if rows:
        await session.execute(_upsert_rollup(session, rows))


def _insert_transaction_once(executor: Executor, values: dict[str, object]) -> Executable:
    """``INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING id``.

    The database settles a race: on PostgreSQL a second writer waits for the first to commit and
    then inserts nothing; SQLite serialises writers (``BEGIN IMMEDIATE``). No exception is raised,
    so the caller's transaction stays usable.
    """
    return insert_or_ignore(
        executor, _transaction, values, conflict_on=[_transaction.c.dedupe_key.name]
    ).returning(_transaction.c.id)


async def post(
    session: Executor,
    *,
    kind: str,
    dedupe_key: str,
    entries: Iterable[posting.Entry],
    occurred_at: datetime,
    order_id: str | None = None,
    cooperative_id: str | None = None,
    memo: str | None = None,
    is_related_party: bool = False,
) -> str | None:
    """Post one balanced transaction; joins the caller's transaction and never commits.

    Returns the new transaction id, or ``None`` when ``dedupe_key`` was already posted (then
    nothing is written). Raises ``LedgerUnbalanced`` before writing anything that does not balance.
    ``is_related_party`` marks an event of an order whose buyer manages the selling cooperative
    (the income reports show that income apart).
    """
    journal = posting.build_transaction(entries)
    if not kind or len(kind) > 32:
        raise RuleViolated("A ledger transaction kind is 1..32 characters.", code="ledger_invalid_kind")
    if not dedupe_key or len(dedupe_key) > 128:
        raise RuleViolated("A dedupe key is 1..128 characters.", code="ledger_invalid_dedupe_key")
    if memo is not None and len(memo) > 500:
        raise RuleViolated("A ledger memo is at most 500 characters.", code="ledger_invalid_memo")
    if occurred_at.tzinfo is None:
        raise ValueError("occurred_at must be timezone-aware")
    transaction_id = new_id()
    statement = _insert_transaction_once(
        session,
        {
            "id": transaction_id,
            "kind": kind,
            "dedupe_key": dedupe_key,
            "order_id": order_id,
            "cooperative_id": cooperative_id,
            "memo": memo,
            "occurred_at": occurred_at,
            "is_related_party": is_related_party,
        },
    )
    if (await session.execute(statement)).first() is None:
        return None
    await session.execute(
        insert(_posting).values(
            [
                {
                    "id": new_id(),
                    "transaction_id": transaction_id,
                    "account": entry.account,
                    "amount_fen": entry.amount_fen,
                    "occurred_at": occurred_at,
                }
                for entry in journal.entries
            ]
        )
    )
    await _roll_up(session, journal.entries, occurred_at, is_related_party)
    return transaction_id


class NothingToReverse(LookupError):
    """The transaction to reverse was never posted."""


async def reverse(
    session: Executor,
    *,
    original_dedupe_key: str,
    kind: str,
    dedupe_key: str,
    occurred_at: datetime,
    memo: str | None = None,
) -> str | None:
    """Post the exact inverse of the transaction posted as ``original_dedupe_key``, once.

    Every posting comes back with its sign flipped, on the same accounts, with the original's
    order, cooperative and related-party flag: the correction of an append-only ledger. Returns
    the new transaction id, or ``None`` when ``dedupe_key`` was posted before. Raises
    ``NothingToReverse`` when the original does not exist. Joins the caller's transaction.
    """
    original = (
        await session.execute(
            select(
                _transaction.c.id,
                _transaction.c.order_id,
                _transaction.c.cooperative_id,
                _transaction.c.is_related_party,
            ).where(_transaction.c.dedupe_key == original_dedupe_key)
        )
    ).first()
    if original is None:
        raise NothingToReverse(f"no ledger transaction {original_dedupe_key}")
    postings = (
        await session.execute(
            select(_posting.c.account, _posting.c.amount_fen)
            .where(_posting.c.transaction_id == original.id)
            .order_by(_posting.c.id)
        )
    ).all()
    return await post(
        session,
        kind=kind,
        dedupe_key=dedupe_key,
        entries=[posting.Entry(row.account, -int(row.amount_fen)) for row in postings],
        occurred_at=occurred_at,
        order_id=original.order_id,
        cooperative_id=original.cooperative_id,
        memo=memo,
        is_related_party=bool(original.is_related_party),
    )


async def balances(conn: Executor, account_prefix: str) -> list[tuple[str, int]]:
    """``(account, balance_fen)`` for every account starting with ``account_prefix``, by name."""
    stmt = (
        select(_posting.c.account, func.sum(_posting.c.amount_fen).label("balance"))
        .group_by(_posting.c.account)
        .order_by(_posting.c.account)
    )
    if account_prefix:
        stmt = stmt.where(_posting.c.account.startswith(account_prefix, autoescape=True))
    return [(row.account, int(row.balance)) for row in (await conn.execute(stmt)).all()]


async def trial_balance(conn: Executor) -> int:
    """The sum of every posting in the ledger: 0 when the books balance."""
    total = (await conn.execute(select(func.coalesce(func.sum(_posting.c.amount_fen), 0)))).scalar_one()
    return int(total)


async def collective_income_rows(
    conn: Executor, start_utc: datetime, end_utc: datetime
) -> list[CollectiveIncomeRow]:
    """Net income of ``collective_income:*`` accounts posted in ``[start_utc, end_utc)``, per village and category.

    Credits count as income and debits (reversing corrections) reduce it, so a corrected figure
    is reported corrected. Amounts are positive for income. Joins the caller's connection.
    """
    stmt = (
        select(_posting.c.account, func.sum(_posting.c.amount_fen).label("credited"))
        .where(
            _posting.c.account.startswith(posting.COLLECTIVE_INCOME_PREFIX, autoescape=True),
            _posting.c.occurred_at >= start_utc,
            _posting.c.occurred_at < end_utc,
        )
        .group_by(_posting.c.account)
        .order_by(_posting.c.account)
    )
    rows: list[CollectiveIncomeRow] = []
    for row in (await conn.execute(stmt)).all():
        parsed = posting.parse_collective_income(row.account)
        if parsed is None:
            continue
        village_code, category = parsed
        rows.append(CollectiveIncomeRow(village_code, category, -int(row.credited)))
    return rows


async def related_party_income_rows(
    conn: Executor, start_utc: datetime, end_utc: datetime
) -> list[CollectiveIncomeRow]:
    """The part of ``collective_income_rows`` posted by related-party orders' transactions.

    Reads only the flagged transactions (a partial index holds them), so the report pays for the
    few related-party orders, not for every posting. Joins the caller's connection.
    """
    stmt = (
        select(_posting.c.account, func.sum(_posting.c.amount_fen).label("credited"))
        .select_from(_transaction.join(_posting, _posting.c.transaction_id == _transaction.c.id))
        .where(
            _transaction.c.is_related_party,
            _transaction.c.occurred_at >= start_utc,
            _transaction.c.occurred_at < end_utc,
            _posting.c.account.startswith(posting.COLLECTIVE_INCOME_PREFIX, autoescape=True),
        )
        .group_by(_posting.c.account)
        .order_by(_posting.c.account)
    )
    rows: list[CollectiveIncomeRow] = []
    for row in (await conn.execute(stmt)).all():
        parsed = posting.parse_collective_income(row.account)
        if parsed is None:
            continue
        village_code, category = parsed
        rows.append(CollectiveIncomeRow(village_code, category, -int(row.credited)))
    return rows


def _next_month(month: date) -> date:
    return date(month.year + 1, 1, 1) if month.month == 12 else date(month.year, month.month + 1, 1)


def month_segments(date_from: date, date_to: date) -> list[tuple[date, date, bool]]:
    """``[from, to]`` (local dates, inclusive) cut at month starts: ``(first, last, whole_month)``."""
    segments: list[tuple[date, date, bool]] = []
    start = date_from
    while start <= date_to:
        month = start.replace(day=1)
        after = _next_month(month)
        last = min(date_to, after - timedelta(days=1))
        segments.append((start, last, start == month and last == after - timedelta(days=1)))
        start = after
    return segments


async def monthly_income_rows(
    conn: Executor, date_from: date, date_to: date, timezone: str, *, by_month: bool
) -> list[MonthlyIncomeRow]:
    """Net collective income per village and category for local dates ``[date_from, date_to]``.

    Whole months come from ``collective_income_month`` (one row per village, month and category,
    kept with every posting); the partial months at the edges, and everything when ``timezone``
    is not ``ROLLUP_TIMEZONE``, from the postings. With ``by_month`` each row is one month's
    (``month`` its first day); without, one row per village and category over the whole range
    (``month`` is ``date_from``'s month). Joins the caller's connection.
    """
    rows: list[MonthlyIncomeRow] = []
    segments = month_segments(date_from, date_to)
    whole = [s for s in segments if s[2]] if timezone == ROLLUP_TIMEZONE else []
    partial = [s for s in segments if s not in whole]
    if whole:
        first, last = whole[0][0], whole[-1][0]
        columns = [_rollup.c.village_code, _rollup.c.category]
        if by_month:
            columns.insert(0, _rollup.c.month)
        stmt = (
            select(
                *columns,
                func.sum(_rollup.c.amount_fen).label("amount"),
                func.sum(_rollup.c.related_party_fen).label("related"),
            )
            .where(_rollup.c.month >= first, _rollup.c.month <= last)
            .group_by(*columns)
        )
        whole_range = date_from.replace(day=1)
        for row in (await conn.execute(stmt)).all():
            values = tuple(row) if by_month else (whole_range, *row)
            rows.append(MonthlyIncomeRow(values[0], values[1], values[2], int(values[3]), int(values[4])))
    zone = ZoneInfo(timezone)
    for seg_from, seg_to, _ in partial:
        start_utc = datetime.combine(seg_from, time.min, tzinfo=zone).astimezone(UTC)
        end_utc = datetime.combine(seg_to + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)
        month = seg_from.replace(day=1) if by_month else date_from.replace(day=1)
        related = {
            (r.village_code, r.category): r.amount_fen
            for r in await related_party_income_rows(conn, start_utc, end_utc)
        }
        for r in await collective_income_rows(conn, start_utc, end_utc):
            rows.append(
                MonthlyIncomeRow(
                    month, r.village_code, r.category, r.amount_fen, related.get((r.village_code, r.category), 0)
                )
            )
    return rows


async def balance_list(conn: AsyncConnection, principal: Principal, account_prefix: str) -> BalanceList:
    """Balances of the accounts starting with ``account_prefix``, for district staff."""
    principal.require_role(DISTRICT_STAFF)
    return BalanceList(
        items=[AccountBalance(account, balance) for account, balance in await balances(conn, account_prefix)]
    )


# --- a cooperative's statement ----------------------------------------------------------------


async def balance_before(conn: Executor, account: str, before_utc: datetime) -> int:
    """The sum of ``account``'s postings before ``before_utc`` (debit positive)."""
    total = (
        await conn.execute(
            select(func.coalesce(func.sum(_posting.c.amount_fen), 0)).where(
                _posting.c.account == account, _posting.c.occurred_at < before_utc
            )
        )
    ).scalar_one()
    return int(total)


def _statement_transaction_ids(cooperative_id: str, start_utc: datetime, end_utc: datetime) -> Any:
    """Ids of the transactions in ``[start_utc, end_utc)`` that move the cooperative's payable,
    and of its settlements (whose fee and collective share are shown even when its rest is 0)."""
    payable = posting.coop_payable(cooperative_id)
    escrow = posting.escrow(cooperative_id)
    return (
        select(_posting.c.transaction_id)
        .select_from(_posting.join(_transaction, _posting.c.transaction_id == _transaction.c.id))
        .where(
            _posting.c.occurred_at >= start_utc,
            _posting.c.occurred_at < end_utc,
            or_(
                _posting.c.account == payable,
                and_(_posting.c.account == escrow, _transaction.c.kind == posting.PART_SETTLED),
            ),
        )
    )


async def statement_sums(
    conn: Executor, cooperative_id: str, start_utc: datetime, end_utc: datetime
) -> list[tuple[str, str, int]]:
    """``(kind, account, sum)`` over the statement's transactions in the range (see
    ``_statement_transaction_ids``). Joins the caller's connection."""
    ids = _statement_transaction_ids(cooperative_id, start_utc, end_utc)
    stmt = (
        select(_transaction.c.kind, _posting.c.account, func.sum(_posting.c.amount_fen).label("total"))
        .select_from(_posting.join(_transaction, _posting.c.transaction_id == _transaction.c.id))
        .where(_transaction.c.id.in_(ids))
        .group_by(_transaction.c.kind, _posting.c.account)
        .order_by(_transaction.c.kind, _posting.c.account)
    )
    return [(row.kind, row.account, int(row.total)) for row in (await conn.execute(stmt)).all()]


async def account_sum(
    conn: Executor, account: str, kinds: Iterable[str], start_utc: datetime, end_utc: datetime
) -> int:
    """The sum of ``account``'s postings of transactions of ``kinds`` in [start, end)."""
    stmt = (
        select(func.coalesce(func.sum(_posting.c.amount_fen), 0))
        .select_from(_posting.join(_transaction, _posting.c.transaction_id == _transaction.c.id))
        .where(
            _posting.c.account == account,
            _transaction.c.kind.in_(list(kinds)),
            _posting.c.occurred_at >= start_utc,
            _posting.c.occurred_at < end_utc,
        )
    )
    return int((await conn.execute(stmt)).scalar_one())


@dataclass(frozen=True, slots=True)
class TransactionPostings:
    id: str
    kind: str
    occurred_at: datetime
    order_id: str | None
    memo: str | None
    postings: tuple[tuple[str, int], ...]


async def statement_transactions(
    conn: Executor,
    cooperative_id: str,
    start_utc: datetime,
    end_utc: datetime,
    *,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[TransactionPostings]:
    """Up to ``limit`` of the statement's transactions in ``(occurred_at, id)`` order after the
    keyset ``after``, each with its postings."""
    ids = _statement_transaction_ids(cooperative_id, start_utc, end_utc)
    stmt = (
        select(
            _transaction.c.id,
            _transaction.c.kind,
            _transaction.c.occurred_at,
            _transaction.c.order_id,
            _transaction.c.memo,
        )
        .where(_transaction.c.id.in_(ids))
        .order_by(_transaction.c.occurred_at, _transaction.c.id)
        .limit(limit)
    )
    if after is not None:
        at, last_id = after
        stmt = stmt.where(
            or_(
                _transaction.c.occurred_at > at,
                and_(_transaction.c.occurred_at == at, _transaction.c.id > last_id),
            )
        )
    headers = (await conn.execute(stmt)).all()
    if not headers:
        return []
    rows = (
        await conn.execute(
            select(_posting.c.transaction_id, _posting.c.account, _posting.c.amount_fen)
            .where(_posting.c.transaction_id.in_([h.id for h in headers]))
            .order_by(_posting.c.transaction_id, _posting.c.id)
        )
    ).all()
    by_transaction: dict[str, list[tuple[str, int]]] = {}
    for row in rows:
        by_transaction.setdefault(row.transaction_id, []).append((row.account, int(row.amount_fen)))
    return [
        TransactionPostings(
            id=h.id,
            kind=h.kind,
            occurred_at=h.occurred_at,
            order_id=h.order_id,
            memo=h.memo,
            postings=tuple(by_transaction.get(h.id, ())),
        )
        for h in headers
    ]


@dataclass(frozen=True, slots=True)
class TransactionHeader:
    id: str
    kind: str
    dedupe_key: str
    cooperative_id: str | None
    memo: str | None
    occurred_at: datetime


async def transaction_header(conn: Executor, transaction_id: str) -> TransactionHeader | None:
    """One transaction's header, or ``None``."""
    row = (
        await conn.execute(
            select(
                _transaction.c.id,
                _transaction.c.kind,
                _transaction.c.dedupe_key,
                _transaction.c.cooperative_id,
                _transaction.c.memo,
                _transaction.c.occurred_at,
            ).where(_transaction.c.id == transaction_id)
        )
    ).first()
    if row is None:
        return None
    return TransactionHeader(
        id=row.id,
        kind=row.kind,
        dedupe_key=row.dedupe_key,
        cooperative_id=row.cooperative_id,
        memo=row.memo,
        occurred_at=row.occurred_at,
    )


async def lock_account(conn: Executor, account: str) -> None:
    """Serialise writers that check an account's balance before posting to it: a transaction-scoped
    advisory lock on PostgreSQL; SQLite already serialises writers (``BEGIN IMMEDIATE``)."""
    if dialect_name(conn) == "postgresql":
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"ledger:{account}"}
        )


async def transaction_postings(conn: Executor, transaction_id: str) -> list[tuple[str, int]]:
    """``(account, amount)`` of one transaction's postings."""
    rows = (
        await conn.execute(
            select(_posting.c.account, _posting.c.amount_fen)
            .where(_posting.c.transaction_id == transaction_id)
            .order_by(_posting.c.id)
        )
    ).all()
    return [(row.account, int(row.amount_fen)) for row in rows]


# --- a village's income from each cooperative (disclosures) -------------------------------------

_COOP_ACCOUNT_PREFIXES = ("escrow:coop:", "payable:coop:", "surplus:coop:")


def _cooperative_of(account: str) -> str | None:
    for prefix in _COOP_ACCOUNT_PREFIXES:
        if account.startswith(prefix):
            return account[len(prefix) :]
    return None


async def collective_income_by_cooperative(
    conn: Executor, village_code: str, start_utc: datetime, end_utc: datetime
) -> list[tuple[str, str, int]]:
    """``(cooperative_id, category, amount_fen)``: the village's net collective income posted in
    ``[start_utc, end_utc)`` by transactions that also move one cooperative's money (a settled
    sale's collective share, its refund's reversal, a surplus distribution's collective return).

    The cooperative is read from the transaction's own postings (``escrow:coop:*``,
    ``payable:coop:*``, ``surplus:coop:*``); income posted with no cooperative (non-sales income,
    contract rent) is left out. Sorted by cooperative and category. Joins the caller's connection.
    """
    prefix = f"{posting.COLLECTIVE_INCOME_PREFIX}{village_code}:"
    income_rows = (
        await conn.execute(
            select(_posting.c.transaction_id, _posting.c.account, _posting.c.amount_fen).where(
                _posting.c.account.startswith(prefix, autoescape=True),
                _posting.c.occurred_at >= start_utc,
                _posting.c.occurred_at < end_utc,
            )
        )
    ).all()
    if not income_rows:
        return []
    transaction_ids = sorted({row.transaction_id for row in income_rows})
    coops: dict[str, set[str]] = {}
    for chunk_start in range(0, len(transaction_ids), 500):
        chunk = transaction_ids[chunk_start : chunk_start + 500]
        rows = await conn.execute(
            select(_posting.c.transaction_id, _posting.c.account).where(
                _posting.c.transaction_id.in_(chunk),
                or_(*(_posting.c.account.startswith(p, autoescape=True) for p in _COOP_ACCOUNT_PREFIXES)),
            )
        )
        for row in rows:
            cooperative_id = _cooperative_of(row.account)
            if cooperative_id:
                coops.setdefault(row.transaction_id, set()).add(cooperative_id)
    sums: dict[tuple[str, str], int] = {}
    for row in income_rows:
        found = coops.get(row.transaction_id, set())
        parsed = posting.parse_collective_income(row.account)
        if len(found) != 1 or parsed is None:
            continue
        key = (next(iter(found)), parsed[1])
        sums[key] = sums.get(key, 0) - int(row.amount_fen)
    return [(coop, category, amount) for (coop, category), amount in sorted(sums.items())]
