"""The register of a village collective's assets and resources, and idle assets by street."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from msgspec import UNSET
from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.audit import service as audit
from coopmarket.core import clock
from coopmarket.core.errors import FieldError
from coopmarket.core.ids import new_id
from coopmarket.core.pagination import DEFAULT_LIMIT, decode_cursor, encode_cursor
from coopmarket.core.principal import Principal
from coopmarket.regions import service as regions_service
from coopmarket.villages import access
from coopmarket.villages.errors import AssetNotFound, InvalidSize, InvalidValuation
from coopmarket.villages.models import AssetStatusEvent, VillageAsset, VillageContract
from coopmarket.villages.schemas import (
    AssetIn,
    AssetList,
    AssetOut,
    AssetPatch,
    IdleAssetOut,
    IdleAssetReport,
    IdleStreet,
)

A = VillageAsset.metadata.tables["village_asset"].c
EV = AssetStatusEvent.metadata.tables["asset_status_event"].c
C = VillageContract.metadata.tables["village_contract"].c
_asset = VillageAsset.metadata.tables["village_asset"]
_event = AssetStatusEvent.metadata.tables["asset_status_event"]

IN_USE = "in_use"
CONTRACTED = "contracted"
IDLE = "idle"
MILLI = 1000

_COLUMNS = (
    A.id,
    A.village_code,
    A.kind,
    A.name,
    A.size_milli,
    A.size_unit,
    A.location,
    A.status,
    A.status_since,
    A.valuation_fen,
    A.valued_on,
    A.created_at,
    A.updated_at,
)


def size_to_milli(size: float, field: str = "size") -> int:
    """A size with at most three decimals, as thousandths (12.5 → 12500)."""
    exact = Decimal(repr(size))
    milli = exact * MILLI
    if milli != milli.to_integral_value() or milli <= 0:
        raise InvalidSize(
            "A size has at most three decimals.", errors=[FieldError(field, "at most three decimals")]
        )
    return int(milli)


def size_from_milli(size_milli: int) -> float:
    return size_milli / MILLI


def asset_out(row: Any) -> AssetOut:
    return AssetOut(
        id=row.id,
        village_code=row.village_code,
        kind=row.kind,
        name=row.name,
        size=size_from_milli(row.size_milli),
        size_unit=row.size_unit,
        location=row.location,
        status=row.status,
        status_since=row.status_since,
        valuation_fen=row.valuation_fen,
        valued_on=row.valued_on,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _audit_view(row: Any) -> dict[str, Any]:
    out = asset_out(row)
    return {
        "kind": out.kind,
        "name": out.name,
        "size": out.size,
        "size_unit": out.size_unit,
        "location": out.location,
        "status": out.status,
        "status_since": out.status_since.isoformat(),
        "valuation_fen": out.valuation_fen,
        "valued_on": out.valued_on.isoformat() if out.valued_on else None,
    }


def _check_valuation(valuation_fen: int | None, valued_on: date | None, timezone: str) -> None:
    if (valuation_fen is None) != (valued_on is None):
        raise InvalidValuation(
            "A valuation comes with the date it was made.",
            errors=[
                FieldError("valued_on" if valued_on is None else "valuation_fen", "give both or neither")
            ],
        )
    if valued_on is not None:
        access.not_after_today(valued_on, "valued_on", timezone)


async def load_asset(conn: access.Conn, asset_id: str, *, for_update: bool = False) -> Any:
    """The asset row, or ``None``. Joins the caller's transaction (``for_update`` locks it on PostgreSQL)."""
    statement = select(*_COLUMNS).where(A.id == asset_id)
    if for_update:
        statement = statement.with_for_update()
    return (await conn.execute(statement)).one_or_none()


