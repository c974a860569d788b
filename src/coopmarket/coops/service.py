"""Cooperatives: registration, approval, members."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from msgspec import UNSET
from sqlalchemy import Select, bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlmodel.ext.asyncio.session import AsyncSession as UnitOfWork

from coopmarket.accounts import service as accounts_service
from coopmarket.audit import service as audit
from coopmarket.coops import capital, id_number, licences, uscc
from coopmarket.coops.errors import (
    CollectiveMemberExists,
    CooperativeNotEditable,
    CooperativeNotFound,
    InvalidIdNumber,
    InvalidTransition,
    MemberNotFound,
    UsccTaken,
)
from coopmarket.coops.models import (
    Cooperative,
    CooperativeManager,
    CooperativeMember,
    CooperativeStatusEvent,
    MemberCapitalChange,
)
from coopmarket.coops.schemas import (
    CapitalChangeOut,
    Charter,
    CooperativeBrief,
    CooperativeIn,
    CooperativeList,
    CooperativeOut,
    CooperativePatch,
    MemberIn,
    MemberList,
    MemberOut,
    MemberPatch,
)
from coopmarket.core import clock
from coopmarket.core.errors import FieldError, PermissionDenied, RuleViolated, ValidationFailed
from coopmarket.core.pagination import DEFAULT_LIMIT, decode_cursor, encode_cursor
from coopmarket.core.phone import mask_phone
from coopmarket.core.principal import DISTRICT_STAFF, STREET_STAFF, Principal
from coopmarket.db import fetch_all, rowcount
from coopmarket.regions import service as regions_service

PENDING = "pending"
APPROVED = "approved"
REJECTED = "rejected"
SUSPENDED = "suspended"
EDITABLE_STATUSES = (PENDING, APPROVED)
VILLAGE_COLLECTIVE = "village_collective"
MIN_PATRONAGE_RETURN_BPS = 6000  # Farmers' Professional Cooperatives Law Art. 44: at least 60%
NOT_COOPERATIVE_CATEGORY = "uscc_not_cooperative_category"

# action -> (from status, to status); the only transitions there are.
TRANSITIONS: dict[str, tuple[str, str]] = {
    "approve": (PENDING, APPROVED),
    "reject": (PENDING, REJECTED),
    "suspend": (APPROVED, SUSPENDED),
    "reinstate": (SUSPENDED, APPROVED),
}
REASON_REQUIRED = frozenset({"reject", "suspend"})

# Core columns (typed for mypy); the ORM classes are used where rows are written.
_cooperative_table = Cooperative.metadata.tables["cooperative"]
C = _cooperative_table.c
MG = CooperativeManager.metadata.tables["cooperative_manager"].c
MB = CooperativeMember.metadata.tables["cooperative_member"].c
CC = MemberCapitalChange.metadata.tables["member_capital_change"].c

_BRIEF_COLUMNS = (
    C.id,
    C.name,
    C.village_code,
    C.status,
    C.collective_sales_share_bps,
)
_COLUMNS = (
    C.id,
    C.name,
    C.uscc,
    C.village_code,
    C.party_organization,
    C.chairperson,
    C.founded_on,
    C.reserve_rate_bps,
    C.patronage_return_bps,
    C.collective_sales_share_bps,
    C.member_capital_cap_bps,
    C.status,
    C.status_reason,
    C.created_at,
    C.updated_at,
    C.contact_phone,
    C.business_scope,
    C.legal_representative,
    C.registered_address,
    C.administrative_licences,
    C.identity_verified_on,
    C.reverify_due_on,
)
# Seller identity (E-commerce Law Art. 27) is verified again at least this often.
REVERIFY_INTERVAL_DAYS = 180
_IDENTITY_FIELDS = ("legal_representative", "registered_address", "administrative_licences")
_OPTIONAL_FIELDS = ("contact_phone", "business_scope", *_IDENTITY_FIELDS)

Conn = AsyncSession | AsyncConnection


# --- contracts other slices call -------------------------------------------------------------


async def managed_cooperative_ids(conn: Conn, user_id: str) -> list[str]:
    """Ids of the cooperatives ``user_id`` manages, sorted. Joins the caller's transaction."""
    rows = await conn.execute(
        select(MG.cooperative_id).where(MG.user_id == user_id).order_by(MG.cooperative_id)
    )
    return [r[0] for r in rows.all()]


