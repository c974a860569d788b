"""Frozen disclosures of a village's figures for a month or quarter, and the public's messages.

A disclosure (村务公开, Village Committee Organization Law Art. 30) freezes, for a closed period:

- the village collective's income by category, from the ledger: the same figures as the
  collective-income report for the period's local dates (``ledger.service.collective_income_rows``);
- the cooperatives' returns to it: the collective's share of platform sales (net of refunds) and
  surplus distributions' collective returns, per cooperative;
- its contracts summary (``villages.arrears.contracts_summary``: persons' names masked).

The figures are serialised canonically (``canonical_bytes``: sorted keys, no whitespace, UTF-8,
integers in fen, dates as ISO strings) and stored as those bytes with their SHA-256
(``content_hash``). The database refuses any UPDATE or DELETE of a disclosure (migration 0019's
triggers), so re-reading gives the same bytes whatever is posted afterwards; a correction is a new
disclosure naming the one it corrects.

Messages: anyone may leave one (rate limited per client address and per disclosure); it is stored
as ``pending`` and shown only once village or street staff in scope approve it. Each decision is
made once and audited.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import msgspec
from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.audit import service as audit
from coopmarket.coops import service as coops_service
from coopmarket.core import clock
from coopmarket.core.errors import FieldError
from coopmarket.core.ids import new_id
from coopmarket.core.pagination import decode_cursor, encode_cursor
from coopmarket.core.principal import STREET_STAFF, VILLAGE_STAFF, Principal
from coopmarket.core.ratelimit import KeyedLimit, keyed_limit
from coopmarket.db import rowcount
from coopmarket.ledger import posting
from coopmarket.ledger import service as ledger_service
from coopmarket.regions import service as regions_service
from coopmarket.reports.errors import (
    DisclosureAlreadyCorrected,
    DisclosureExists,
    DisclosureNotFound,
    InvalidCorrection,
    MessageAlreadyDecided,
    MessageNotFound,
    PeriodNotClosed,
)
from coopmarket.reports.models import Disclosure, DisclosureMessage
from coopmarket.reports.schemas import (
    DisclosureIn,
    DisclosureOut,
    DisclosurePage,
    DisclosureSummary,
    MessageAccepted,
    MessageIn,
    MessageOut,
    MessagePage,
    PublicMessage,
)
from coopmarket.settings import Settings
from coopmarket.villages import access
from coopmarket.villages.arrears import contracts_summary
from coopmarket.villages.errors import VillageNotFound

FIGURES_VERSION = 1
MESSAGES_SHOWN = 100
MODERATORS = (VILLAGE_STAFF, STREET_STAFF)
PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
SURPLUS_RETURN_CATEGORY = "investment_income"

_disclosure = Disclosure.metadata.tables["disclosure"]
_message = DisclosureMessage.metadata.tables["disclosure_message"]
D = _disclosure.c
M = _message.c


# --- periods and canonical bytes ------------------------------------------------------------------


def period_dates(period: str) -> tuple[date, date]:
    """``2026-10`` → 1..31 October 2026; ``2026-Q3`` → 1 July..30 September 2026."""
    year_text, _, part = period.partition("-")
    year = int(year_text)
    if part.startswith("Q"):
        quarter = int(part[1:])
        first_month, months = 3 * quarter - 2, 3
    else:
        first_month, months = int(part), 1
    start = date(year, first_month, 1)
    next_month = first_month + months
    end = date(year + (next_month - 1) // 12, (next_month - 1) % 12 + 1, 1) - timedelta(days=1)
    return start, end


def canonical_bytes(figures: dict[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (not ``\\u`` escapes); only strings, integers, lists and
    objects (a float is refused: amounts are integer fen)."""

    def check(value: Any) -> None:
        if isinstance(value, float):
            raise TypeError("canonical figures carry integers, never floats")
        if isinstance(value, dict):
            for item in value.values():
                check(item)
        elif isinstance(value, list):
            for item in value:
                check(item)

    check(figures)
    return json.dumps(figures, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def content_hash(canonical: bytes) -> str:
    return hashlib.sha256(canonical).hexdigest()


async def compute_figures(
    conn: access.Conn, village_code: str, village_name: str, period: str, *, timezone: str
) -> dict[str, Any]:
    """The figures of ``village_code`` for ``period``, as plain data (see the module docstring)."""
    period_from, period_to = period_dates(period)
    start_utc, end_utc = clock.local_days_to_utc(period_from, period_to, timezone)
    income = dict.fromkeys(posting.INCOME_CATEGORIES, 0)
    for row in await ledger_service.collective_income_rows(conn, start_utc, end_utc):
        if row.village_code == village_code and row.category in income:
            income[row.category] += row.amount_fen
    by_coop: dict[str, dict[str, int]] = {}
    for cooperative_id, category, amount in await ledger_service.collective_income_by_cooperative(
        conn, village_code, start_utc, end_utc
    ):
        sums = by_coop.setdefault(cooperative_id, {"sales_share_fen": 0, "surplus_return_fen": 0})
        if category == SURPLUS_RETURN_CATEGORY:
            sums["surplus_return_fen"] += amount
        else:
            sums["sales_share_fen"] += amount
    briefs = await coops_service.cooperative_briefs(conn, set(by_coop))
    returns = [
        {
            "cooperative_id": cooperative_id,
            "cooperative_name": briefs[cooperative_id].name if cooperative_id in briefs else "",
            "sales_share_fen": sums["sales_share_fen"],
            "surplus_return_fen": sums["surplus_return_fen"],
            "total_fen": sums["sales_share_fen"] + sums["surplus_return_fen"],
        }
        for cooperative_id, sums in sorted(by_coop.items())
    ]
    contracts = msgspec.to_builtins(await contracts_summary(conn, village_code, period_from, period_to))
    return {
        "version": FIGURES_VERSION,
        "village_code": village_code,
        "village_name": village_name,
        "period": period,
        "period_from": period_from.isoformat(),
        "period_to": period_to.isoformat(),
        "income_fen": income,
        "income_total_fen": sum(income.values()),
        "cooperative_returns": returns,
        "cooperative_returns_total_fen": sum(item["total_fen"] for item in returns),
        "contracts": {
            "lines": contracts["lines"],
            "paid_to_date_fen": contracts["paid_to_date_fen"],
            "arrears_fen": contracts["arrears_fen"],
        },
    }


# --- publishing -----------------------------------------------------------------------------------


async def _row(conn: access.Conn, disclosure_id: str) -> Any:
    return (await conn.execute(select(_disclosure).where(D.id == disclosure_id))).one_or_none()


async def _corrected_by(conn: access.Conn, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = await conn.execute(select(D.corrects, D.id).where(D.corrects.in_(ids)))
    return {row.corrects: row.id for row in rows}


async def _approved_messages(conn: access.Conn, disclosure_id: str) -> list[PublicMessage]:
    rows = await conn.execute(
        select(M.id, M.author_name, M.text, M.created_at)
        .where(M.disclosure_id == disclosure_id, M.status == APPROVED)
        .order_by(M.created_at.desc(), M.id.desc())
        .limit(MESSAGES_SHOWN)
    )
    return [PublicMessage(id=r.id, author_name=r.author_name, text=r.text, created_at=r.created_at) for r in rows]


async def _out(conn: access.Conn, row: Any) -> DisclosureOut:
    corrected_by = await _corrected_by(conn, [row.id])
    return DisclosureOut(
        id=row.id,
        village_code=row.village_code,
        period=row.period,
        period_from=row.period_from,
        period_to=row.period_to,
        published_at=row.published_at,
        content_hash=row.content_hash,
        figures=json.loads(bytes(row.canonical)),
        corrects=row.corrects,
        corrected_by=corrected_by.get(row.id),
        messages=await _approved_messages(conn, row.id),
    )


async def publish_disclosure(
    session: AsyncSession,
    *,
    village_code: str,
    period: str,
    published_by: str,
    timezone: str,
    corrects: str | None = None,
    actor: Principal | None = None,
) -> DisclosureOut:
    """Freeze and store the village's figures for ``period`` (no caller check: ``publish`` makes
    it; the demo calls this directly with a staff user's id). Refuses a period not yet ended (422
    ``period_not_closed``), a second original for the same village and period (409
    ``disclosure_exists``), and a correction of another village's or period's disclosure (422
    ``invalid_correction``) or of one already corrected (409 ``disclosure_already_corrected``).
    Joins the caller's transaction; audited as ``disclosure.published``."""
    region = await regions_service.find_region(session, village_code)
    if region is None or region.level != "village":
        raise VillageNotFound(f"No village {village_code}.")
    period_from, period_to = period_dates(period)
    if period_to >= clock.today(timezone):
        raise PeriodNotClosed(
            f"The period {period} has not ended yet: only a closed period is disclosed.",
            errors=[FieldError("period", f"ends on {period_to.isoformat()}")],
        )
    if corrects is not None:
        original = await _row(session, corrects)
        if original is None or original.village_code != village_code or original.period != period:
            raise InvalidCorrection(
                "`corrects` names no disclosure of this village and period.",
                errors=[FieldError("corrects", "not a disclosure of this village and period")],
            )
        corrected_by = (await _corrected_by(session, [corrects])).get(corrects)
        if corrected_by is not None:
            raise DisclosureAlreadyCorrected(
                "This disclosure is already corrected; correct the latest one.",
                extra={"corrected_by": corrected_by},
            )
    else:
        existing = (
            await session.execute(
                select(D.id).where(D.village_code == village_code, D.period == period, D.corrects.is_(None))
            )
        ).scalar_one_or_none()
        if existing is not None:
            raise DisclosureExists(
                f"{village_code} {period} is already published; a change is a correction (`corrects`).",
                extra={"disclosure_id": existing},
            )
    figures = await compute_figures(session, village_code, region.name, period, timezone=timezone)
    canonical = canonical_bytes(figures)
    disclosure_id = new_id()
    values = {
        "id": disclosure_id,
        "village_code": village_code,
        "period": period,
        "period_from": period_from,
        "period_to": period_to,
        "published_at": clock.now(),
        "published_by": published_by,
        "corrects": corrects,
        "content_hash": content_hash(canonical),
        "canonical": canonical,
    }
    try:
        async with session.begin_nested():
            await session.execute(insert(_disclosure).values(values))
    except IntegrityError as exc:  # a concurrent publication won the unique index
        if corrects is not None:
            raise DisclosureAlreadyCorrected("This disclosure is already corrected.") from exc
        raise DisclosureExists(f"{village_code} {period} is already published.") from exc
    await audit.record(
        session,
        actor=actor,
        action="disclosure.published",
        entity="disclosure",
        entity_id=disclosure_id,
        after={
            "village_code": village_code,
            "period": period,
            "content_hash": values["content_hash"],
            "corrects": corrects,
        },
        region_code=village_code,
    )
    row = await _row(session, disclosure_id)
    return await _out(session, row)


async def publish(
    session: AsyncSession, principal: Principal, data: DisclosureIn, *, timezone: str
) -> DisclosureOut:
    """``POST /disclosures``: village, street or district staff whose scope covers the village
    (404 ``village_not_found`` outside it, 403 ``forbidden_role`` for others)."""
    await access.require_village(session, principal, data.village_code)
    return await publish_disclosure(
        session,
        village_code=data.village_code,
        period=data.period,
        published_by=principal.id,
        timezone=timezone,
        corrects=data.corrects,
        actor=principal,
    )


# --- public reads -----------------------------------------------------------------------------------


async def list_disclosures(
    conn: AsyncConnection, village_code: str, *, limit: int, cursor: str | None
) -> DisclosurePage:
    """A village's disclosures, newest first (keyset on ``(published_at, id)``); 404 for a code
    that is not a village."""
    region = await regions_service.find_region(conn, village_code)
    if region is None or region.level != "village":
        raise VillageNotFound(f"No village {village_code}.")
    stmt = select(
        D.id, D.village_code, D.period, D.period_from, D.period_to, D.published_at, D.content_hash, D.corrects
    ).where(D.village_code == village_code)
    decoded = decode_cursor(cursor, 2)
    if decoded:
        last = await _row(conn, str(decoded[1]))
        if last is not None:
            stmt = stmt.where(
                or_(D.published_at < last.published_at, and_(D.published_at == last.published_at, D.id < last.id))
            )
    rows = (await conn.execute(stmt.order_by(D.published_at.desc(), D.id.desc()).limit(limit + 1))).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor([rows[-1].published_at.isoformat(), rows[-1].id])
    corrected_by = await _corrected_by(conn, [row.id for row in rows])
    return DisclosurePage(
        items=[
            DisclosureSummary(
                id=row.id,
                village_code=row.village_code,
                period=row.period,
                period_from=row.period_from,
                period_to=row.period_to,
                published_at=row.published_at,
                content_hash=row.content_hash,
                corrects=row.corrects,
                corrected_by=corrected_by.get(row.id),
            )
            for row in rows
        ],
        next_cursor=next_cursor,
    )


async def read_disclosure(conn: AsyncConnection, disclosure_id: str) -> DisclosureOut:
    row = await _row(conn, disclosure_id)
    if row is None:
        raise DisclosureNotFound("No such disclosure.")
    return await _out(conn, row)


async def read_canonical(conn: AsyncConnection, disclosure_id: str) -> tuple[bytes, str]:
    """The stored bytes and their hash, exactly as published."""
    row = (
        await conn.execute(select(D.canonical, D.content_hash).where(D.id == disclosure_id))
    ).one_or_none()
    if row is None:
        raise DisclosureNotFound("No such disclosure.")
    return bytes(row.canonical), row.content_hash


# --- messages ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageLimits:
    """Messages per client address and per disclosure in each window (settings ``rate_limit_disclosure_*``)."""

    per_client: KeyedLimit
    per_disclosure: KeyedLimit

    async def aclose(self) -> None:
        await self.per_client.aclose()
        await self.per_disclosure.aclose()


def message_limits(settings: Settings) -> MessageLimits:
    window = settings.rate_limit_disclosure_message_window_seconds
    return MessageLimits(
        per_client=keyed_limit(
            settings,
            "disclosure_message_client",
            limit=settings.rate_limit_disclosure_messages_per_client,
            window_seconds=window,
        ),
        per_disclosure=keyed_limit(
            settings,
            "disclosure_message_disclosure",
            limit=settings.rate_limit_disclosure_messages_per_disclosure,
            window_seconds=window,
        ),
    )


async def post_message(
    session: AsyncSession, limits: MessageLimits, client: str, disclosure_id: str, data: MessageIn
) -> MessageAccepted:
    """Store a message as pending. Counts the client first (every attempt), then the disclosure
    (429 ``rate_limited`` over either); 404 ``disclosure_not_found`` for an unknown id."""
    await limits.per_client.hit(f"client:{client}", detail="Too many messages from this address")
    exists = (await session.execute(select(D.id).where(D.id == disclosure_id))).scalar_one_or_none()
    if exists is None:
        raise DisclosureNotFound("No such disclosure.")
    await limits.per_disclosure.hit(f"disclosure:{disclosure_id}", detail="Too many messages on this disclosure")
    message_id = new_id()
    await session.execute(
        insert(_message).values(
            id=message_id,
            disclosure_id=disclosure_id,
            author_name=data.author_name.strip(),
            text=data.text.strip(),
            status=PENDING,
            created_at=clock.now(),
        )
    )
    return MessageAccepted(id=message_id, disclosure_id=disclosure_id, status=PENDING)


_MESSAGE_COLUMNS = (
    M.id,
    M.disclosure_id,
    D.village_code,
    M.author_name,
    M.text,
    M.status,
    M.created_at,
    M.decided_at,
    M.reject_reason,
)


def _message_out(row: Any) -> MessageOut:
    return MessageOut(
        id=row.id,
        disclosure_id=row.disclosure_id,
        village_code=row.village_code,
        author_name=row.author_name,
        text=row.text,
        status=row.status,
        created_at=row.created_at,
        decided_at=row.decided_at,
        reject_reason=row.reject_reason,
    )


async def _load_message(conn: access.Conn, message_id: str) -> Any:
    return (
        await conn.execute(
            select(*_MESSAGE_COLUMNS)
            .select_from(_message.join(_disclosure, D.id == M.disclosure_id))
            .where(M.id == message_id)
        )
    ).one_or_none()


async def decide_message(
    session: AsyncSession, principal: Principal, message_id: str, *, approve: bool, reason: str | None = None
) -> MessageOut:
    """Approve or reject (with a reason) a pending message: village or street staff whose scope
    covers its village (404 ``disclosure_message_not_found`` outside it, 403 for other roles); a
    decided message is 409 ``message_already_decided``. Audited."""
    principal.require_staff()
    row = await _load_message(session, message_id)
    if row is None or not principal.covers_region(row.village_code):
        raise MessageNotFound("No such message in your scope.")
    principal.require_role(*MODERATORS)
    status = APPROVED if approve else REJECTED
    now = clock.now()
    result = await session.execute(
        update(_message)
        .where(M.id == message_id, M.status == PENDING)
        .values(status=status, decided_by=principal.id, decided_at=now, reject_reason=reason)
    )
    if rowcount(result) != 1:
        raise MessageAlreadyDecided(
            f"This message is already {row.status}.", extra={"message_status": row.status}
        )
    await audit.record(
        session,
        actor=principal,
        action=f"disclosure_message.{status}",
        entity="disclosure_message",
        entity_id=message_id,
        before={"status": PENDING},
        after={"status": status, "disclosure_id": row.disclosure_id},
        reason=reason,
        region_code=row.village_code,
    )
    return _message_out(await _load_message(session, message_id))


async def list_messages(
    conn: AsyncConnection,
    principal: Principal,
    *,
    region_code: str | None,
    status: str,
    limit: int,
    cursor: str | None,
) -> MessagePage:
    """Messages on the disclosures of villages under ``region_code`` (default: the caller's
    region), oldest first: the moderation queue (``status=pending``) for staff in scope (404
    ``region_not_found`` outside it; 403 for others)."""
    code = await access.require_region(conn, principal, region_code)
    stmt = (
        select(*_MESSAGE_COLUMNS)
        .select_from(_message.join(_disclosure, D.id == M.disclosure_id))
        .where(D.village_code.startswith(code, autoescape=True), M.status == status)
    )
    decoded = decode_cursor(cursor, 1)
    if decoded:
        stmt = stmt.where(M.id > str(decoded[0]))
    rows = (await conn.execute(stmt.order_by(M.id).limit(limit + 1))).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor([rows[-1].id])
    return MessagePage(items=[_message_out(row) for row in rows], next_cursor=next_cursor)
