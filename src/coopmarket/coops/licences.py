"""Brand licences as the coops slice keeps them: records, decisions, numbers, and which products
are branded today.

Every function here joins the caller's transaction and never commits: the use cases that also need
the catalogue (apply with product ids, grant after the certificate check) are ``brand/service.py``;
a certificate change that leaves a granted licence uncovered suspends it from ``products``. The
rules themselves (transitions, expiry by date) are the pure ``coops/licence_rules.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, Date, Select, and_, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from coopmarket.coops.errors import InvalidTransition, LicenceExpired, LicenceNotFound
from coopmarket.coops.licence_rules import (
    EXPIRABLE,
    LicenceAction,
    LicenceStatus,
    TransitionRefused,
    effective_status,
    licence_number,
    transition,
)
from coopmarket.coops.models import (
    BrandLicence,
    BrandLicenceDecision,
    BrandLicenceProduct,
    BrandLicenceSequence,
    Cooperative,
)
from coopmarket.coops.schemas import LicenceDecisionOut, LicenceRecord, LicenceTerm
from coopmarket.core import clock
from coopmarket.core.errors import FieldError, ValidationFailed
from coopmarket.core.ids import new_id
from coopmarket.core.pagination import decode_cursor, encode_cursor
from coopmarket.core.principal import Principal

Conn = AsyncSession | AsyncConnection

_licence_table = BrandLicence.metadata.tables["brand_licence"]
_covered_table = BrandLicenceProduct.metadata.tables["brand_licence_product"]
_decision_table = BrandLicenceDecision.metadata.tables["brand_licence_decision"]
_sequence_table = BrandLicenceSequence.metadata.tables["brand_licence_sequence"]
L = _licence_table.c
LP = _covered_table.c
LD = _decision_table.c
LS = _sequence_table.c
_cooperative_table = Cooperative.metadata.tables["cooperative"]
C = _cooperative_table.c

# The bind parameter name of "today" in ``branded_product_ids()``: callers pass it at execution.
BRAND_TODAY = "brand_today"


# --- is_branded ------------------------------------------------------------------------------


def branded_product_ids(today: BindParameter[date] | date | None = None) -> Select[tuple[str]]:
    """A sub-select of the ids of products that a granted licence covers on ``today``.

    Without ``today`` it binds ``:brand_today`` (a ``date``), so a cached statement takes the day at
    execution. Use it as ``product.id IN (…)`` both as the ``is_branded`` column and the
    ``branded=true`` filter: it is not correlated, so both databases evaluate it once per statement,
    from ``ix_brand_licence_status_valid_to`` and the primary key of ``brand_licence_product``.
    """
    day: Any = bindparam(BRAND_TODAY, type_=Date) if today is None else today
    return (
        select(LP.product_id)
        .join_from(_covered_table, _licence_table, LP.licence_id == L.id)
        .where(L.status == LicenceStatus.GRANTED, L.valid_to >= day, L.valid_from <= day)
    )


async def is_branded(conn: Conn, product_id: str, today: date) -> bool:
    """Whether a granted licence covers ``product_id`` on ``today``. Joins the caller's transaction."""
    stmt = branded_product_ids(today).where(LP.product_id == product_id).limit(1)
    return (await conn.execute(stmt)).first() is not None


# --- reading licences ------------------------------------------------------------------------

_RECORD_COLUMNS = (
    L.id,
    L.number,
    L.brand,
    L.cooperative_id,
    C.name.label("cooperative_name"),
    C.village_code.label("cooperative_village_code"),
    C.status.label("cooperative_status"),
    L.status,
    L.status_reason,
    L.valid_from,
    L.valid_to,
    L.applied_by,
    L.applied_at,
    L.granted_at,
    L.updated_at,
)


def _records_select() -> Select[Any]:
    return select(*_RECORD_COLUMNS).join_from(_licence_table, _cooperative_table, L.cooperative_id == C.id)


