"""Village registers for tests: staff of each level, assets and contracts created through the API."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import text

from coopmarket.core import clock
from coopmarket.core.identity import resident_id_check_character
from coopmarket.db import Database
from tests.factories import OTHER_STREET, OTHER_VILLAGE, STREET, VILLAGE, Actor, make_staff

_counter = itertools.count(1)

SAME_STREET_VILLAGE = "370704003201"  # 辛冬一村村委会, 凤凰街道 (VILLAGE's street)
# Noon in Fangzi on 15 June 2026: "today" for most tests.
NOW = datetime(2026, 6, 15, 4, 0, tzinfo=UTC)
TODAY = date(2026, 6, 15)
APPROVAL = "坊子区凤凰街道赵家村村民代表会议决议〔2025〕12号"


def resident_id(birth: str = "19800101", region: str = "370704", sequence: int | None = None) -> str:
    """A valid resident identity number (GB 11643), unique per call unless ``sequence`` is given."""
    first17 = f"{region}{birth}{(sequence if sequence is not None else next(_counter)) % 1000:03d}"
    return first17 + resident_id_check_character(first17)


def at_local_noon(day: date) -> datetime:
    """Noon in Asia/Shanghai on ``day``, as the clock is set."""
    return datetime(day.year, day.month, day.day, 4, 0, tzinfo=UTC)


def set_today(day: date) -> None:
    clock.set_now(at_local_noon(day))


async def staff(client: AsyncTestClient[Any], db: Database, role: str, region: str) -> Actor:
    return await make_staff(client, db, role=role, region_code=region)


async def village_staff(client: AsyncTestClient[Any], db: Database, village: str = VILLAGE) -> Actor:
    return await staff(client, db, "village_staff", village)


async def street_staff(client: AsyncTestClient[Any], db: Database, street: str = STREET) -> Actor:
    return await staff(client, db, "street_staff", street)


def asset_payload(**overrides: Any) -> dict[str, Any]:
    n = next(_counter)
    payload: dict[str, Any] = {
        "kind": "farmland",
        "name": f"东洼机动地{n}号",
        "size": 50,
        "size_unit": "mu",
        "location": "村东南，北邻潍坊大道",
        "status": "idle",
        "valuation_fen": 50_000_000,
        "valued_on": "2025-06-30",
    }
    payload.update(overrides)
    return payload


async def create_asset(
    client: AsyncTestClient[Any], actor: Actor, village: str = VILLAGE, **overrides: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/villages/{village}/assets", json=asset_payload(**overrides), headers=actor.headers
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def contract_payload(asset_id: str, **overrides: Any) -> dict[str, Any]:
    n = next(_counter)
    payload: dict[str, Any] = {
        "asset_id": asset_id,
        "counterparty": {"kind": "person", "name": "王建国", "id_number": resident_id()},
        "starts_on": "2026-01-01",
        "ends_on": "2028-12-31",
        "annual_rent_fen": 5_000_000,
        "schedule": "yearly",
        "document_ref": f"坊凤赵合〔2026〕{n}号",
        "approval_ref": APPROVAL,
    }
    payload.update(overrides)
    return payload


async def create_contract(
    client: AsyncTestClient[Any],
    actor: Actor,
    asset_id: str | None = None,
    village: str = VILLAGE,
    **overrides: Any,
) -> dict[str, Any]:
    """A contract (on a new idle asset unless ``asset_id`` is given); returns the API's answer."""
    if asset_id is None:
        asset_id = (await create_asset(client, actor, village))["id"]
    response = await client.post(
        f"/api/v1/villages/{village}/contracts",
        json=contract_payload(asset_id, **overrides),
        headers=actor.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def instalments(client: AsyncTestClient[Any], actor: Actor, contract_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/contracts/{contract_id}/instalments", headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


async def pay(
    client: AsyncTestClient[Any],
    actor: Actor,
    instalment_id: str,
    amount_fen: int,
    received_on: date | str,
    *,
    reference: str | None = None,
    key: str | None = None,
) -> Any:
    """POST a receipt; returns the raw response."""
    return await client.post(
        f"/api/v1/instalments/{instalment_id}/receipts",
        json={
            "amount_fen": amount_fen,
            "received_on": str(received_on),
            "reference": reference or f"收据No.{next(_counter):06d}",
        },
        headers={**actor.headers, "Idempotency-Key": key or f"receipt-{next(_counter)}"},
    )


TABLES = (
    "village_asset",
    "asset_status_event",
    "village_contract",
    "contract_termination",
    "contract_instalment",
    "instalment_movement",
    "contract_reminder",
    "contract_flag",
    "ledger_transaction",
    "ledger_posting",
    "audit_entry",
)


async def snapshot(db: Database) -> dict[str, Any]:
    """Every row of the slice's tables (and the ledger's and audit's counts): what a refusal must not change."""
    out: dict[str, Any] = {}
    async with db.read() as conn:
        for table in TABLES:
            if table in ("ledger_transaction", "ledger_posting", "audit_entry"):
                out[table] = (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()  # noqa: S608
            else:
                rows = (await conn.execute(text(f"SELECT * FROM {table} ORDER BY id"))).all()  # noqa: S608
                out[table] = [tuple(row) for row in rows]
    return out


__all__ = [
    "APPROVAL",
    "NOW",
    "OTHER_STREET",
    "OTHER_VILLAGE",
    "SAME_STREET_VILLAGE",
    "STREET",
    "TODAY",
    "VILLAGE",
    "asset_payload",
    "at_local_noon",
    "contract_payload",
    "create_asset",
    "create_contract",
    "instalments",
    "pay",
    "resident_id",
    "set_today",
    "snapshot",
    "staff",
    "street_staff",
    "village_staff",
]