async def record_status(
    session: AsyncSession,
    *,
    asset_id: str,
    village_code: str,
    from_status: str | None,
    to_status: str,
    on_date: date,
    cause: str,
    principal: Principal | None,
    contract_id: str | None = None,
) -> None:
    """Append an asset status change. Joins the caller's transaction."""
    await session.execute(
        insert(_event),
        [
            {
                "id": new_id(),
                "asset_id": asset_id,
                "village_code": village_code,
                "from_status": from_status,
                "to_status": to_status,
                "on_date": on_date,
                "cause": cause,
                "contract_id": contract_id,
                "recorded_by": principal.id if principal else None,
                "recorded_at": clock.now(),
            }
        ],
    )


async def set_status(
    session: AsyncSession,
    asset: Any,
    to_status: str,
    *,
    on_date: date,
    cause: str,
    principal: Principal,
    contract_id: str | None = None,
) -> None:
    """Change an asset's status and record it (a no-op when unchanged). Joins the caller's transaction."""
    if asset.status == to_status:
        return
    await session.execute(
        update(_asset)
        .where(A.id == asset.id)
        .values(status=to_status, status_since=on_date, updated_at=clock.now())
    )
    await record_status(
        session,
        asset_id=asset.id,
        village_code=asset.village_code,
        from_status=asset.status,
        to_status=to_status,
        on_date=on_date,
        cause=cause,
        principal=principal,
        contract_id=contract_id,
    )


async def register_asset(
    session: AsyncSession, principal: Principal, village_code: str, data: AssetIn, *, timezone: str
) -> AssetOut:
    """Add an asset to the village's register (its village staff); audited."""
    await access.require_village(session, principal, village_code, keeper=True)
    size_milli = size_to_milli(data.size)
    _check_valuation(data.valuation_fen, data.valued_on, timezone)
    today = access.today(timezone)
    status_since = data.status_since or today
    access.not_after_today(status_since, "status_since", timezone)
    now = clock.now()
    asset_id = new_id()
    await session.execute(
        insert(_asset),
        [
            {
                "id": asset_id,
                "village_code": village_code,
                "kind": data.kind,
                "name": data.name.strip(),
                "size_milli": size_milli,
                "size_unit": data.size_unit,
                "location": data.location.strip(),
                "status": data.status,
                "status_since": status_since,
                "valuation_fen": data.valuation_fen,
                "valued_on": data.valued_on,
                "created_by": principal.id,
                "created_at": now,
                "updated_at": now,
            }
        ],
    )
    await record_status(
        session,
        asset_id=asset_id,
        village_code=village_code,
        from_status=None,
        to_status=data.status,
        on_date=status_since,
        cause="registered",
        principal=principal,
    )
    row = await load_asset(session, asset_id)
    await audit.record(
        session,
        actor=principal,
        action="village_asset.registered",
        entity="village_asset",
        entity_id=asset_id,
        after=_audit_view(row),
        region_code=village_code,
    )
    return asset_out(row)


async def update_asset(
    session: AsyncSession, principal: Principal, asset_id: str, data: AssetPatch, *, timezone: str
) -> AssetOut:
    """Change an asset (its village's staff); a status change is dated today. Audited."""
    row = await load_asset(session, asset_id, for_update=True)
    not_found = AssetNotFound("No such asset.")
    if row is None:
        principal.require_staff()
        raise not_found
    access.require_role_in_scope(principal, row.village_code, access.KEEPERS, not_found)
    values: dict[str, Any] = {}
    for field in ("name", "location"):
        value = getattr(data, field)
        if value is not UNSET:
            values[field] = value.strip()
    if data.size is not UNSET:
        values["size_milli"] = size_to_milli(data.size)
    if data.size_unit is not UNSET:
        values["size_unit"] = data.size_unit
    if data.valuation_fen is not UNSET or data.valued_on is not UNSET:
        valuation = None if data.valuation_fen is UNSET else data.valuation_fen
        valued_on = None if data.valued_on is UNSET else data.valued_on
        _check_valuation(valuation, valued_on, timezone)
        values.update(valuation_fen=valuation, valued_on=valued_on)
    if values:
        values["updated_at"] = clock.now()
        await session.execute(update(_asset).where(A.id == asset_id).values(**values))
    if data.status is not UNSET:
        await set_status(
            session, row, data.status, on_date=access.today(timezone), cause="edited", principal=principal
        )
    after = await load_asset(session, asset_id)
    await audit.record(
        session,
        actor=principal,
        action="village_asset.updated",
        entity="village_asset",
        entity_id=asset_id,
        before=_audit_view(row),
        after=_audit_view(after),
        reason=None if data.reason is UNSET else data.reason,
        region_code=row.village_code,
    )
    return asset_out(after)


