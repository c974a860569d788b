"""Certificates of a product: add, correct, withdraw (history kept), and the reads that use them.

A certificate is valid on a day when it stands (not withdrawn) and the day is inside its window;
the day is the request's date in the report time zone (Asia/Shanghai), so an expired or
not-yet-valid certificate is never shown as valid. A correction or withdrawal that leaves a granted
brand licence without a valid required certificate for the rest of its term suspends that licence
in the same transaction (the badge goes at once; district staff grant it again once it is fixed).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from msgspec import UNSET
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from coopmarket.audit import service as audit
from coopmarket.coops import licences
from coopmarket.coops import service as coops_service
from coopmarket.core import clock
from coopmarket.core.errors import FieldError, PermissionDenied
from coopmarket.core.ids import new_id
from coopmarket.core.principal import COOP_MANAGER, Principal
from coopmarket.products import certification_rules as rules
from coopmarket.products.access import managed_product_for_update, require_manager_role
from coopmarket.products.errors import (
    CertificationExists,
    CertificationNotFound,
    CertificationWithdrawn,
    InvalidCertification,
    ProductNotFound,
)
from coopmarket.products.models import CertificationRevision, Product, ProductCertification
from coopmarket.products.schemas import (
    CertificationIn,
    CertificationList,
    CertificationOut,
    CertificationPatch,
    CertificationRecordOut,
    CertificationRevisionOut,
    WithdrawIn,
)

log = logging.getLogger("coopmarket.products")

Conn = AsyncSession | AsyncConnection

_certification_table = ProductCertification.metadata.tables["product_certification"]
_revision_table = CertificationRevision.metadata.tables["certification_revision"]
PC = _certification_table.c
CR = _revision_table.c
P = Product.metadata.tables["product"].c

ACTIVE = "active"
WITHDRAWN = "withdrawn"
KIND_NAMES_ZH = {
    "green_food": "绿色食品",
    "organic": "有机产品",
    "geographical_indication": "农产品地理标志",
    "compliance_certificate": "承诺达标合格证",
}

_OUT_COLUMNS = (PC.id, PC.kind, PC.number, PC.issuer, PC.valid_from, PC.valid_to, PC.status)


def _public_out(row: Any, today: date) -> CertificationOut:
    return CertificationOut(
        id=row.id,
        kind=row.kind,
        number=row.number,
        issuer=row.issuer,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        is_valid=rules.is_valid_on(row.status, row.valid_from, row.valid_to, today),
    )


# --- reads -----------------------------------------------------------------------------------


async def current_certifications(conn: Conn, product_id: str, today: date) -> list[CertificationOut]:
    """The product's standing certificates (withdrawn ones left out), each valid or not on ``today``."""
    rows = (
        await conn.execute(
            select(*_OUT_COLUMNS)
            .where(PC.product_id == product_id, PC.status == ACTIVE)
            .order_by(PC.kind, PC.valid_from, PC.id)
        )
    ).all()
    return [_public_out(r, today) for r in rows]


async def certifications_valid_on(
    conn: Conn, product_id: str, day: date, *, today: date
) -> list[CertificationOut]:
    """The standing certificates whose window contains ``day`` (a batch's date on the trace page),
    ``is_valid`` on ``today``: one valid at harvest and expired since is never shown as valid."""
    rows = (
        await conn.execute(
            select(*_OUT_COLUMNS)
            .where(
                PC.product_id == product_id,
                PC.status == ACTIVE,
                PC.valid_from <= day,
                PC.valid_to >= day,
            )
            .order_by(PC.kind, PC.valid_from, PC.id)
        )
    ).all()
    return [_public_out(r, today) for r in rows]


async def coverage_gaps(
    conn: Conn, product_ids: Sequence[str], kinds: Iterable[str], start: date, end: date
) -> dict[str, dict[str, date]]:
    """For each product lacking one of ``kinds`` on some day of ``[start, end]``: kind → the first
    uncovered day. Standing certificates of a kind may chain (a renewal the day after). Empty when
    everything is covered. Joins the caller's transaction."""
    wanted = sorted(set(kinds))
    if not product_ids or not wanted or start > end:
        return {}
    rows = (
        await conn.execute(
            select(PC.product_id, PC.kind, PC.valid_from, PC.valid_to).where(
                PC.product_id.in_(sorted(set(product_ids))),
                PC.kind.in_(wanted),
                PC.status == ACTIVE,
                PC.valid_to >= start,
                PC.valid_from <= end,
            )
        )
    ).all()
    windows: dict[tuple[str, str], list[tuple[date, date]]] = {}
    for r in rows:
        windows.setdefault((r.product_id, r.kind), []).append((r.valid_from, r.valid_to))
    gaps: dict[str, dict[str, date]] = {}
    for product_id in sorted(set(product_ids)):
        for kind in wanted:
            gap = rules.first_gap(windows.get((product_id, kind), []), start, end)
            if gap is not None:
                gaps.setdefault(product_id, {})[kind] = gap
    return gaps


