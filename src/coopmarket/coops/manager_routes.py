"""HTTP routes of a cooperative's manager team."""

from __future__ import annotations

from litestar import Controller, delete, get, post
from litestar.params import FromPath, JSONBody

from coopmarket.coops import managers
from coopmarket.coops.schemas import ManagerIn, ManagerList, ManagerOut
from coopmarket.core.http import Caller, Db, Session
from coopmarket.core.openapi import problems


class ManagerController(Controller):
    path = "/api/v1/cooperatives/{cooperative_id:str}/managers"
    tags = ["cooperatives"]

    @get(
        "",
        summary="A cooperative's managers (its managers, staff in scope)",
        responses=problems(400, 401, codes={404: ["cooperative_not_found"]}),
    )
    async def list_managers(self, db: Db, principal: Caller, cooperative_id: FromPath[str]) -> ManagerList:
        """Every manager, oldest first, phones masked."""
        async with db.read() as conn:
            return await managers.list_managers(conn, principal, cooperative_id)

    @post(
        "",
        status_code=201,
        summary="Add a registered user as a manager (its managers)",
        responses=problems(
            400,
            401,
            413,
            codes={
                404: ["cooperative_not_found", "user_not_found"],
                409: ["already_manager", "staff_cannot_manage"],
            },
        ),
    )
    async def add_manager(
        self, data: JSONBody[ManagerIn], session: Session, principal: Caller, cooperative_id: FromPath[str]
    ) -> ManagerOut:
        """`{phone}` of a registered user; they manage the cooperative from their next request. Audited."""
        return await managers.add_manager(session, principal, cooperative_id, data)

    @delete(
        "/{user_id:str}",
        status_code=204,
        summary="Remove a manager (its managers); never the last one",
        responses=problems(
            400, 401, codes={404: ["cooperative_not_found", "manager_not_found"], 409: ["last_manager"]}
        ),
    )
    async def remove_manager(
        self, session: Session, principal: Caller, cooperative_id: FromPath[str], user_id: FromPath[str]
    ) -> None:
        """Their token stops working for this cooperative at once. Audited."""
        await managers.remove_manager(session, principal, cooperative_id, user_id)


routes = [ManagerController]