async def _records(conn: Conn, rows: Sequence[Any], today: date) -> list[LicenceRecord]:
    ids = [r.id for r in rows]
    products: dict[str, list[str]] = {i: [] for i in ids}
    decisions: dict[str, list[LicenceDecisionOut]] = {i: [] for i in ids}
    if ids:
        for licence_id, product_id in (
            await conn.execute(
                select(LP.licence_id, LP.product_id).where(LP.licence_id.in_(ids)).order_by(LP.product_id)
            )
        ).all():
            products[licence_id].append(product_id)
        for d in (
            await conn.execute(
                select(
                    LD.licence_id,
                    LD.action,
                    LD.from_status,
                    LD.to_status,
                    LD.reason,
                    LD.actor_id,
                    LD.automatic,
                    LD.at,
                )
                .where(LD.licence_id.in_(ids))
                .order_by(LD.id)
            )
        ).all():
            decisions[d.licence_id].append(
                LicenceDecisionOut(
                    action=d.action,
                    from_status=d.from_status,
                    to_status=d.to_status,
                    reason=d.reason,
                    actor_id=d.actor_id,
                    automatic=bool(d.automatic),
                    at=d.at,
                )
            )
    return [
        LicenceRecord(
            id=r.id,
            number=r.number,
            brand=r.brand,
            cooperative_id=r.cooperative_id,
            cooperative_name=r.cooperative_name,
            cooperative_village_code=r.cooperative_village_code,
            cooperative_status=r.cooperative_status,
            status=effective_status(r.status, r.valid_to, today).value,
            stored_status=r.status,
            status_reason=r.status_reason,
            valid_from=r.valid_from,
            valid_to=r.valid_to,
            applied_by=r.applied_by,
            applied_at=r.applied_at,
            granted_at=r.granted_at,
            updated_at=r.updated_at,
            product_ids=products[r.id],
            decisions=decisions[r.id],
        )
        for r in rows
    ]


def _visible_to(principal: Principal) -> Any:
    """Staff see licences of cooperatives in their region; managers their cooperatives' licences."""
    conditions = []
    if principal.is_staff and principal.region_code:
        conditions.append(C.village_code.startswith(principal.region_code, autoescape=True))
    if principal.cooperative_ids:
        conditions.append(L.cooperative_id.in_(sorted(principal.cooperative_ids)))
    return or_(*conditions) if conditions else None


async def licence_record(
    conn: Conn, licence_id: str, today: date, *, principal: Principal | None = None, for_update: bool = False
) -> LicenceRecord:
    """One licence; 404 ``licence_not_found`` when unknown or (with ``principal``) not theirs to see.
    ``for_update`` locks its row (PostgreSQL; SQLite writes are serialised). Joins the caller's
    transaction."""
    stmt = _records_select().where(L.id == licence_id)
    if principal is not None:
        visible = _visible_to(principal)
        if visible is None:
            raise LicenceNotFound("No such brand licence.")
        stmt = stmt.where(visible)
    if for_update:
        stmt = stmt.with_for_update(of=_licence_table)
    row = (await conn.execute(stmt)).one_or_none()
    if row is None:
        raise LicenceNotFound("No such brand licence.")
    return (await _records(conn, [row], today))[0]


def _status_condition(status: str, today: date) -> Any:
    """SQL for an effective status, agreeing with ``licence_rules.effective_status``."""
    if status == LicenceStatus.EXPIRED:
        return and_(L.status.in_(sorted(EXPIRABLE)), L.valid_to < today)
    if status == LicenceStatus.REVOKED:
        return L.status == LicenceStatus.REVOKED
    return and_(L.status == status, L.valid_to >= today)


async def list_licences(
    conn: Conn,
    principal: Principal,
    *,
    today: date,
    status: str | None = None,
    expiring_within_days: int | None = None,
    cooperative_id: str | None = None,
    limit: int,
    cursor: str | None = None,
) -> tuple[list[LicenceRecord], str | None]:
    """Licences the caller may see. Newest first; with ``expiring_within_days`` only those still
    applied, granted or suspended whose term ends within that many days, soonest first."""
    visible = _visible_to(principal)
    if visible is None:
        return [], None
    stmt = _records_select().where(visible)
    if status is not None:
        stmt = stmt.where(_status_condition(status, today))
    if cooperative_id is not None:
        stmt = stmt.where(L.cooperative_id == cooperative_id)
    if expiring_within_days is not None:
        until = today + timedelta(days=expiring_within_days)
        stmt = stmt.where(L.status.in_(sorted(EXPIRABLE)), L.valid_to >= today, L.valid_to <= until)
        after = decode_cursor(cursor, 3)
        if after is not None:
            if after[0] != "expiring" or not isinstance(after[1], str) or not isinstance(after[2], str):
                raise _invalid_cursor()
            try:
                after_day = date.fromisoformat(after[1])
            except ValueError as exc:
                raise _invalid_cursor() from exc
            stmt = stmt.where(or_(L.valid_to > after_day, and_(L.valid_to == after_day, L.id > after[2])))
        stmt = stmt.order_by(L.valid_to, L.id)
    else:
        after = decode_cursor(cursor, 2)
        if after is not None:
            if after[0] != "newest" or not isinstance(after[1], str):
                raise _invalid_cursor()
            stmt = stmt.where(L.id < after[1])
        stmt = stmt.order_by(L.id.desc())
    rows = (await conn.execute(stmt.limit(limit + 1))).all()
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = (
            encode_cursor(["expiring", last.valid_to.isoformat(), last.id])
            if expiring_within_days is not None
            else encode_cursor(["newest", last.id])
        )
    return await _records(conn, page, today), next_cursor