async def _history(conn: Conn, certification_ids: list[str]) -> dict[str, list[CertificationRevisionOut]]:
    out: dict[str, list[CertificationRevisionOut]] = {i: [] for i in certification_ids}
    if not certification_ids:
        return out
    rows = (
        await conn.execute(
            select(
                CR.certification_id,
                CR.version,
                CR.action,
                CR.number,
                CR.issuer,
                CR.valid_from,
                CR.valid_to,
                CR.status,
                CR.reason,
                CR.actor_id,
                CR.at,
            )
            .where(CR.certification_id.in_(certification_ids))
            .order_by(CR.certification_id, CR.version)
        )
    ).all()
    for r in rows:
        out[r.certification_id].append(
            CertificationRevisionOut(
                version=r.version,
                action=r.action,
                number=r.number,
                issuer=r.issuer,
                valid_from=r.valid_from,
                valid_to=r.valid_to,
                status=r.status,
                reason=r.reason,
                actor_id=r.actor_id,
                at=r.at,
            )
        )
    return out


_RECORD_COLUMNS = (*_OUT_COLUMNS, PC.product_id, PC.version)


async def _records(conn: Conn, rows: Sequence[Any], today: date) -> list[CertificationRecordOut]:
    history = await _history(conn, [r.id for r in rows])
    return [
        CertificationRecordOut(
            id=r.id,
            product_id=r.product_id,
            kind=r.kind,
            number=r.number,
            issuer=r.issuer,
            valid_from=r.valid_from,
            valid_to=r.valid_to,
            is_valid=rules.is_valid_on(r.status, r.valid_from, r.valid_to, today),
            status=r.status,
            version=r.version,
            history=history[r.id],
        )
        for r in rows
    ]


async def list_certifications(
    conn: AsyncConnection, principal: Principal, product_id: str, *, today: date
) -> CertificationList:
    """Every certificate of a product, withdrawn ones included, with history: its managers and staff
    whose region covers the cooperative's village; 404 to anyone else (403 to a buyer)."""
    if not (principal.role == COOP_MANAGER or principal.is_staff):
        raise PermissionDenied("Managers and staff see certificate histories.", code="forbidden_role")
    owner = (await conn.execute(select(P.cooperative_id).where(P.id == product_id))).scalar_one_or_none()
    if owner is None:
        raise ProductNotFound(f"No product {product_id}.")
    if not principal.manages(owner):
        brief = await coops_service.get_cooperative_brief(conn, owner)
        if brief is None or not principal.covers_region(brief.village_code):
            raise ProductNotFound(f"No product {product_id}.")
    rows = (
        await conn.execute(
            select(*_RECORD_COLUMNS)
            .where(PC.product_id == product_id)
            .order_by(PC.status, PC.kind, PC.valid_from, PC.id)
        )
    ).all()
    return CertificationList(items=await _records(conn, rows, today))


# --- writes ----------------------------------------------------------------------------------


def _checked_number(kind: str, raw: str, field: str = "number") -> str:
    number = rules.normalise_number(raw)
    if not number or not rules.number_matches(kind, number):
        raise InvalidCertification(
            f"{raw!r} is not {rules.FORMAT_HINTS[kind]}.",
            code="invalid_certification_number",
            errors=[FieldError(field, f"expected {rules.FORMAT_HINTS[kind]}")],
        )
    return number


def _checked_term(kind: str, valid_from: date, valid_to: date) -> None:
    problem = rules.term_problem(kind, valid_from, valid_to)
    if problem is not None:
        raise InvalidCertification(
            f"The validity dates cannot be: {problem}.",
            code="invalid_certification_dates",
            errors=[FieldError("valid_to", problem)],
        )


