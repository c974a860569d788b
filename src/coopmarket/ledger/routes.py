"""HTTP routes of the ledger slice: account balances for district staff."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import QueryParameter

from coopmarket.core.http import Caller, Db
from coopmarket.core.openapi import problems
from coopmarket.ledger import service
from coopmarket.ledger.schemas import BalanceList


class LedgerController(Controller):
    path = "/api/v1/ledger"
    tags = ["ledger"]

    @get(
        "/balances",
        summary="Account balances (district staff)",
        responses=problems(400, 401, 422, codes={403: ["forbidden_role"]}),
    )
    async def balances(
        self,
        db: Db,
        principal: Caller,
        account: Annotated[
            str,
            QueryParameter(
                name="account",
                max_length=128,
                description="Account name prefix, e.g. `escrow:coop:` or `collective_income:370704003200`",
            ),
        ] = "",
    ) -> BalanceList:
        """Balances (debit positive) of the accounts whose name starts with ``account``."""
        async with db.read() as conn:
            return await service.balance_list(conn, principal, account)


routes = [LedgerController]