def _invalid_cursor() -> ValidationFailed:
    return ValidationFailed(
        "The cursor does not fit this listing.",
        code="invalid_cursor",
        errors=[FieldError("cursor", "cursor from another listing or order")],
    )


async def in_force_for_product(conn: Conn, product_id: str, today: date) -> list[LicenceTerm]:
    """Granted licences naming ``product_id`` whose term has not ended (today or later). Joins the
    caller's transaction."""
    rows = (
        await conn.execute(
            select(L.id, L.valid_from, L.valid_to)
            .join_from(_covered_table, _licence_table, LP.licence_id == L.id)
            .where(LP.product_id == product_id, L.status == LicenceStatus.GRANTED, L.valid_to >= today)
            .order_by(L.id)
        )
    ).all()
    return [LicenceTerm(id=r.id, valid_from=r.valid_from, valid_to=r.valid_to) for r in rows]


# --- writing licences ------------------------------------------------------------------------


async def create_application(
    session: AsyncSession,
    *,
    cooperative_id: str,
    product_ids: Sequence[str],
    valid_from: date,
    valid_to: date,
    brand: str,
    actor_id: str,
) -> str:
    """Record an application (status ``applied``) for ``product_ids``, already checked to be the
    cooperative's; returns its id. Joins the caller's transaction."""
    now = clock.now()
    licence_id = new_id()
    await session.execute(
        _licence_table.insert().values(
            id=licence_id,
            number=None,
            brand=brand,
            cooperative_id=cooperative_id,
            valid_from=valid_from,
            valid_to=valid_to,
            status=LicenceStatus.APPLIED.value,
            status_reason=None,
            applied_by=actor_id,
            applied_at=now,
            granted_at=None,
            updated_at=now,
        )
    )
    await session.execute(
        _covered_table.insert(),
        [{"licence_id": licence_id, "product_id": p} for p in sorted(set(product_ids))],
    )
    await _record_decision(
        session, licence_id, LicenceAction.APPLY, None, LicenceStatus.APPLIED, None, actor_id, at=now
    )
    return licence_id


async def _record_decision(
    session: AsyncSession,
    licence_id: str,
    action: LicenceAction,
    from_status: str | None,
    to_status: str,
    reason: str | None,
    actor_id: str,
    *,
    automatic: bool = False,
    at: datetime | None = None,
) -> None:
    await session.execute(
        _decision_table.insert().values(
            id=new_id(),
            licence_id=licence_id,
            action=action.value,
            from_status=from_status,
            to_status=str(to_status),
            reason=reason,
            actor_id=actor_id,
            automatic=automatic,
            at=at or clock.now(),
        )
    )


def check_transition(record: LicenceRecord, action: LicenceAction, today: date) -> LicenceStatus:
    """The stored status ``action`` leads to from ``record``; 409 ``licence_expired`` or
    ``invalid_transition`` otherwise."""
    try:
        return transition(action, record.stored_status, record.valid_to, today)
    except TransitionRefused as refused:
        if refused.expired:
            raise LicenceExpired(f"The licence's term ended on {record.valid_to.isoformat()}.") from None
        raise InvalidTransition(f"Cannot {action} a licence that is {refused.status}.") from None


async def next_number(session: AsyncSession, prefix: str, year: int) -> str:
    """The next number of ``prefix`` and ``year``: one atomic upsert … RETURNING, so concurrent
    grants queue on the counter row and never share a value (rolled back with a refused grant)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(_sequence_table)
        .values(prefix=prefix, year=year, last_value=1)
        .on_conflict_do_update(
            index_elements=[LS.prefix, LS.year], set_={"last_value": _sequence_table.c.last_value + 1}
        )
        .returning(LS.last_value)
    )
    sequence = int((await session.execute(stmt)).scalar_one())
    return licence_number(prefix, year, sequence)


async def _apply(
    session: AsyncSession,
    record: LicenceRecord,
    action: LicenceAction,
    target: LicenceStatus,
    reason: str | None,
    actor_id: str,
    *,
    extra: dict[str, Any] | None = None,
    automatic: bool = False,
) -> None:
    """Move ``record`` to ``target`` if nobody moved it meanwhile (conditional UPDATE), and record
    the decision; 409 ``invalid_transition`` when its status changed."""
    now = clock.now()
    result = await session.execute(
        update(_licence_table)
        .where(L.id == record.id, L.status == record.stored_status)
        .values(status=target.value, status_reason=reason, updated_at=now, **(extra or {}))
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidTransition(f"Cannot {action}: the licence's status changed meanwhile.")
    await _record_decision(
        session,
        record.id,
        action,
        record.stored_status,
        target,
        reason,
        actor_id,
        automatic=automatic,
        at=now,
    )


async def grant(
    session: AsyncSession,
    record: LicenceRecord,
    *,
    reason: str | None,
    actor_id: str,
    prefix: str,
    today: date,
) -> None:
    """Grant (or reinstate) ``record``, checked by the caller (certificates, cooperative). The first
    grant gives the licence its number. Joins the caller's transaction."""
    target = check_transition(record, LicenceAction.GRANT, today)
    extra: dict[str, Any] = {"granted_at": clock.now()}
    if record.number is None:
        extra["number"] = await next_number(session, prefix, today.year)
    await _apply(session, record, LicenceAction.GRANT, target, reason, actor_id, extra=extra)