def _checked_text(value: str, field: str) -> str:
    text = " ".join(value.split())
    if not text:
        raise InvalidCertification(
            "A required text is blank.", errors=[FieldError(field, "must not be blank")]
        )
    return text


async def _append_revision(
    session: AsyncSession, cert: ProductCertification, action: str, reason: str | None, actor_id: str
) -> None:
    await session.execute(
        _revision_table.insert().values(
            id=new_id(),
            certification_id=cert.id,
            version=cert.version,
            action=action,
            kind=cert.kind,
            number=cert.number,
            issuer=cert.issuer,
            valid_from=cert.valid_from,
            valid_to=cert.valid_to,
            status=cert.status,
            reason=reason,
            actor_id=actor_id,
            at=cert.updated_at,
        )
    )


def _audited(cert: ProductCertification) -> dict[str, Any]:
    return {
        "product_id": cert.product_id,
        "kind": cert.kind,
        "number": cert.number,
        "issuer": cert.issuer,
        "valid_from": cert.valid_from.isoformat(),
        "valid_to": cert.valid_to.isoformat(),
        "status": cert.status,
        "version": cert.version,
    }


async def _audit(
    session: AsyncSession,
    principal: Principal,
    action: str,
    cert: ProductCertification,
    before: dict[str, Any] | None,
    reason: str | None,
    suspended_licence_ids: list[str] | None = None,
) -> None:
    """Every certificate change in the one audit log, in the change's transaction."""
    cooperative_id = (
        await session.execute(select(P.cooperative_id).where(P.id == cert.product_id))
    ).scalar_one()
    cooperative = await coops_service.get_cooperative_brief(session, cooperative_id)
    after = _audited(cert)
    if suspended_licence_ids is not None:
        after["licences_suspended"] = suspended_licence_ids
    await audit.record(
        session,
        actor=principal,
        action=f"certification.{action}",
        entity="product_certification",
        entity_id=cert.id,
        before=before,
        after=after,
        reason=reason,
        region_code=cooperative.village_code if cooperative is not None else None,
        cooperative_id=cooperative_id,
    )


async def _one_record(session: AsyncSession, certification_id: str, today: date) -> CertificationRecordOut:
    row = (await session.execute(select(*_RECORD_COLUMNS).where(PC.id == certification_id))).one()
    return (await _records(session, [row], today))[0]


async def add_certification(
    session: AsyncSession, principal: Principal, product_id: str, data: CertificationIn, *, today: date
) -> CertificationRecordOut:
    """Record a certificate of a product the caller manages (number checked loosely for its kind)."""
    product = await managed_product_for_update(session, principal, product_id)
    number = _checked_number(data.kind, data.number)
    issuer = _checked_text(data.issuer, "issuer")
    _checked_term(data.kind, data.valid_from, data.valid_to)
    now = clock.now()
    cert = ProductCertification(
        product_id=product.id,
        kind=data.kind,
        number=number,
        issuer=issuer,
        valid_from=data.valid_from,
        valid_to=data.valid_to,
        status=ACTIVE,
        version=1,
        created_by=principal.id,
        created_at=now,
        updated_at=now,
    )
    session.add(cert)
    try:
        await session.flush()  # the partial unique index decides a duplicate, not a prior SELECT
    except IntegrityError as exc:
        raise CertificationExists(
            f"This product already has {data.kind} certificate {number}; correct it instead."
        ) from exc
    await _append_revision(session, cert, "created", None, principal.id)
    await _audit(session, principal, "created", cert, None, None)
    out = await _one_record(session, cert.id, today)
    log.info("certification added product=%s kind=%s by=%s", product.id, data.kind, principal.id)
    return out


async def _managed_certification_for_update(
    session: AsyncSession, principal: Principal, certification_id: str
) -> ProductCertification:
    """The certificate and its product, both locked; 404 unless the caller manages the product."""
    require_manager_role(principal)
    product_id = (
        await session.execute(select(PC.product_id).where(PC.id == certification_id))
    ).scalar_one_or_none()
    if product_id is None:
        raise CertificationNotFound("No such certificate.")
    try:
        await managed_product_for_update(session, principal, product_id)
    except ProductNotFound:
        raise CertificationNotFound("No such certificate.") from None
    cert = (
        await session.execute(select(ProductCertification).where(PC.id == certification_id).with_for_update())
    ).scalar_one()
    if cert.status != ACTIVE:
        raise CertificationWithdrawn("A withdrawn certificate cannot change; record a new one.")
    return cert