def _brief(row: Any) -> CooperativeBrief:
    return CooperativeBrief(
        id=row.id,
        name=row.name,
        village_code=row.village_code,
        status=row.status,
        collective_sales_share_bps=row.collective_sales_share_bps,
    )


async def get_cooperative_brief(conn: Conn, cooperative_id: str) -> CooperativeBrief | None:
    """The brief of one cooperative, or ``None``. Joins the caller's transaction."""
    row = (await conn.execute(select(*_BRIEF_COLUMNS).where(C.id == cooperative_id))).one_or_none()
    return _brief(row) if row is not None else None


_BRIEFS_BY_ID = select(*_BRIEF_COLUMNS).where(C.id.in_(bindparam("cooperative_ids", expanding=True)))


async def cooperative_briefs(
    conn: Conn, cooperative_ids: list[str] | set[str]
) -> dict[str, CooperativeBrief]:
    """Briefs by id for the given ids (unknown ids are absent). Joins the caller's transaction."""
    if not cooperative_ids:
        return {}
    rows = await fetch_all(conn, _BRIEFS_BY_ID, {"cooperative_ids": sorted(cooperative_ids)})
    return {
        r[0]: CooperativeBrief(
            id=r[0], name=r[1], village_code=r[2], status=r[3], collective_sales_share_bps=r[4]
        )
        for r in rows
    }


async def member_cooperative_id(conn: Conn, member_id: str) -> str | None:
    """The cooperative ``member_id`` belongs to, or ``None`` for an unknown member. Joins the
    caller's transaction."""
    return (await conn.execute(select(MB.cooperative_id).where(MB.id == member_id))).scalar_one_or_none()


def approved_cooperative_ids() -> Select[tuple[str]]:
    """A sub-select of approved cooperatives' ids, for other slices' public queries."""
    return select(C.id).where(C.status == APPROVED)


# --- shaping and visibility ------------------------------------------------------------------


def _out(
    row: Any, village_name: str | None, *, full: bool, warnings: list[str] | None = None
) -> CooperativeOut:
    out = CooperativeOut(
        id=row.id,
        name=row.name,
        village_code=row.village_code,
        village_name=village_name,
        party_organization=row.party_organization,
        status=row.status,
        founded_on=row.founded_on,
        charter=Charter(
            reserve_rate_bps=row.reserve_rate_bps,
            patronage_return_bps=row.patronage_return_bps,
            collective_sales_share_bps=row.collective_sales_share_bps,
            member_capital_cap_bps=row.member_capital_cap_bps,
        ),
        contact_phone_masked=mask_phone(row.contact_phone),
        business_scope=row.business_scope,
    )
    if full:
        out.contact_phone = row.contact_phone
        out.legal_representative = row.legal_representative
        out.registered_address = row.registered_address
        out.administrative_licences = row.administrative_licences
        out.identity_verified_on = row.identity_verified_on
        out.reverify_due_on = row.reverify_due_on
        out.uscc = row.uscc
        out.chairperson = row.chairperson
        out.status_reason = row.status_reason
        out.created_at = row.created_at
        out.updated_at = row.updated_at
    if warnings is not None:
        out.warnings = warnings
    return out


async def _is_manager(conn: Conn, user_id: str, cooperative_id: str) -> bool:
    row = (
        await conn.execute(
            select(MG.user_id).where(MG.cooperative_id == cooperative_id, MG.user_id == user_id)
        )
    ).first()
    return row is not None


async def _sees_everything(
    conn: Conn, principal: Principal | None, cooperative_id: str, village_code: str
) -> bool:
    """Its managers and staff whose scope covers its village see every field and every status."""
    if principal is None:
        return False
    return principal.covers_region(village_code) or await _is_manager(conn, principal.id, cooperative_id)


async def _row(conn: Conn, cooperative_id: str) -> Any:
    return (await conn.execute(select(*_COLUMNS).where(C.id == cooperative_id))).one_or_none()


async def _full_out(conn: Conn, cooperative_id: str, warnings: list[str] | None = None) -> CooperativeOut:
    row = await _row(conn, cooperative_id)
    if row is None:
        raise CooperativeNotFound("No such cooperative.")
    names = await regions_service.region_names(conn, [row.village_code])
    return _out(row, names.get(row.village_code), full=True, warnings=warnings)


