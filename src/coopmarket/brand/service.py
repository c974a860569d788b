"""Brand licensing use cases: apply (a manager, for products of their cooperative), list, grant
after the certificate check, suspend, revoke (district staff).

The licence records, numbers and decisions belong to ``coops.licences``; products and their
certificates to ``products``. This slice sits above both, so neither has to import the other
backwards (the slice graph stays acyclic: brand → products → coops).

A grant locks the licence's products (in id order, as certificate changes do) before it reads their
certificates, then the licence row; a concurrent correction or withdrawal therefore either happens
before the check (and the grant is refused) or after the grant (and suspends it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from coopmarket.audit import service as audit
from coopmarket.brand.errors import CertificationMissing, InvalidLicenceProducts, InvalidLicenceTerm
from coopmarket.brand.schemas import LicenceDecisionIn, LicenceIn, LicenceList, LicenceOut, LicensedProduct
from coopmarket.coops import licences
from coopmarket.coops import service as coops_service
from coopmarket.coops.errors import CooperativeNotFound
from coopmarket.coops.licence_rules import REASON_REQUIRED, LicenceAction
from coopmarket.coops.schemas import LicenceRecord
from coopmarket.core.errors import FieldError, PermissionDenied, ValidationFailed
from coopmarket.core.principal import COOP_MANAGER, DISTRICT_STAFF, Principal
from coopmarket.events.outbox import EventKind, record_event
from coopmarket.products import certifications as certification_service
from coopmarket.products import service as products_service
from coopmarket.products.errors import CooperativeNotApproved
from coopmarket.settings import Settings

log = logging.getLogger("coopmarket.brand")

APPROVED = "approved"
ACTIVE = "active"
MAX_TERM = timedelta(days=5 * 366)

Conn = AsyncSession | AsyncConnection


def _audited(record: LicenceRecord) -> dict[str, object]:
    return {
        "status": record.stored_status,
        "number": record.number,
        "valid_from": record.valid_from.isoformat(),
        "valid_to": record.valid_to.isoformat(),
        "product_ids": record.product_ids,
    }


async def _audit(
    session: AsyncSession,
    principal: Principal,
    action: LicenceAction,
    before: LicenceRecord | None,
    after: LicenceRecord,
    reason: str | None,
) -> None:
    """Every licence change in the one audit log, with the change (same transaction)."""
    await audit.record(
        session,
        actor=principal,
        action=f"brand_licence.{action.value}",
        entity="brand_licence",
        entity_id=after.id,
        before=_audited(before) if before is not None else None,
        after=_audited(after),
        reason=reason,
        region_code=after.cooperative_village_code,
        cooperative_id=after.cooperative_id,
    )


async def _out(conn: Conn, records: Sequence[LicenceRecord]) -> list[LicenceOut]:
    names = await products_service.product_briefs(conn, sorted({p for r in records for p in r.product_ids}))
    return [
        LicenceOut(
            id=r.id,
            number=r.number,
            brand=r.brand,
            cooperative_id=r.cooperative_id,
            cooperative_name=r.cooperative_name,
            status=r.status,
            status_reason=r.status_reason,
            valid_from=r.valid_from,
            valid_to=r.valid_to,
            products=[LicensedProduct(id=p, name=names[p].name if p in names else "") for p in r.product_ids],
            applied_by=r.applied_by,
            applied_at=r.applied_at,
            granted_at=r.granted_at,
            updated_at=r.updated_at,
            decisions=r.decisions,
        )
        for r in records
    ]


def _require_reader(principal: Principal) -> None:
    if not (principal.is_staff or principal.role == COOP_MANAGER):
        raise PermissionDenied("Staff and cooperative managers see brand licences.", code="forbidden_role")


# --- apply -----------------------------------------------------------------------------------


def _check_term(data: LicenceIn, today: date) -> None:
    problem: tuple[str, str] | None = None
    if data.valid_from > data.valid_to:
        problem = ("valid_to", "before valid_from")
    elif data.valid_to < today:
        problem = ("valid_to", f"already past (today is {today.isoformat()})")
    elif data.valid_to - data.valid_from > MAX_TERM:
        problem = ("valid_to", "a licence term is at most 5 years")
    if problem is not None:
        raise InvalidLicenceTerm(
            f"The licence term cannot be: {problem[1]}.", errors=[FieldError(problem[0], problem[1])]
        )


async def apply_for_licence(
    session: AsyncSession,
    principal: Principal,
    cooperative_id: str,
    data: LicenceIn,
    *,
    today: date,
    brand: str,
) -> LicenceOut:
    """A manager applies for the brand on named active products of their approved cooperative."""
    if principal.role != COOP_MANAGER:
        raise PermissionDenied("Only cooperative managers apply for brand licences.", code="forbidden_role")
    if not principal.manages(cooperative_id):
        raise CooperativeNotFound("No such cooperative.")
    cooperative = await coops_service.get_cooperative_brief(session, cooperative_id)
    if cooperative is None:
        raise CooperativeNotFound("No such cooperative.")
    if cooperative.status != APPROVED:
        raise CooperativeNotApproved("Only an approved cooperative may apply for the brand.")
    _check_term(data, today)
    products = await products_service.product_briefs(session, data.product_ids)
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, product_id in enumerate(data.product_ids):
        product = products.get(product_id)
        if product_id in seen:
            errors.append(FieldError(f"product_ids[{i}]", "listed twice"))
        elif product is None or product.cooperative_id != cooperative_id or product.status != ACTIVE:
            errors.append(FieldError(f"product_ids[{i}]", "not an active product of this cooperative"))
        seen.add(product_id)
    if errors:
        raise InvalidLicenceProducts("Some products cannot be licensed by this cooperative.", errors=errors)
    licence_id = await licences.create_application(
        session,
        cooperative_id=cooperative_id,
        product_ids=data.product_ids,
        valid_from=data.valid_from,
        valid_to=data.valid_to,
        brand=brand,
        actor_id=principal.id,
    )
    record = await licences.licence_record(session, licence_id, today)
    await _audit(session, principal, LicenceAction.APPLY, None, record, None)
    log.info("brand licence applied id=%s cooperative=%s by=%s", licence_id, cooperative_id, principal.id)
    return (await _out(session, [record]))[0]


# --- read ------------------------------------------------------------------------------------


async def list_licences(
    conn: AsyncConnection,
    principal: Principal,
    *,
    today: date,
    status: str | None,
    expiring_within_days: int | None,
    cooperative_id: str | None,
    limit: int,
    cursor: str | None,
) -> LicenceList:
    """Staff see licences in their region, managers their cooperatives'; by effective status, or
    those ending within N days (soonest first)."""
    _require_reader(principal)
    records, next_cursor = await licences.list_licences(
        conn,
        principal,
        today=today,
        status=status,
        expiring_within_days=expiring_within_days,
        cooperative_id=cooperative_id,
        limit=limit,
        cursor=cursor,
    )
    return LicenceList(items=await _out(conn, records), next_cursor=next_cursor)


async def get_licence(
    conn: AsyncConnection, principal: Principal, licence_id: str, *, today: date
) -> LicenceOut:
    """One licence with its products and every decision (staff in scope, its cooperative's managers)."""
    _require_reader(principal)
    record = await licences.licence_record(conn, licence_id, today, principal=principal)
    return (await _out(conn, [record]))[0]


# --- decisions -------------------------------------------------------------------------------


def _reason(action: LicenceAction, data: LicenceDecisionIn | None) -> str | None:
    reason = " ".join(data.reason.split()) if data is not None and data.reason else None
    if reason is None and action in REASON_REQUIRED:
        raise ValidationFailed(
            f"A reason is required to {action} a licence.",
            code="reason_required",
            errors=[FieldError("reason", "required")],
        )
    return reason


def _missing_errors(gaps: dict[str, dict[str, date]], end: date) -> list[FieldError]:
    return [
        FieldError(f"products[{product_id}]", f"no valid {kind} from {day.isoformat()} to {end.isoformat()}")
        for product_id, kinds in sorted(gaps.items())
        for kind, day in sorted(kinds.items())
    ]


async def grant_licence(
    session: AsyncSession,
    principal: Principal,
    licence_id: str,
    data: LicenceDecisionIn | None,
    *,
    today: date,
    settings: Settings,
) -> LicenceOut:
    """District staff grant an applied licence, or reinstate a suspended one, when every product
    holds each required certificate for the rest of the term; the first grant gives the number."""
    principal.require_role(DISTRICT_STAFF)
    first_look = await licences.licence_record(session, licence_id, today, principal=principal)
    reason = _reason(LicenceAction.GRANT, data)
    await products_service.lock_products(session, first_look.product_ids)
    record = await licences.licence_record(session, licence_id, today, for_update=True)
    licences.check_transition(record, LicenceAction.GRANT, today)
    if record.cooperative_status != APPROVED:
        raise CooperativeNotApproved("The cooperative is not approved: its licence cannot be granted.")
    # The badge shows from today on, so the certificates must cover the term from today (or its start).
    start = max(record.valid_from, today)
    gaps = await certification_service.coverage_gaps(
        session, record.product_ids, settings.brand_licence_required_certifications, start, record.valid_to
    )
    if gaps:
        raise CertificationMissing(
            "Every product of the licence needs a valid "
            + ", ".join(settings.brand_licence_required_certifications)
            + f" certificate from {start.isoformat()} to {record.valid_to.isoformat()}.",
            errors=_missing_errors(gaps, record.valid_to),
        )
    await licences.grant(
        session,
        record,
        reason=reason,
        actor_id=principal.id,
        prefix=settings.brand_licence_prefix,
        today=today,
    )
    granted = await licences.licence_record(session, licence_id, today)
    await _audit(session, principal, LicenceAction.GRANT, record, granted, reason)
    await record_event(
        session,
        EventKind.LICENCE_GRANTED,
        "brand_licence",
        licence_id,
        {
            "licence_id": licence_id,
            "number": granted.number,
            "brand": granted.brand,
            "cooperative_id": granted.cooperative_id,
            "status": granted.status,
            "valid_from": granted.valid_from.isoformat(),
            "valid_to": granted.valid_to.isoformat(),
            "product_ids": granted.product_ids,
        },
    )
    log.info("brand licence granted id=%s number=%s by=%s", licence_id, granted.number, principal.id)
    return (await _out(session, [granted]))[0]


async def decide(
    session: AsyncSession,
    principal: Principal,
    licence_id: str,
    action: LicenceAction,
    data: LicenceDecisionIn | None,
    *,
    today: date,
) -> LicenceOut:
    """District staff suspend or revoke a licence, with a reason."""
    principal.require_role(DISTRICT_STAFF)
    await licences.licence_record(session, licence_id, today, principal=principal)
    reason = _reason(action, data)
    record = await licences.licence_record(session, licence_id, today, for_update=True)
    await licences.decide(session, record, action, reason=reason, actor_id=principal.id, today=today)
    decided = await licences.licence_record(session, licence_id, today)
    await _audit(session, principal, action, record, decided, reason)
    log.info("brand licence %s id=%s by=%s", action, licence_id, principal.id)
    return (await _out(session, [decided]))[0]