async def _suspend_uncovered_licences(
    session: AsyncSession,
    product_id: str,
    *,
    today: date,
    required_kinds: Sequence[str],
    actor_id: str,
    change: str,
) -> list[str]:
    """Suspend each granted licence of ``product_id`` that no longer has every required certificate
    for the rest of its term (from today, or its start if later); their ids."""
    suspended: list[str] = []
    for term in await licences.in_force_for_product(session, product_id, today):
        start = max(term.valid_from, today)
        gaps = await coverage_gaps(session, [product_id], required_kinds, start, term.valid_to)
        if not gaps:
            continue
        missing = "、".join(KIND_NAMES_ZH.get(kind, kind) for kind in gaps[product_id])
        reason = f"{change}后，产品在许可期内缺少有效的{missing}，系统自动暂停许可"
        if await licences.suspend_automatically(session, term.id, reason=reason[:500], actor_id=actor_id):
            suspended.append(term.id)
    if suspended:
        log.warning(
            "brand licences suspended after a certificate change product=%s licences=%s",
            product_id,
            suspended,
        )
    return suspended


async def correct_certification(
    session: AsyncSession,
    principal: Principal,
    certification_id: str,
    data: CertificationPatch,
    *,
    today: date,
    required_kinds: Sequence[str],
) -> CertificationRecordOut:
    """Correct a certificate's number, issuer or dates; the previous version stays in its history."""
    cert = await _managed_certification_for_update(session, principal, certification_id)
    number = cert.number if data.number is UNSET else _checked_number(cert.kind, data.number)
    issuer = cert.issuer if data.issuer is UNSET else _checked_text(data.issuer, "issuer")
    valid_from = cert.valid_from if data.valid_from is UNSET else data.valid_from
    valid_to = cert.valid_to if data.valid_to is UNSET else data.valid_to
    _checked_term(cert.kind, valid_from, valid_to)
    if (number, issuer, valid_from, valid_to) == (cert.number, cert.issuer, cert.valid_from, cert.valid_to):
        raise InvalidCertification(
            "The correction changes nothing.",
            errors=[
                FieldError(
                    "body", "send at least one changed field among number, issuer, valid_from, valid_to"
                )
            ],
        )
    reason = _checked_text(data.reason, "reason")
    before = _audited(cert)
    cert.number, cert.issuer, cert.valid_from, cert.valid_to = number, issuer, valid_from, valid_to
    cert.version += 1
    cert.updated_at = clock.now()
    try:
        await session.flush()
    except IntegrityError as exc:
        raise CertificationExists(f"This product already has {cert.kind} certificate {number}.") from exc
    await _append_revision(session, cert, "corrected", reason, principal.id)
    suspended = await _suspend_uncovered_licences(
        session,
        cert.product_id,
        today=today,
        required_kinds=required_kinds,
        actor_id=principal.id,
        change=f"证书 {number} 更正（{reason}）",
    )
    await _audit(session, principal, "corrected", cert, before, reason, suspended)
    out = await _one_record(session, cert.id, today)
    out.suspended_licence_ids = suspended
    return out


async def withdraw_certification(
    session: AsyncSession,
    principal: Principal,
    certification_id: str,
    data: WithdrawIn,
    *,
    today: date,
    required_kinds: Sequence[str],
) -> CertificationRecordOut:
    """Withdraw a certificate (it stops counting at once); it and its history stay on record."""
    cert = await _managed_certification_for_update(session, principal, certification_id)
    reason = _checked_text(data.reason, "reason")
    before = _audited(cert)
    # The row is locked and was standing (checked above), so a withdrawal happens once.
    cert.status = WITHDRAWN
    cert.version += 1
    cert.updated_at = clock.now()
    await session.flush()
    await _append_revision(session, cert, "withdrawn", reason, principal.id)
    suspended = await _suspend_uncovered_licences(
        session,
        cert.product_id,
        today=today,
        required_kinds=required_kinds,
        actor_id=principal.id,
        change=f"证书 {cert.number} 撤回（{reason}）",
    )
    await _audit(session, principal, "withdrawn", cert, before, reason, suspended)
    out = await _one_record(session, cert.id, today)
    out.suspended_licence_ids = suspended
    log.info("certification withdrawn id=%s by=%s", cert.id, principal.id)
    return out
