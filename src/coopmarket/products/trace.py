"""Batches and their trace codes: recording a batch, the manager's list, the public trace answer
and its QR code.

The public read is SQLAlchemy Core on a read connection, one joined select plus the certificates
valid on the batch date. Any code that is not a stored one (malformed, mistyped, unknown) answers
the same 404, and a malformed one never reaches the database.
"""

from __future__ import annotations

import io
import logging
from datetime import date
from typing import Any

import segno
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from coopmarket.coops import licences
from coopmarket.coops import service as coops_service
from coopmarket.core import clock
from coopmarket.core.errors import FieldError
from coopmarket.core.pagination import decode_cursor, encode_cursor
from coopmarket.core.principal import Principal
from coopmarket.products import certifications as certification_service
from coopmarket.products import trace_codes
from coopmarket.products.access import managed_product_for_update, require_manager_role
from coopmarket.products.errors import (
    CooperativeNotApproved,
    InvalidBatch,
    ProductNotFound,
    TraceCodeNotFound,
)
from coopmarket.products.models import Product, ProductBatch
from coopmarket.products.schemas import (
    BatchIn,
    BatchOut,
    BatchPage,
    TraceBatch,
    TraceCooperative,
    TraceOut,
    TraceProduct,
    VillageRef,
)
from coopmarket.regions import service as regions_service

log = logging.getLogger("coopmarket.products")

_batch_table = ProductBatch.metadata.tables["product_batch"]
_product_table = Product.metadata.tables["product"]
B = _batch_table.c
P = _product_table.c

QR_DEFAULT_SCALE = 8
QR_MAX_SCALE = 40
_CODE_ATTEMPTS = 3


def trace_url(public_base: str, code: str) -> str:
    """The public page of a trace code (what the QR code holds)."""
    return f"{public_base}/trace/{code}"


def qr_path(code: str) -> str:
    return f"/api/v1/trace/{code}/qr.png"


def qr_png(url: str, *, scale: int = QR_DEFAULT_SCALE) -> bytes:
    """A PNG QR code of ``url`` (error correction M: a label survives some wear), 4-module border."""
    buffer = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def _batch_out(row: Any, public_base: str) -> BatchOut:
    return BatchOut(
        id=row.id,
        product_id=row.product_id,
        trace_code=trace_codes.display(row.trace_code),
        trace_url=trace_url(public_base, row.trace_code),
        qr_url=qr_path(row.trace_code),
        produced_on=row.produced_on,
        quantity=row.quantity,
        unit=row.unit,
        member_id=row.member_id,
        created_at=row.created_at,
    )


async def record_batch(
    session: AsyncSession,
    principal: Principal,
    product_id: str,
    data: BatchIn,
    *,
    today: date,
    public_base: str,
) -> BatchOut:
    """Record a harvest or production batch of a product the caller manages and give it a new
    trace code. ``member_id``, when given, must be a member of the product's cooperative."""
    product = await managed_product_for_update(session, principal, product_id)
    brief = await coops_service.get_cooperative_brief(session, product.cooperative_id)
    if brief is None or brief.status != "approved":
        raise CooperativeNotApproved("Only an approved cooperative records batches.")
    if data.produced_on > today:
        raise InvalidBatch(
            "A batch cannot be produced after today.",
            code="invalid_batch_date",
            errors=[FieldError("produced_on", f"after today ({today.isoformat()})")],
        )
    unit = " ".join(data.unit.split())
    if not unit:
        raise InvalidBatch("The unit is blank.", errors=[FieldError("unit", "must not be blank")])
    if data.member_id is not None:
        owner = await coops_service.member_cooperative_id(session, data.member_id)
        if owner != product.cooperative_id:
            raise InvalidBatch(
                "The supplying member is not a member of this product's cooperative.",
                code="member_not_in_cooperative",
                errors=[FieldError("member_id", "not a member of the product's cooperative")],
            )
    now = clock.now()
    for attempt in range(_CODE_ATTEMPTS):
        batch = ProductBatch(
            product_id=product.id,
            trace_code=trace_codes.new_trace_code(),
            produced_on=data.produced_on,
            quantity=data.quantity,
            unit=unit,
            member_id=data.member_id,
            created_by=principal.id,
            created_at=now,
        )
        try:
            # 80 random bits make a clash all but impossible; the unique index would still refuse one.
            async with session.begin_nested():
                session.add(batch)
                await session.flush()
            break
        except IntegrityError:
            log.warning("trace code clash, drawing again (attempt %d)", attempt + 1)
            if attempt == _CODE_ATTEMPTS - 1:
                raise
    out = _batch_out(batch, public_base)
    log.info("batch recorded product=%s by=%s", product.id, principal.id)
    return out


