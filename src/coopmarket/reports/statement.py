"""A cooperative's statement: what the platform owes it (``payable:coop:{id}``), from the ledger.

Every figure is read from the ledger's postings over the statement's transactions: those in the
range that move the cooperative's payable, and its settlements. ``other_fen`` is whatever moved
the payable that is none of the named figures (nothing today), so that closing = opening + sales −
fees − collective share − refunds − payouts + other holds by construction, and the closing balance
is the ledger's balance of the payable at the end of the range.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from coopmarket.coops import service as coops_service
from coopmarket.coops.errors import CooperativeNotFound
from coopmarket.coops.schemas import CooperativeBrief
from coopmarket.core.clock import local_days_to_utc
from coopmarket.core.errors import FieldError, ValidationFailed
from coopmarket.core.pagination import decode_cursor, encode_cursor
from coopmarket.core.principal import Principal
from coopmarket.ledger import posting
from coopmarket.ledger import service as ledger_service
from coopmarket.reports.errors import StatementTooLong
from coopmarket.reports.schemas import Statement, StatementLine
from coopmarket.reports.service import check_date_range

Conn = AsyncSession | AsyncConnection
REFUND_KINDS = frozenset({posting.REFUND, posting.REFUND_FAILED})
PAYOUT_KINDS = frozenset({posting.COOP_PAYOUT, posting.COOP_PAYOUT_REVERSAL})
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
MAX_EXPORT_LINES = 500_000  # one CSV/XLSX file; XLSX holds 1,048,576 rows


@dataclass(slots=True)
class Figures:
    sales_fen: int = 0
    fees_fen: int = 0
    collective_share_fen: int = 0
    refunds_fen: int = 0
    payouts_fen: int = 0
    other_fen: int = 0
    payable_change_fen: int = 0


def figures(cooperative_id: str, rows: Iterable[tuple[str, str, int]]) -> Figures:
    """Statement figures of ``(kind, account, amount)`` postings (or sums of them). Pure.

    The payable is a liability: a credit (negative amount) raises what is owed.
    """
    payable = posting.coop_payable(cooperative_id)
    escrow = posting.escrow(cooperative_id)
    out = Figures()
    for kind, account, amount in rows:
        if account == payable:
            out.payable_change_fen -= amount
            if kind in REFUND_KINDS:
                out.refunds_fen += amount
            elif kind in PAYOUT_KINDS:
                out.payouts_fen += amount
        if kind == posting.PART_SETTLED:
            if account == escrow:
                out.sales_fen += amount
            elif account == posting.PLATFORM_FEE:
                out.fees_fen -= amount
            elif account.startswith(posting.COLLECTIVE_INCOME_PREFIX):
                out.collective_share_fen -= amount
    out.other_fen = out.payable_change_fen - (
        out.sales_fen - out.fees_fen - out.collective_share_fen - out.refunds_fen - out.payouts_fen
    )
    return out


async def visible_cooperative(conn: Conn, principal: Principal, cooperative_id: str) -> CooperativeBrief:
    """The cooperative, for its managers and staff whose scope covers its village.

    A buyer answers 403 ``forbidden_role``; anyone else outside (another cooperative's manager,
    staff of another region) 404 ``cooperative_not_found``.
    """
    brief = await coops_service.get_cooperative_brief(conn, cooperative_id)
    if principal.manages(cooperative_id) and brief is not None:
        return brief
    if not principal.is_staff and not principal.cooperative_ids:
        principal.require_staff()  # 403 forbidden_role
    if brief is None or not principal.covers_region(brief.village_code):
        raise CooperativeNotFound("No such cooperative.")
    return brief


def _after(cursor: str | None) -> tuple[datetime, str] | None:
    """The keyset of a statement cursor (another endpoint's cursor is a 422 ``invalid_cursor``)."""
    decoded = decode_cursor(cursor, 2)
    if not decoded:
        return None
    try:
        at = datetime.fromisoformat(str(decoded[0]))
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise ValidationFailed(
            "The cursor is not one this API issued.",
            code="invalid_cursor",
            errors=[FieldError("cursor", "not a statement cursor")],
        )
    return at, str(decoded[1])


def _line(tx: ledger_service.TransactionPostings, cooperative_id: str) -> StatementLine:
    f = figures(cooperative_id, ((tx.kind, account, amount) for account, amount in tx.postings))
    return StatementLine(
        transaction_id=tx.id,
        occurred_at=tx.occurred_at,
        kind=tx.kind,
        order_id=tx.order_id,
        memo=tx.memo,
        sales_fen=f.sales_fen,
        fees_fen=f.fees_fen,
        collective_share_fen=f.collective_share_fen,
        refunds_fen=f.refunds_fen,
        payouts_fen=f.payouts_fen,
        other_fen=f.other_fen,
        payable_change_fen=f.payable_change_fen,
    )


async def statement(
    conn: Conn,
    principal: Principal,
    cooperative_id: str,
    *,
    date_from: date,
    date_to: date,
    timezone: str,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    all_lines: bool = False,
) -> Statement:
    """The statement for local dates ``date_from``..``date_to``; one page of lines (keyset on
    ``(occurred_at, transaction id)``), or every line with ``all_lines`` (the exports)."""
    await visible_cooperative(conn, principal, cooperative_id)
    check_date_range(date_from, date_to)
    start, end = local_days_to_utc(date_from, date_to, timezone)
    payable = posting.coop_payable(cooperative_id)
    escrow = posting.escrow(cooperative_id)
    opening = -await ledger_service.balance_before(conn, payable, start)
    totals = figures(cooperative_id, await ledger_service.statement_sums(conn, cooperative_id, start, end))
    # The ledger's payable at the end of the range: the opening balance and every posting to the
    # payable in the range (read as one sum, so a posting committed meanwhile cannot split them).
    closing = opening + totals.payable_change_fen
    after = _after(cursor)
    size = MAX_EXPORT_LINES if all_lines else limit
    transactions = await ledger_service.statement_transactions(
        conn, cooperative_id, start, end, after=after, limit=size + 1
    )
    if all_lines and len(transactions) > size:
        # Never a silently shortened export: the caller asks for fewer days at a time.
        raise StatementTooLong(
            f"More than {MAX_EXPORT_LINES} lines in this range: export a shorter range at a time.",
            errors=[FieldError("to", f"at most {MAX_EXPORT_LINES} lines per export")],
        )
    next_cursor = None
    if len(transactions) > size:
        transactions = transactions[:size]
        last = transactions[-1]
        next_cursor = encode_cursor([last.occurred_at.isoformat(), last.id])
    return Statement(
        cooperative_id=cooperative_id,
        from_=date_from,
        to=date_to,
        opening_balance_fen=opening,
        sales_fen=totals.sales_fen,
        refunds_fen=totals.refunds_fen,
        fees_fen=totals.fees_fen,
        collective_share_fen=totals.collective_share_fen,
        payouts_fen=totals.payouts_fen,
        other_fen=totals.other_fen,
        closing_balance_fen=closing,
        escrow_opening_fen=-await ledger_service.balance_before(conn, escrow, start),
        escrow_closing_fen=-await ledger_service.balance_before(conn, escrow, end),
        lines=[_line(tx, cooperative_id) for tx in transactions],
        next_cursor=next_cursor,
    )


# --- exports ------------------------------------------------------------------------------------

SUMMARY_FIELDS: tuple[str, ...] = (
    "opening_balance_fen",
    "sales_fen",
    "refunds_fen",
    "fees_fen",
    "collective_share_fen",
    "payouts_fen",
    "other_fen",
    "closing_balance_fen",
    "escrow_opening_fen",
    "escrow_closing_fen",
)
LINE_COLUMNS: tuple[str, ...] = (
    "transaction_id",
    "occurred_at",
    "kind",
    "order_id",
    "memo",
    "sales_fen",
    "fees_fen",
    "collective_share_fen",
    "refunds_fen",
    "payouts_fen",
    "other_fen",
    "payable_change_fen",
)


def _rows(report: Statement) -> list[list[Any]]:
    """The summary (one ``figure, value`` row each), a blank row, then the lines with a header."""
    rows: list[list[Any]] = [["figure", "fen"]]
    rows += [[name, getattr(report, name)] for name in SUMMARY_FIELDS]
    rows.append([])
    rows.append(list(LINE_COLUMNS))
    for line in report.lines:
        values = [getattr(line, name) for name in LINE_COLUMNS]
        values[1] = line.occurred_at.isoformat()
        rows.append(["" if v is None else v for v in values])
    return rows


def filename(report: Statement, extension: str) -> str:
    return f"statement_{report.cooperative_id}_{report.from_.isoformat()}_{report.to.isoformat()}.{extension}"


def _safe(value: Any) -> Any:
    """Text a spreadsheet would read as a formula is quoted (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(report: Statement) -> bytes:
    """UTF-8 CSV with a byte-order mark."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows([[_safe(v) for v in row] for row in _rows(report)])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(report: Statement) -> bytes:
    """One worksheet, written in openpyxl's write-only (constant-memory) mode."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("statement")
    for row in _rows(report):
        sheet.append([_safe(v) for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