async def decide(
    session: AsyncSession,
    record: LicenceRecord,
    action: LicenceAction,
    *,
    reason: str | None,
    actor_id: str,
    today: date,
) -> None:
    """Suspend or revoke ``record``. Joins the caller's transaction."""
    target = check_transition(record, action, today)
    await _apply(session, record, action, target, reason, actor_id)


async def suspend_automatically(
    session: AsyncSession, licence_id: str, *, reason: str, actor_id: str
) -> bool:
    """Suspend a granted licence because a certificate change left it uncovered; False when it was
    no longer granted. The decision is recorded as automatic, on behalf of ``actor_id``. Joins the
    caller's transaction."""
    now = clock.now()
    result = await session.execute(
        update(_licence_table)
        .where(L.id == licence_id, L.status == LicenceStatus.GRANTED)
        .values(status=LicenceStatus.SUSPENDED.value, status_reason=reason, updated_at=now)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    await _record_decision(
        session,
        licence_id,
        LicenceAction.SUSPEND,
        LicenceStatus.GRANTED,
        LicenceStatus.SUSPENDED,
        reason,
        actor_id,
        automatic=True,
        at=now,
    )
    return True


# --- licences follow their cooperative's status ----------------------------------------------

COOPERATIVE_SUSPENDED_REASON = "the cooperative is suspended"
COOPERATIVE_REINSTATED_REASON = "the cooperative is reinstated"


async def suspend_with_cooperative(session: AsyncSession, cooperative_id: str, *, actor_id: str) -> list[str]:
    """Suspend every granted licence of a cooperative being suspended, marked so that its
    reinstatement grants them again; returns their ids, sorted. Joins the caller's transaction."""
    now = clock.now()
    ids = sorted(
        r[0]
        for r in (
            await session.execute(
                update(_licence_table)
                .where(L.cooperative_id == cooperative_id, L.status == LicenceStatus.GRANTED)
                .values(
                    status=LicenceStatus.SUSPENDED.value,
                    status_reason=COOPERATIVE_SUSPENDED_REASON,
                    suspended_with_cooperative=True,
                    updated_at=now,
                )
                .returning(L.id)
            )
        ).all()
    )
    for licence_id in ids:
        await _record_decision(
            session,
            licence_id,
            LicenceAction.SUSPEND,
            LicenceStatus.GRANTED,
            LicenceStatus.SUSPENDED,
            COOPERATIVE_SUSPENDED_REASON,
            actor_id,
            automatic=True,
            at=now,
        )
    return ids


async def reinstate_with_cooperative(
    session: AsyncSession, cooperative_id: str, *, actor_id: str, today: date
) -> tuple[list[str], list[str]]:
    """Grant again the licences suspended with a cooperative that is reinstated, those still within
    their term; the others stay suspended (and read as expired). Returns (granted again, left
    suspended), each sorted. Joins the caller's transaction."""
    now = clock.now()
    base = update(_licence_table).where(
        L.cooperative_id == cooperative_id,
        L.status == LicenceStatus.SUSPENDED,
        L.suspended_with_cooperative.is_(True),
    )
    granted = sorted(
        r[0]
        for r in (
            await session.execute(
                base.where(L.valid_to >= today)
                .values(
                    status=LicenceStatus.GRANTED.value,
                    status_reason=COOPERATIVE_REINSTATED_REASON,
                    suspended_with_cooperative=False,
                    updated_at=now,
                )
                .returning(L.id)
            )
        ).all()
    )
    left = sorted(
        r[0]
        for r in (
            await session.execute(
                base.where(L.valid_to < today)
                .values(suspended_with_cooperative=False, updated_at=now)
                .returning(L.id)
            )
        ).all()
    )
    for licence_id in granted:
        await _record_decision(
            session,
            licence_id,
            LicenceAction.GRANT,
            LicenceStatus.SUSPENDED,
            LicenceStatus.GRANTED,
            COOPERATIVE_REINSTATED_REASON,
            actor_id,
            automatic=True,
            at=now,
        )
    return granted, left