async def list_assets(
    conn: AsyncConnection,
    principal: Principal,
    village_code: str,
    *,
    status: str | None = None,
    kind: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> AssetList:
    """The village's assets in the order they were registered (staff in scope)."""
    await access.require_village(conn, principal, village_code)
    statement = select(*_COLUMNS).where(A.village_code == village_code).order_by(A.id).limit(limit + 1)
    if status:
        statement = statement.where(A.status == status)
    if kind:
        statement = statement.where(A.kind == kind)
    after = decode_cursor(cursor, 1)
    if after is not None:
        statement = statement.where(A.id > str(after[0]))
    rows = (await conn.execute(statement)).all()
    items = [asset_out(row) for row in rows[:limit]]
    return AssetList(items=items, next_cursor=encode_cursor([items[-1].id]) if len(rows) > limit else None)


async def idle_assets(
    conn: AsyncConnection, principal: Principal, region_code: str | None, *, timezone: str
) -> IdleAssetReport:
    """Idle assets in the region by street, longest idle first; an asset still marked ``contracted``
    whose contracts all ended counts as idle since the day after the last one ended."""
    root = await access.require_region(conn, principal, region_code)
    today = access.today(timezone)
    last_end = (
        select(C.asset_id, func.max(C.effective_until).label("last_end"), func.max(C.id).label("last_id"))
        .where(C.village_code.startswith(root, autoescape=True))
        .group_by(C.asset_id)
        .subquery()
    )
    statement = (
        select(*_COLUMNS, last_end.c.last_end, last_end.c.last_id)
        .select_from(_asset.outerjoin(last_end, last_end.c.asset_id == A.id))
        .where(
            A.village_code.startswith(root, autoescape=True),
            (A.status == IDLE)
            | and_(A.status == CONTRACTED, last_end.c.last_end.is_not(None), last_end.c.last_end < today),
        )
    )
    rows = (await conn.execute(statement)).all()
    codes = sorted({row.village_code for row in rows} | {access.street_of(row.village_code) for row in rows})
    names = await regions_service.region_names(conn, codes)
    items: list[IdleAssetOut] = []
    for row in rows:
        lapsed = row.status == CONTRACTED
        idle_since = date.fromordinal(row.last_end.toordinal() + 1) if lapsed else row.status_since
        street = access.street_of(row.village_code)
        items.append(
            IdleAssetOut(
                id=row.id,
                village_code=row.village_code,
                village_name=names.get(row.village_code, ""),
                street_code=street,
                street_name=names.get(street, ""),
                kind=row.kind,
                name=row.name,
                size=size_from_milli(row.size_milli),
                size_unit=row.size_unit,
                location=row.location,
                status=row.status,
                idle_since=idle_since,
                idle_days=(today - idle_since).days,
                valuation_fen=row.valuation_fen,
                last_contract_id=row.last_id,
            )
        )
    items.sort(key=lambda item: (item.street_code, -item.idle_days, item.village_code, item.id))
    streets: dict[str, IdleStreet] = {}
    for item in items:
        street_entry = streets.setdefault(
            item.street_code, IdleStreet(item.street_code, item.street_name, 0, 0)
        )
        street_entry.assets += 1
        street_entry.valuation_fen += item.valuation_fen or 0
    return IdleAssetReport(region_code=root, as_of=today, streets=list(streets.values()), items=items)
