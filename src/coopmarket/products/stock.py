"""Moving stock, and recording every move in the same transaction.

A SKU's stock changes only here: one UPDATE moves the stock (conditionally, when it must not go
below zero), increments ``sku.stock_version`` and returns both, and the history row
(``stock_adjustment``) takes them as ``stock_after`` and ``seq``. So ``stock_after`` is exact and the
history is totally ordered per SKU even when orders, cancellations and managers act at once: the
row lock of the UPDATE serialises them. On PostgreSQL the UPDATE and the INSERT are one statement
(a data-modifying CTE), so recording costs checkout no extra round trip; SQLite runs them in turn
inside the same write transaction.

Every function here joins the caller's transaction and never commits.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, Integer, String, Update, bindparam, insert, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from coopmarket.core import clock
from coopmarket.core.ids import new_id
from coopmarket.core.types import UTCDateTime
from coopmarket.db import fetch_all
from coopmarket.products.models import Sku, StockAdjustment
from coopmarket.products.schemas import MAX_STOCK

_sku_table = Sku.metadata.tables["sku"]
_history_table = StockAdjustment.metadata.tables["stock_adjustment"]
S = _sku_table.c
H = _history_table.c

# Kinds of stock change (``stock_adjustment.kind``).
ADJUSTMENT = "adjustment"  # a manager's manual change
CREATED = "created"  # the stock a new SKU starts with
IMPORTED = "import"  # set by a bulk import
ORDER = "order"  # taken by an order
ORDER_RELEASE = "order_release"  # given back: cancellation, expiry, refund before shipping
KINDS = (ADJUSTMENT, CREATED, IMPORTED, ORDER, ORDER_RELEASE)

# Guards of the UPDATE: what must hold for the change to happen.
ENOUGH_STOCK = "enough_stock"  # stock >= the quantity taken (checkout)
WITHIN_LIMITS = "within_limits"  # 0 <= stock + delta <= MAX_STOCK (managers)
UNGUARDED = "unguarded"  # giving stock back

REASON_MAX_LENGTH = 200
_HISTORY_COLUMNS = [
    "id",
    "sku_id",
    "seq",
    "kind",
    "delta",
    "stock_after",
    "reason",
    "actor_id",
    "order_id",
    "created_at",
]

Connection = AsyncSession | AsyncConnection


@dataclass(frozen=True, slots=True)
class StockChange:
    stock: int  # the stock after the change
    seq: int  # its place in the SKU's history


# Bind parameter names never equal a column name: SQLAlchemy would take such a key of the
# execution parameters for a column to SET.
def _update(guard: str) -> Update:
    new_stock = S.stock + bindparam("stock_delta", type_=Integer)
    conditions = [S.id == bindparam("stock_sku_id")]
    if guard == ENOUGH_STOCK:
        conditions.append(S.stock >= bindparam("stock_min", type_=Integer))
    elif guard == WITHIN_LIMITS:
        conditions += [new_stock >= 0, new_stock <= MAX_STOCK]
    return (
        update(_sku_table)
        .where(*conditions)
        .values(stock=new_stock, stock_version=S.stock_version + literal_column("1"))
        .returning(S.id, S.stock, S.stock_version)
    )


def _history_values() -> dict[str, Any]:
    return {
        "id": bindparam("h_id", type_=String),
        "kind": bindparam("h_kind", type_=String),
        "delta": bindparam("h_delta", type_=Integer),
        "reason": bindparam("h_reason", type_=String),
        "actor_id": bindparam("h_actor_id", type_=String),
        "order_id": bindparam("h_order_id", type_=String),
        "created_at": bindparam("h_at", type_=UTCDateTime),
    }


@functools.cache
def _combined_statement(guard: str) -> Insert:
    """PostgreSQL: ``WITH changed AS (UPDATE sku … RETURNING …) INSERT INTO stock_adjustment
    SELECT … FROM changed RETURNING stock_after, seq``; no row when the guard failed."""
    changed = _update(guard).cte("changed")
    values = _history_values()
    rows = select(
        values["id"],
        changed.c.id,
        changed.c.stock_version,
        values["kind"],
        values["delta"],
        changed.c.stock,
        values["reason"],
        values["actor_id"],
        values["order_id"],
        values["created_at"],
    )
    return (
        insert(_history_table)
        .from_select(_HISTORY_COLUMNS, rows)
        .returning(H.stock_after, H.seq)
        .add_cte(changed)
    )


_update_statement = functools.cache(_update)
_INSERT_HISTORY = insert(_history_table)


def dialect_name(conn: Connection) -> str:
    """``postgresql`` or ``sqlite``: the database behind a session or a connection."""
    if isinstance(conn, AsyncSession):
        return conn.get_bind().dialect.name
    return conn.dialect.name


async def change_stock(
    conn: Connection,
    sku_id: str,
    delta: int,
    *,
    guard: str,
    kind: str,
    reason: str,
    actor_id: str | None,
    order_id: str | None = None,
) -> StockChange | None:
    """Move a SKU's stock by ``delta`` if ``guard`` holds, and record it; ``None`` when it did not
    hold (or the SKU does not exist). Joins the caller's transaction."""
    now = clock.now()
    history_id = new_id()
    reason = reason[:REASON_MAX_LENGTH]
    moved: dict[str, Any] = {"stock_sku_id": sku_id, "stock_delta": delta}
    if guard == ENOUGH_STOCK:
        moved["stock_min"] = -delta
    if dialect_name(conn) == "postgresql":
        params = {
            **moved,
            "h_id": history_id,
            "h_kind": kind,
            "h_delta": delta,
            "h_reason": reason,
            "h_actor_id": actor_id,
            "h_order_id": order_id,
            "h_at": now,
        }
        rows = await fetch_all(conn, _combined_statement(guard), params)
        return StockChange(stock=rows[0][0], seq=rows[0][1]) if rows else None
    row = (await conn.execute(_update_statement(guard), moved)).one_or_none()
    if row is None:
        return None
    change = StockChange(stock=row[1], seq=row[2])
    history = {
        "id": history_id,
        "sku_id": sku_id,
        "seq": change.seq,
        "kind": kind,
        "delta": delta,
        "stock_after": change.stock,
        "reason": reason,
        "actor_id": actor_id,
        "order_id": order_id,
        "created_at": now,
    }
    await conn.execute(_INSERT_HISTORY, [history])
    return change


def opening_history(
    skus: Iterable[tuple[str, int]], *, kind: str, reason: str, actor_id: str, at: datetime
) -> list[dict[str, Any]]:
    """History rows for new SKUs ``(sku_id, stock)`` created with stock (``seq`` 1); a SKU created
    with none has no history yet. The SKUs must be written with ``initial_stock_version``."""
    return [
        {
            "id": new_id(),
            "sku_id": sku_id,
            "seq": 1,
            "kind": kind,
            "delta": stock,
            "stock_after": stock,
            "reason": reason[:REASON_MAX_LENGTH],
            "actor_id": actor_id,
            "order_id": None,
            "created_at": at,
        }
        for sku_id, stock in skus
        if stock > 0
    ]


def initial_stock_version(stock: int) -> int:
    """``stock_version`` of a SKU created with ``stock``: 1 when that opening stock is recorded."""
    return 1 if stock > 0 else 0


async def insert_history(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Write history rows built by ``opening_history`` (one multi-row INSERT). Joins the caller's
    transaction."""
    if rows:
        await conn.execute(_INSERT_HISTORY, rows)
