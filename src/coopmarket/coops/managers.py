"""A cooperative's team of managers: list, add by phone number, remove (never the last one).

Who manages a cooperative is read on every request (``managed_cooperative_ids`` behind the
principal resolver), so a removed manager's token stops working for that cooperative at once.
Every change is audited in its own transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession as UnitOfWork

from coopmarket.accounts import service as accounts_service
from coopmarket.audit import service as audit
from coopmarket.coops.errors import (
    AlreadyManager,
    CooperativeNotFound,
    LastManager,
    ManagerNotFound,
    StaffCannotManage,
    UserNotFound,
)
from coopmarket.coops.models import Cooperative, CooperativeManager
from coopmarket.coops.schemas import ManagerIn, ManagerList, ManagerOut
from coopmarket.core import clock
from coopmarket.core.phone import mask_phone
from coopmarket.core.principal import STAFF_ROLES, Principal

_cooperative_table = Cooperative.metadata.tables["cooperative"]
C = _cooperative_table.c
_manager_table = CooperativeManager.metadata.tables["cooperative_manager"]
MG = _manager_table.c


async def _cooperative(conn: Any, cooperative_id: str, *, lock: bool = False) -> Any:
    stmt = select(C.id, C.village_code).where(C.id == cooperative_id)
    if lock:
        stmt = stmt.with_for_update()  # PostgreSQL serialises changes to one team; SQLite's writer lock does
    return (await conn.execute(stmt)).one_or_none()


async def _is_manager(conn: Any, cooperative_id: str, user_id: str) -> bool:
    stmt = select(MG.user_id).where(MG.cooperative_id == cooperative_id, MG.user_id == user_id)
    return (await conn.execute(stmt)).first() is not None


async def _require_manager(
    conn: Any, principal: Principal, cooperative_id: str, *, lock: bool = False
) -> Any:
    """The cooperative, when the caller manages it; 404 for anyone else (ids cannot be probed)."""
    row = await _cooperative(conn, cooperative_id, lock=lock)
    if row is None or not await _is_manager(conn, cooperative_id, principal.id):
        raise CooperativeNotFound("No such cooperative.")
    return row


async def list_managers(conn: Any, principal: Principal, cooperative_id: str) -> ManagerList:
    """Its managers and staff in scope read the team, oldest first; phones masked."""
    row = await _cooperative(conn, cooperative_id)
    if row is None or not (
        principal.covers_region(row.village_code) or await _is_manager(conn, cooperative_id, principal.id)
    ):
        raise CooperativeNotFound("No such cooperative.")
    rows = (
        await conn.execute(
            select(MG.user_id, MG.created_at)
            .where(MG.cooperative_id == cooperative_id)
            .order_by(MG.created_at, MG.user_id)
        )
    ).all()
    people = await accounts_service.user_briefs(conn, [r.user_id for r in rows])
    return ManagerList(
        items=[
            ManagerOut(
                user_id=r.user_id,
                display_name=people[r.user_id][0],
                phone_masked=mask_phone(people[r.user_id][1]),
                since=r.created_at,
            )
            for r in rows
        ]
    )


async def add_manager(
    session: UnitOfWork, principal: Principal, cooperative_id: str, data: ManagerIn
) -> ManagerOut:
    """A manager adds a registered user, found by phone number; staff cannot run a cooperative."""
    row = await _require_manager(session, principal, cooperative_id, lock=True)
    user = await accounts_service.user_by_phone(session, data.phone)
    if user is None:
        raise UserNotFound("No user is registered with this phone number.")
    user_id, display_name, role = user
    if role in STAFF_ROLES:
        raise StaffCannotManage("Staff decide on cooperatives and may not manage one.")
    now = clock.now()
    try:
        async with session.begin_nested():
            await session.execute(
                insert(_manager_table).values(cooperative_id=cooperative_id, user_id=user_id, created_at=now)
            )
    except IntegrityError as exc:
        raise AlreadyManager("This user already manages this cooperative.") from exc
    await accounts_service.promote_to_manager(session, user_id)
    await audit.record(
        session,
        actor=principal,
        action="cooperative.manager_added",
        entity="cooperative",
        entity_id=cooperative_id,
        after={"manager_user_id": user_id, "phone": mask_phone(data.phone)},
        region_code=row.village_code,
        cooperative_id=cooperative_id,
    )
    return ManagerOut(
        user_id=user_id, display_name=display_name, phone_masked=mask_phone(data.phone), since=now
    )


async def remove_manager(
    session: UnitOfWork, principal: Principal, cooperative_id: str, user_id: str
) -> None:
    """A manager removes a manager (themselves included), never the last one (409 ``last_manager``)."""
    row = await _require_manager(session, principal, cooperative_id, lock=True)
    if not await _is_manager(session, cooperative_id, user_id):
        raise ManagerNotFound("This user does not manage this cooperative.")
    count = (
        await session.execute(
            select(func.count()).select_from(_manager_table).where(MG.cooperative_id == cooperative_id)
        )
    ).scalar_one()
    if count <= 1:
        raise LastManager("A cooperative keeps at least one manager.")
    await session.execute(
        delete(_manager_table).where(MG.cooperative_id == cooperative_id, MG.user_id == user_id)
    )
    await audit.record(
        session,
        actor=principal,
        action="cooperative.manager_removed",
        entity="cooperative",
        entity_id=cooperative_id,
        before={"manager_user_id": user_id},
        region_code=row.village_code,
        cooperative_id=cooperative_id,
    )
