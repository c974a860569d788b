"""The database connection lost in the middle of a checkout or of a ledger posting: the client is
told to retry (503), nothing is half-written, and the retry with the same key takes effect once."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from coopmarket.db import Database
from tests.faults.injection import connection_lost_at, driver_connection_lost_at
from tests.orders.builders import build_market, place

COUNTED = ("orders", "order_part", "order_line", "payment", "ledger_transaction", "ledger_posting")


async def _state(db: Database, sku_ids: list[str]) -> dict[str, Any]:
    """What a half-written change would leave: rows, stock, stock history, ledger balance, keys."""
    async with db.read() as conn:
        state: dict[str, Any] = {
            table: await conn.scalar(text(f'SELECT count(*) FROM "{table}"'))  # noqa: S608 - fixed names
            for table in COUNTED
        }
        state["trial_balance"] = await conn.scalar(
            text("SELECT coalesce(sum(amount_fen), 0) FROM ledger_posting")
        )
        for sku_id in sku_ids:
            state[f"stock:{sku_id}"] = await conn.scalar(
                text("SELECT stock FROM sku WHERE id = :id"), {"id": sku_id}
            )
        state["order_stock_moves"] = await conn.scalar(
            text("SELECT count(*) FROM stock_adjustment WHERE order_id IS NOT NULL")
        )
        state["keys_in_progress"] = await conn.scalar(
            text("SELECT count(*) FROM idempotency_key WHERE status = 'in_progress'")
        )
    return state


@pytest.mark.parametrize("path", ["sqlalchemy", "driver"])
async def test_a_connection_lost_in_the_middle_of_checkout_leaves_nothing_half_written(
    client: AsyncTestClient[Any], db: Database, path: str
) -> None:
    # Checkout's statements run on the asyncpg connection itself on PostgreSQL (coopmarket.db's
    # driver path); with anyone listening to SQLAlchemy's cursor events they go through SQLAlchemy.
    if path == "driver" and db.dialect != "postgresql":
        pytest.skip("the driver path runs on PostgreSQL only")
    injector = driver_connection_lost_at if path == "driver" else connection_lost_at
    # Given a market and a buyer ordering from two cooperatives
    market = await build_market(client, db)
    skus = [market.sku_a["id"], market.sku_b["id"]]
    before = await _state(db, skus)
    lines = [(market.sku_a["id"], 2), (market.sku_b["id"], 1)]

    # When the connection is lost after the stock was taken and the order written, before its lines
    with injector(client.app, "INSERT INTO order_line") as fault:
        lost = await place(client, market.buyer, lines, key="checkout-lost-1")

    # Then the buyer is told to retry, and nothing of the order is left: no rows, the stock and its
    # history as before, the key free for the retry
    assert fault.fired == 1, fault.seen
    assert lost.status_code == 503, lost.text
    assert lost.json()["code"] == "database_unavailable"
    assert lost.headers["retry-after"] == "1"
    assert await _state(db, skus) == before

    # And the retry with the same key places the order once, and a repeat answers the same order
    retry = await place(client, market.buyer, lines, key="checkout-lost-1")
    assert retry.status_code == 201, retry.text
    repeat = await place(client, market.buyer, lines, key="checkout-lost-1")
    assert (repeat.status_code, repeat.json()["id"]) == (201, retry.json()["id"])
    after = await _state(db, skus)
    assert (after["orders"], after["order_part"], after["order_line"]) == (1, 2, 2)
    assert after[f"stock:{market.sku_a['id']}"] == before[f"stock:{market.sku_a['id']}"] - 2
    assert after[f"stock:{market.sku_b['id']}"] == before[f"stock:{market.sku_b['id']}"] - 1
    assert after["order_stock_moves"] == 2
    assert after["keys_in_progress"] == 0


async def test_a_connection_lost_while_posting_a_payment_to_the_ledger_records_nothing(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given an unpaid order
    market = await build_market(client, db)
    order = (await place(client, market.buyer, [(market.sku_a["id"], 1)])).json()
    skus = [market.sku_a["id"]]
    before = await _state(db, skus)
    payment = {"reference": "农商银行转账 20261203-01", "amount_fen": order["total_fen"]}

    # When staff record its offline payment and the connection is lost in the middle of the posting
    with connection_lost_at(client.app, "INSERT INTO ledger_posting") as fault:
        lost = await client.post(
            f"/api/v1/orders/{order['id']}/offline-payments", json=payment, headers=market.staff.headers
        )

    # Then nothing is recorded: no payment, no half transaction, the order still awaits payment
    assert fault.fired == 1, fault.seen
    assert (lost.status_code, lost.json()["code"]) == (503, "database_unavailable")
    assert await _state(db, skus) == before
    fetched = await client.get(f"/api/v1/orders/{order['id']}", headers=market.buyer.headers)
    assert fetched.json()["status"] == "pending_payment"

    # And recording it again works once, with a balanced ledger
    again = await client.post(
        f"/api/v1/orders/{order['id']}/offline-payments", json=payment, headers=market.staff.headers
    )
    assert again.status_code == 201, again.text
    after = await _state(db, skus)
    assert (after["payment"], after["ledger_transaction"]) == (1, 1)
    assert after["trial_balance"] == 0


async def test_a_connection_lost_while_settling_a_received_part_settles_it_later_exactly_once(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given a paid, shipped part
    market = await build_market(client, db)
    order = (await place(client, market.buyer, [(market.sku_a["id"], 1)])).json()
    part = order["parts"][0]
    paid = await client.post(
        f"/api/v1/orders/{order['id']}/offline-payments",
        json={"reference": "现金 0001", "amount_fen": order["total_fen"]},
        headers=market.staff.headers,
    )
    assert paid.status_code == 201, paid.text
    shipped = await client.post(
        f"/api/v1/orders/{order['id']}/parts/{part['id']}/ship",
        json={"carrier": "中国邮政", "tracking_number": "9876543210"},
        headers=market.manager_a.headers,
    )
    assert shipped.status_code == 200, shipped.text
    before = await _state(db, [])

    # When the buyer confirms receipt and the connection is lost while the settlement is posted
    receive = f"/api/v1/orders/{order['id']}/parts/{part['id']}/receive"
    with connection_lost_at(client.app, "INSERT INTO ledger_posting") as fault:
        lost = await client.post(receive, headers=market.buyer.headers)

    # Then the part is still shipped, nothing was settled; the retry settles it once
    assert fault.fired == 1, fault.seen
    assert (lost.status_code, lost.json()["code"]) == (503, "database_unavailable")
    assert await _state(db, []) == before
    received = await client.post(receive, headers=market.buyer.headers)
    assert received.status_code == 200, received.text
    assert received.json()["parts"][0]["status"] == "received"
    after = await _state(db, [])
    assert after["ledger_transaction"] == before["ledger_transaction"] + 1
    assert after["trial_balance"] == 0