async def _require_manager(conn: Conn, principal: Principal, cooperative_id: str) -> None:
    """Only its managers act for a cooperative; to anyone else it answers 404."""
    if not await _is_manager(conn, principal.id, cooperative_id):
        raise CooperativeNotFound("No such cooperative.")


def _check_patronage(value: int) -> None:
    if value < MIN_PATRONAGE_RETURN_BPS:
        raise RuleViolated(
            "At least 60% of distributable surplus is returned by transaction volume "
            "(Farmers' Professional Cooperatives Law, Art. 44).",
            code="patronage_return_below_minimum",
            errors=[
                FieldError("charter.patronage_return_bps", f"must be at least {MIN_PATRONAGE_RETURN_BPS}")
            ],
        )


def _required_text(value: str, field: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValidationFailed(f"{field} may not be blank.", errors=[FieldError(field, "blank")])
    return stripped


def _optional_text(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


# --- cooperatives ----------------------------------------------------------------------------


async def register_cooperative(
    session: UnitOfWork, principal: Principal, data: CooperativeIn
) -> CooperativeOut:
    """Register a cooperative as pending; the caller becomes its manager.

    Staff approve cooperatives, so they may not run one (separation of duties): 403.
    """
    if principal.is_staff:
        raise PermissionDenied("Staff approve cooperatives and may not register one.", code="forbidden_role")
    code = uscc.normalise(data.uscc)
    if not uscc.is_valid(code):
        raise ValidationFailed(
            "The unified social credit code is not valid (GB 32100-2015).",
            code="invalid_uscc",
            errors=[FieldError("uscc", "not a valid unified social credit code")],
        )
    warnings = [] if uscc.is_cooperative(code) else [NOT_COOPERATIVE_CATEGORY]
    region = await regions_service.find_region(session, data.village_code)
    if region is None or region.level != "village":
        raise ValidationFailed(
            "A cooperative belongs to a village-level region of the district.",
            code="invalid_region",
            errors=[FieldError("village_code", "not a village-level region code")],
        )
    _check_patronage(data.charter.patronage_return_bps)
    cooperative = Cooperative(
        name=_required_text(data.name, "name"),
        uscc=code,
        village_code=region.code,
        party_organization=_required_text(data.party_organization, "party_organization"),
        chairperson=_required_text(data.chairperson, "chairperson"),
        founded_on=data.founded_on,
        reserve_rate_bps=data.charter.reserve_rate_bps,
        patronage_return_bps=data.charter.patronage_return_bps,
        collective_sales_share_bps=data.charter.collective_sales_share_bps,
        member_capital_cap_bps=data.charter.member_capital_cap_bps,
        status=PENDING,
        created_by=principal.id,
        contact_phone=data.contact_phone,
        business_scope=_optional_text(data.business_scope),
        legal_representative=_optional_text(data.legal_representative),
        registered_address=_optional_text(data.registered_address),
        administrative_licences=_optional_text(data.administrative_licences),
    )
    session.add(cooperative)
    try:
        await session.flush()  # the unique constraint on uscc decides a race, not a prior SELECT
    except IntegrityError as exc:
        raise UsccTaken("A cooperative with this unified social credit code is already registered.") from exc
    session.add(CooperativeManager(cooperative_id=cooperative.id, user_id=principal.id))
    session.add(
        CooperativeStatusEvent(
            cooperative_id=cooperative.id, from_status=None, to_status=PENDING, actor_id=principal.id
        )
    )
    await accounts_service.promote_to_manager(session, principal.id)
    await audit.record(
        session,
        actor=principal,
        action="cooperative.registered",
        entity="cooperative",
        entity_id=cooperative.id,
        after=_audited_fields(
            {c: getattr(cooperative, c) for c in ("name", "uscc", "village_code", "status", *_AUDITED_FIELDS)}
        ),
        region_code=region.code,
        cooperative_id=cooperative.id,
    )
    return _out(cooperative, region.name, full=True, warnings=warnings)


# What an edit may change, as the audit log keeps it (the contact phone masked: street staff read it).
_AUDITED_FIELDS = (
    "party_organization",
    "chairperson",
    "founded_on",
    *_OPTIONAL_FIELDS,
    "reverify_due_on",
    "patronage_return_bps",
    "reserve_rate_bps",
    "collective_sales_share_bps",
    "member_capital_cap_bps",
)


def _audited_fields(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    if "contact_phone" in out:
        out["contact_phone"] = mask_phone(out["contact_phone"])
    return out


async def list_cooperatives(
    conn: Conn,
    principal: Principal | None,
    *,
    status: str | None = None,
    region_code: str | None = None,
    q: str | None = None,
    reverification_due_on: date | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> CooperativeList:
    """Cooperatives the caller may see, newest first: approved ones, plus staff scope and own ones."""
    after = decode_cursor(cursor, 1)
    managed: set[str] = set()
    visible = [C.status == APPROVED]
    if principal is not None:
        managed = set(await managed_cooperative_ids(conn, principal.id))
        if managed:
            visible.append(C.id.in_(sorted(managed)))
        if principal.is_staff and principal.region_code:
            visible.append(C.village_code.startswith(principal.region_code, autoescape=True))
    stmt = select(*_COLUMNS).where(or_(*visible))
    if status is not None:
        stmt = stmt.where(C.status == status)
    if region_code:
        stmt = stmt.where(C.village_code.startswith(region_code, autoescape=True))
    if q and q.strip():
        stmt = stmt.where(C.name.icontains(q.strip(), autoescape=True))
    if reverification_due_on is not None:
        # Staff only: approved or suspended sellers whose identity is due for verification.
        if principal is None or not principal.is_staff:
            raise PermissionDenied("Staff list cooperatives due for re-verification.", code="forbidden_role")
        stmt = stmt.where(
            C.status.in_((APPROVED, SUSPENDED)),
            or_(C.reverify_due_on.is_(None), C.reverify_due_on <= reverification_due_on),
            C.village_code.startswith(principal.region_code or "", autoescape=True),
        )
    if after is not None:
        stmt = stmt.where(C.id < str(after[0]))
    rows = (await conn.execute(stmt.order_by(C.id.desc()).limit(limit + 1))).all()
    page = rows[:limit]
    names = await regions_service.region_names(conn, sorted({r.village_code for r in page}))
    items = [
        _out(
            r,
            names.get(r.village_code),
            full=r.id in managed or (principal is not None and principal.covers_region(r.village_code)),
        )
        for r in page
    ]
    next_cursor = encode_cursor([page[-1].id]) if len(rows) > limit else None
    return CooperativeList(items=items, next_cursor=next_cursor)


async def get_cooperative(conn: Conn, principal: Principal | None, cooperative_id: str) -> CooperativeOut:
    """One cooperative: public fields when approved; everything for its managers and staff in scope."""
    row = await _row(conn, cooperative_id)
    if row is None:
        raise CooperativeNotFound("No such cooperative.")
    full = await _sees_everything(conn, principal, row.id, row.village_code)
    if not full and row.status != APPROVED:
        raise CooperativeNotFound("No such cooperative.")
    names = await regions_service.region_names(conn, [row.village_code])
    return _out(row, names.get(row.village_code), full=full)


async def update_cooperative(
    session: UnitOfWork, principal: Principal, cooperative_id: str, data: CooperativePatch, *, today: date
) -> CooperativeOut:
    """Its manager edits name, party organisation, chairperson and charter while pending or approved."""
    await _require_manager(session, principal, cooperative_id)
    values: dict[str, Any] = {"updated_at": clock.now()}
    if data.name is not UNSET:
        values["name"] = _required_text(data.name, "name")
    if data.party_organization is not UNSET:
        values["party_organization"] = _required_text(data.party_organization, "party_organization")
    if data.chairperson is not UNSET:
        values["chairperson"] = _required_text(data.chairperson, "chairperson")
    for field in _OPTIONAL_FIELDS:
        value = getattr(data, field)
        if value is not UNSET:
            values[field] = _optional_text(value)
    if any(getattr(data, f) is not UNSET for f in _IDENTITY_FIELDS):
        # Changed seller identity is due for verification again at once (Art. 27).
        values["reverify_due_on"] = today
    if data.charter is not UNSET:
        charter = data.charter
        if charter.patronage_return_bps is not UNSET:
            _check_patronage(charter.patronage_return_bps)
            values["patronage_return_bps"] = charter.patronage_return_bps
        if charter.reserve_rate_bps is not UNSET:
            values["reserve_rate_bps"] = charter.reserve_rate_bps
        if charter.collective_sales_share_bps is not UNSET:
            values["collective_sales_share_bps"] = charter.collective_sales_share_bps
        if charter.member_capital_cap_bps is not UNSET:
            values["member_capital_cap_bps"] = charter.member_capital_cap_bps
    before = await _row(session, cooperative_id)
    # Conditional on the status, so an edit cannot land after a concurrent suspension.
    result = await session.execute(
        update(_cooperative_table)
        .where(C.id == cooperative_id, C.status.in_(EDITABLE_STATUSES))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        raise CooperativeNotEditable("Only a pending or approved cooperative can be edited.")
    changed = [f for f in values if f != "updated_at" and getattr(before, f) != values[f]]
    if changed:
        await audit.record(
            session,
            actor=principal,
            action="cooperative.updated",
            entity="cooperative",
            entity_id=cooperative_id,
            before=_audited_fields({f: getattr(before, f) for f in changed}),
            after=_audited_fields({f: values[f] for f in changed}),
            region_code=before.village_code,
            cooperative_id=cooperative_id,
        )
    return await _full_out(session, cooperative_id)


def _verified(action: str, today: date) -> dict[str, date]:
    """An approval or a reinstatement verifies the seller identity (E-commerce Law Art. 27)."""
    if action not in ("approve", "reinstate"):
        return {}
    return {"identity_verified_on": today, "reverify_due_on": today + timedelta(days=REVERIFY_INTERVAL_DAYS)}


async def verify_identity(
    session: UnitOfWork, principal: Principal, cooperative_id: str, *, today: date
) -> CooperativeOut:
    """Staff in scope record that they verified the seller identity again; the next verification is
    due in ``REVERIFY_INTERVAL_DAYS``. Audited."""
    principal.require_role(DISTRICT_STAFF, STREET_STAFF)
    row = await _row(session, cooperative_id)
    if row is None or not principal.covers_region(row.village_code):
        raise CooperativeNotFound("No such cooperative.")
    if row.status not in (APPROVED, SUSPENDED):
        raise InvalidTransition(f"A cooperative that is {row.status} is not verified as a seller.")
    values = _verified("approve", today)
    await session.execute(
        update(_cooperative_table)
        .where(C.id == cooperative_id)
        .values(updated_at=clock.now(), **values)
        .execution_options(synchronize_session=False)
    )
    await audit.record(
        session,
        actor=principal,
        action="cooperative.verify_identity",
        entity="cooperative",
        entity_id=cooperative_id,
        before={
            "identity_verified_on": row.identity_verified_on,
            "reverify_due_on": row.reverify_due_on,
        },
        after=dict(values),
        region_code=row.village_code,
        cooperative_id=cooperative_id,
    )
    return await _full_out(session, cooperative_id)


async def decide(
    session: UnitOfWork,
    principal: Principal,
    cooperative_id: str,
    action: str,
    reason: str | None,
    *,
    today: date,
) -> CooperativeOut:
    """Approve, reject, suspend or reinstate: district staff, or street staff for their street.

    The consequences land in the same transaction: a suspension suspends the cooperative's granted
    brand licences (its products leave the catalogue and its unpaid orders cannot be paid because
    those read the cooperative's status); a reinstatement grants again those still within their
    term. The decision and its consequences are one audit entry.
    """
    principal.require_role(DISTRICT_STAFF, STREET_STAFF)
    source, target = TRANSITIONS[action]
    reason = reason.strip() if reason and reason.strip() else None
    if reason is None and action in REASON_REQUIRED:
        raise ValidationFailed(
            f"A reason is required to {action} a cooperative.",
            code="reason_required",
            errors=[FieldError("reason", "required")],
        )
    row = (
        await session.execute(select(C.status, C.village_code, C.created_by).where(C.id == cooperative_id))
    ).one_or_none()
    if row is None or not principal.covers_region(row.village_code):
        raise CooperativeNotFound("No such cooperative.")
    if row.created_by == principal.id or await _is_manager(session, principal.id, cooperative_id):
        # Nobody decides on a cooperative they applied for or run.
        raise PermissionDenied("You may not decide on your own cooperative.", code="own_cooperative")
    if row.status != source:
        raise InvalidTransition(f"Cannot {action} a cooperative that is {row.status}.")
    # Two concurrent decisions: only one UPDATE finds the status it expects.
    result = await session.execute(
        update(_cooperative_table)
        .where(C.id == cooperative_id, C.status == source)
        .values(status=target, status_reason=reason, updated_at=clock.now(), **_verified(action, today))
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        raise InvalidTransition(f"Cannot {action}: the cooperative's status changed meanwhile.")
    session.add(
        CooperativeStatusEvent(
            cooperative_id=cooperative_id,
            from_status=source,
            to_status=target,
            reason=reason,
            actor_id=principal.id,
        )
    )
    after: dict[str, Any] = {"status": target}
    if action == "suspend":
        after["licences_suspended"] = await licences.suspend_with_cooperative(
            session, cooperative_id, actor_id=principal.id
        )
    elif action == "reinstate":
        granted, left = await licences.reinstate_with_cooperative(
            session, cooperative_id, actor_id=principal.id, today=today
        )
        after["licences_granted_again"] = granted
        after["licences_left_suspended"] = left
    await audit.record(
        session,
        actor=principal,
        action=f"cooperative.{action}",
        entity="cooperative",
        entity_id=cooperative_id,
        before={"status": source},
        after=after,
        reason=reason,
        region_code=row.village_code,
        cooperative_id=cooperative_id,
    )
    return await _full_out(session, cooperative_id)


# --- members ---------------------------------------------------------------------------------


async def _histories(conn: Conn, member_ids: list[str]) -> dict[str, list[CapitalChangeOut]]:
    out: dict[str, list[CapitalChangeOut]] = {m: [] for m in member_ids}
    if not member_ids:
        return out
    rows = (
        await conn.execute(
            select(
                CC.member_id,
                CC.old_capital_fen,
                CC.new_capital_fen,
                CC.changed_by,
                CC.changed_at,
                CC.delta_fen,
                CC.reason,
                CC.id,
            )
            .where(CC.member_id.in_(member_ids))
            .order_by(CC.id)
        )
    ).all()
    for r in rows:
        out[r.member_id].append(
            CapitalChangeOut(
                old_capital_fen=r.old_capital_fen,
                new_capital_fen=r.new_capital_fen,
                changed_by=r.changed_by,
                changed_at=r.changed_at,
                delta_fen=r.delta_fen,
                reason=r.reason,
                id=r.id,
            )
        )
    return out


def _member_out(row: Any, history: list[CapitalChangeOut], *, unmasked: bool) -> MemberOut:
    """``unmasked``: the caller manages the member's cooperative and may read its ID number."""
    return MemberOut(
        id=row.id,
        cooperative_id=row.cooperative_id,
        name=row.name,
        kind=row.kind,
        capital_fen=row.capital_fen,
        created_at=row.created_at,
        capital_history=history,
        id_number=row.id_number if unmasked else None,
        id_number_masked=id_number.mask(row.id_number),
    )


_MEMBER_COLUMNS = (MB.id, MB.cooperative_id, MB.name, MB.kind, MB.capital_fen, MB.id_number, MB.created_at)


async def _member(conn: Conn, cooperative_id: str, member_id: str) -> MemberOut:
    """One member as its managers see it."""
    row = (
        await conn.execute(
            select(*_MEMBER_COLUMNS).where(MB.id == member_id, MB.cooperative_id == cooperative_id)
        )
    ).one_or_none()
    if row is None:
        raise MemberNotFound("No such member.")
    return _member_out(row, (await _histories(conn, [row.id]))[row.id], unmasked=True)


def _checked_id_number(value: str | None) -> str | None:
    if value is None:
        return None
    normalised = id_number.normalise(value)
    if not id_number.is_valid(normalised):
        raise InvalidIdNumber(
            "The ID number is not valid (GB 11643: date of birth or check character).",
            errors=[FieldError("id_number", "not a valid resident identity card number")],
        )
    return normalised


def _member_audit(name: str, kind: str, id_number_value: str | None) -> dict[str, Any]:
    """What the audit log keeps of a member: staff read it, so the ID number is masked."""
    return {"name": name, "kind": kind, "id_number": id_number.mask(id_number_value)}


async def list_members(
    conn: Conn,
    principal: Principal,
    cooperative_id: str,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> MemberList:
    """Members with their capital and its history, oldest first: its managers and staff in scope."""
    after = decode_cursor(cursor, 1)
    village = (await conn.execute(select(C.village_code).where(C.id == cooperative_id))).scalar_one_or_none()
    if village is None or not await _sees_everything(conn, principal, cooperative_id, village):
        raise CooperativeNotFound("No such cooperative.")
    stmt = select(*_MEMBER_COLUMNS).where(MB.cooperative_id == cooperative_id)
    if after is not None:
        stmt = stmt.where(MB.id > str(after[0]))
    rows = (await conn.execute(stmt.order_by(MB.id).limit(limit + 1))).all()
    page = rows[:limit]
    histories = await _histories(conn, [r.id for r in page])
    unmasked = await _is_manager(conn, principal.id, cooperative_id)
    return MemberList(
        items=[_member_out(r, histories[r.id], unmasked=unmasked) for r in page],
        next_cursor=encode_cursor([page[-1].id]) if len(rows) > limit else None,
    )


async def add_member(
    session: UnitOfWork, principal: Principal, cooperative_id: str, data: MemberIn
) -> MemberOut:
    """Its manager adds a member; a cooperative has at most one village collective member."""
    await _require_manager(session, principal, cooperative_id)
    member = CooperativeMember(
        cooperative_id=cooperative_id,
        name=_required_text(data.name, "name"),
        kind=data.kind,
        capital_fen=0,  # the opening capital entry below brings it to data.capital_fen
        id_number=_checked_id_number(data.id_number),
    )
    session.add(member)
    try:
        await session.flush()  # the partial unique index decides, not a prior SELECT
    except IntegrityError as exc:
        if data.kind == VILLAGE_COLLECTIVE:
            raise CollectiveMemberExists("This cooperative already has a village collective member.") from exc
        raise
    village = (await session.execute(select(C.village_code).where(C.id == cooperative_id))).scalar_one()
    await audit.record(
        session,
        actor=principal,
        action="member.added",
        entity="cooperative_member",
        entity_id=member.id,
        after=_member_audit(member.name, member.kind, member.id_number),
        region_code=village,
        cooperative_id=cooperative_id,
    )
    # The initial contribution opens the capital history (and meets the charter's cap).
    await capital.change_capital(
        session,
        principal,
        cooperative_id=cooperative_id,
        member_id=member.id,
        delta_fen=data.capital_fen,
        reason="opening contribution",
    )
    return await _member(session, cooperative_id, member.id)


async def update_member(
    session: UnitOfWork, principal: Principal, cooperative_id: str, member_id: str, data: MemberPatch
) -> MemberOut:
    """Its manager renames a member or changes its capital; every capital change is recorded."""
    await _require_manager(session, principal, cooperative_id)
    member = await session.get(CooperativeMember, member_id, with_for_update=True)
    if member is None or member.cooperative_id != cooperative_id:
        raise MemberNotFound("No such member.")
    before = _member_audit(member.name, member.kind, member.id_number)
    if data.name is not UNSET:
        member.name = _required_text(data.name, "name")
    if data.id_number is not UNSET:
        member.id_number = _checked_id_number(data.id_number)
    after = _member_audit(member.name, member.kind, member.id_number)
    current_capital = member.capital_fen
    session.add(member)
    await session.flush()
    if after != before:
        village = (await session.execute(select(C.village_code).where(C.id == cooperative_id))).scalar_one()
        await audit.record(
            session,
            actor=principal,
            action="member.updated",
            entity="cooperative_member",
            entity_id=member_id,
            before=before,
            after=after,
            region_code=village,
            cooperative_id=cooperative_id,
        )
    if data.capital_fen is not UNSET and data.capital_fen != current_capital:
        # A new history entry for the difference, never an overwrite.
        await capital.change_capital(
            session,
            principal,
            cooperative_id=cooperative_id,
            member_id=member_id,
            delta_fen=data.capital_fen - current_capital,
            reason=None,
        )
    return await _member(session, cooperative_id, member_id)