async def list_batches(
    conn: AsyncConnection,
    principal: Principal,
    product_id: str,
    *,
    public_base: str,
    limit: int,
    cursor: str | None,
) -> BatchPage:
    """A product's batches, newest first, with their trace codes: its managers only."""
    require_manager_role(principal)
    owner = (await conn.execute(select(P.cooperative_id).where(P.id == product_id))).scalar_one_or_none()
    if owner is None or not principal.manages(owner):
        raise ProductNotFound(f"No product {product_id}.")
    after = decode_cursor(cursor, 1)
    stmt = select(
        B.id, B.product_id, B.trace_code, B.produced_on, B.quantity, B.unit, B.member_id, B.created_at
    ).where(B.product_id == product_id)
    if after is not None:
        stmt = stmt.where(B.id < str(after[0]))
    rows = (await conn.execute(stmt.order_by(B.id.desc()).limit(limit + 1))).all()
    page = rows[:limit]
    return BatchPage(
        items=[_batch_out(r, public_base) for r in page],
        next_cursor=encode_cursor([page[-1].id]) if len(rows) > limit else None,
    )


async def trace_qr_png(conn: AsyncConnection, raw_code: str, *, public_base: str, scale: int) -> bytes:
    """The QR code of a stored trace code's public URL; 404 ``trace_code_not_found`` otherwise."""
    code = trace_codes.normalise(raw_code)
    if code is None:
        raise TraceCodeNotFound("No batch has this trace code.")
    found = (await conn.execute(select(B.trace_code).where(B.trace_code == code))).scalar_one_or_none()
    if found is None:
        raise TraceCodeNotFound("No batch has this trace code.")
    return qr_png(trace_url(public_base, code), scale=scale)


async def trace(
    conn: AsyncConnection, raw_code: str, *, today: date, public_base: str, brand: str
) -> TraceOut:
    """The public answer for a trace code: product, cooperative, village, batch date and the
    certificates valid on that date (``is_valid`` tells whether each still is today). Nothing about buyers, and no member's name or phone."""
    code = trace_codes.normalise(raw_code)
    if code is None:
        raise TraceCodeNotFound("No batch has this trace code.")
    row = (
        await conn.execute(
            select(
                B.produced_on,
                B.quantity,
                B.unit,
                B.member_id,
                P.id.label("product_id"),
                P.name.label("product_name"),
                P.category,
                P.unit.label("product_unit"),
                P.origin_village_code,
                P.cooperative_id,
                P.id.in_(licences.branded_product_ids(today)).label("is_branded"),
            )
            .join_from(_batch_table, _product_table, B.product_id == P.id)
            .where(B.trace_code == code)
        )
    ).one_or_none()
    if row is None:
        raise TraceCodeNotFound("No batch has this trace code.")
    brief = await coops_service.get_cooperative_brief(conn, row.cooperative_id)
    if brief is None:  # a product always has its cooperative; kept total for the type checker
        raise TraceCodeNotFound("No batch has this trace code.")
    names = await regions_service.region_names(conn, [row.origin_village_code, brief.village_code])
    origin = row.origin_village_code
    is_branded = bool(row.is_branded)
    return TraceOut(
        trace_code=trace_codes.display(code),
        trace_url=trace_url(public_base, code),
        product=TraceProduct(
            id=row.product_id, name=row.product_name, category=row.category, unit=row.product_unit
        ),
        cooperative=TraceCooperative(
            id=brief.id,
            name=brief.name,
            village=VillageRef(code=brief.village_code, name=names[brief.village_code])
            if brief.village_code in names
            else None,
        ),
        village=VillageRef(code=origin, name=names[origin]) if origin in names else None,
        batch=TraceBatch(
            produced_on=row.produced_on,
            quantity=row.quantity,
            unit=row.unit,
            supplied_by_member=row.member_id is not None,
        ),
        certifications=await certification_service.certifications_valid_on(
            conn, row.product_id, row.produced_on, today=today
        ),
        is_branded=is_branded,
        brand=brand if is_branded else None,
        withdrawn=brief.status != "approved",
    )
