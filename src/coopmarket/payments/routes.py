"""HTTP routes of the payments slice alone: the reconciliation reports, for district staff.

Paying, refunding and the providers' callbacks join orders and payments: they are in
``flows/routes.py``.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, put
from litestar.params import FromPath, JSONBody, QueryParameter

from coopmarket.core.http import Caller, Db, Session
from coopmarket.core.openapi import problems
from coopmarket.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from coopmarket.payments import reconciliation_runs, sub_merchants
from coopmarket.payments.schemas import (
    ReconciliationRunList,
    ReconciliationRunOut,
    SubMerchantIn,
    SubMerchantOut,
)


class ReconciliationController(Controller):
    path = "/api/v1/reconciliation-runs"
    tags = ["payments"]

    @get(
        "/",
        summary="Reconciliation runs, newest first (district staff)",
        responses=problems(400, 401, codes={403: ["forbidden_role"], 422: ["invalid_cursor"]}),
    )
    async def list_runs(
        self,
        db: Db,
        principal: Caller,
        provider: Annotated[str | None, QueryParameter(name="provider", min_length=1, max_length=16)] = None,
        limit: Annotated[int, QueryParameter(name="limit", ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, QueryParameter(name="cursor", max_length=200)] = None,
    ) -> ReconciliationRunList:
        """What each run looked at, repaired and left for a person; open one for its findings."""
        async with db.read() as conn:
            return await reconciliation_runs.list_runs(
                conn, principal, provider=provider, limit=limit, cursor=cursor
            )

    @get(
        "/{run_id:str}",
        summary="One reconciliation run with its findings (district staff)",
        responses=problems(400, 401, codes={403: ["forbidden_role"], 404: ["reconciliation_run_not_found"]}),
    )
    async def get_run(self, db: Db, principal: Caller, run_id: FromPath[str]) -> ReconciliationRunOut:
        """Every payment or refund whose state differed, and what the run did (``none``: look at it)."""
        async with db.read() as conn:
            return await reconciliation_runs.get_run(conn, principal, run_id)


class SubMerchantController(Controller):
    path = "/api/v1/cooperatives/{cooperative_id:str}/wechat-sub-merchant"
    tags = ["payments"]

    @put(
        "/",
        status_code=200,
        summary="Set a cooperative's WeChat Pay sub-merchant and profit-sharing terms (district staff)",
        responses=problems(400, 401, 413, 422, codes={403: ["forbidden_role"], 404: ["cooperative_not_found"]}),
    )
    async def set_sub_merchant(
        self, session: Session, principal: Caller, cooperative_id: FromPath[str], data: JSONBody[SubMerchantIn]
    ) -> SubMerchantOut:
        """Partner mode: payments for the cooperative go to ``sub_mchid``; settled parts share the
        platform fee and the collective's share within ``max_ratio_bps``. Audited."""
        return await sub_merchants.set_sub_merchant(session, principal, cooperative_id, data)


routes = [ReconciliationController, SubMerchantController]
