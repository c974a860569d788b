"""Where a unit of work begins and ends (db.py): the opener commits or rolls back, and no call to
another system is made while a transaction is open (both databases)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, insert, select, text

from coopmarket.core import clock
from coopmarket.core.principal import Principal
from coopmarket.db import Database, require_no_transaction
from coopmarket.flows import payment as payment_flows
from coopmarket.payments.models import ProviderEvent
from coopmarket.payments.providers import ProviderEvent as Event
from coopmarket.payments.providers import RefundOrder, RefundSent, Started, StartRequest
from coopmarket.payments.registry import PaymentProviders
from tests.orders.builders import build_market, place


async def _events(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(ProviderEvent))).scalar_one())


async def _write_one(session: Any, event_id: str) -> None:
    await session.execute(
        insert(ProviderEvent).values(id=event_id, provider="test", type="test", received_at=clock.now())
    )


async def test_a_unit_of_work_that_ends_normally_is_committed(db: Database) -> None:
    async with db.unit_of_work() as session:
        await _write_one(session, "evt-committed")

    assert await _events(db) == 1


async def test_a_unit_of_work_that_raises_is_rolled_back(db: Database) -> None:
    with pytest.raises(LookupError):
        async with db.unit_of_work() as session:
            await _write_one(session, "evt-rolled-back")
            raise LookupError("the use case refused")

    assert await _events(db) == 0


async def test_a_session_is_outside_a_transaction_until_its_first_statement(db: Database) -> None:
    async with db.unit_of_work() as session:
        require_no_transaction(session, "calling a provider")  # nothing ran yet: allowed
        await session.execute(text("SELECT 1"))
        with pytest.raises(RuntimeError, match="between units of work"):
            require_no_transaction(session, "calling a provider")


class SpyProvider:
    """Records whether it was called; answers like the offline provider."""

    name = "offline"
    sends_refunds = False

    def __init__(self) -> None:
        self.started: list[StartRequest] = []

    async def start(self, request: StartRequest) -> Started:
        self.started.append(request)
        return Started(
            provider="offline",
            provider_ref=None,
            status=None,
            amount_fen=request.amount_fen,
            received_fen=0,
            client_status="requires_offline_payment",
            client_secret=None,
            next_action=None,
        )

    async def refund(self, request: RefundOrder) -> RefundSent:
        raise AssertionError("not called")

    def parse_event(self, payload: bytes, headers: Mapping[str, str]) -> Event:
        raise AssertionError("not called")


async def test_a_payment_is_not_started_inside_an_open_transaction(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given an unpaid order, and a session that already began a transaction
    market = await build_market(client, db)
    order = (await place(client, market.buyer, [(market.sku_a["id"], 1)])).json()
    spy = SpyProvider()
    buyer = Principal(id=market.buyer.id, role="buyer", display_name="buyer")

    async with db.unit_of_work() as session:
        await session.execute(text("SELECT 1"))
        # When the flow would call the provider
        with pytest.raises(RuntimeError, match="between units of work"):
            await payment_flows.start_payment(
                db, session, PaymentProviders({"offline": spy}), buyer, order["id"], None
            )

    # Then the provider was never called
    assert spy.started == []

    # While with no transaction open it is, once
    async with db.unit_of_work() as session:
        answer = await payment_flows.start_payment(
            db, session, PaymentProviders({"offline": spy}), buyer, order["id"], None
        )
    assert [(r.order_id, r.amount_fen) for r in spy.started] == [(order["id"], order["total_fen"])]
    assert answer.status == "requires_offline_payment"
