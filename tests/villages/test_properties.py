"""Property: whatever contracts, receipts and write-offs happen, the ledger holds exactly the money
received as contracting income, and the arrears are exactly what fell due less what was received
and written off; the campaign's arrears reconcile over any period.

Runs through the HTTP API on each database. Examples share one village, so every check is on the
example's own contracts or on differences from the state before it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from coopmarket.villages import schedule
from tests.factories import ledger_balances
from tests.villages.builders import VILLAGE, Actor, create_asset, pay, set_today, street_staff, village_staff

INCOME = f"collective_income:{VILLAGE}:contracting_income"
FUNDS = f"collective_funds:{VILLAGE}"
_keys = itertools.count(1)
# Staff per test database: created at the first example, before every example's clock.
_ACTORS: dict[int, dict[str, Actor]] = {}


@dataclass(frozen=True)
class ContractSpec:
    starts_on: date
    days: int
    annual_rent_fen: int
    schedule: str


@dataclass(frozen=True)
class Action:
    contract: int
    instalment: int
    kind: str  # receipt | write_off
    percent: int
    days_after_due: int


contract_specs = st.builds(
    ContractSpec,
    starts_on=st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 6, 30)),
    days=st.integers(min_value=0, max_value=3 * 366),
    annual_rent_fen=st.integers(min_value=1, max_value=100_000_000),
    schedule=st.sampled_from(schedule.SCHEDULES),
)
actions = st.builds(
    Action,
    contract=st.integers(min_value=0, max_value=2),
    instalment=st.integers(min_value=0, max_value=12),
    kind=st.sampled_from(["receipt", "receipt", "write_off"]),
    percent=st.integers(min_value=1, max_value=120),
    days_after_due=st.integers(min_value=-60, max_value=400),
)


async def _arrears_of(client: AsyncTestClient[Any], actor: Actor, contract_ids: set[str]) -> int:
    response = await client.get("/api/v1/arrears", headers=actor.headers)
    assert response.status_code == 200, response.text
    return sum(
        line["outstanding_fen"]
        for village in response.json()["villages"]
        for line in village["instalments"]
        if line["contract_id"] in contract_ids
    )


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
@given(
    specs=st.lists(contract_specs, min_size=1, max_size=3),
    steps=st.lists(actions, max_size=8),
    today_offset=st.integers(min_value=0, max_value=400),
    later=st.integers(min_value=0, max_value=900),
)
async def test_ledger_income_equals_receipts_and_arrears_equal_due_less_receipts_and_write_offs(
    client: AsyncTestClient[Any],
    db: Database,
    specs: list[ContractSpec],
    steps: list[Action],
    today_offset: int,
    later: int,
) -> None:
    actors = _ACTORS.setdefault(id(db), {})
    if not actors:
        set_today(date(2023, 12, 1))  # before every example's clock, so the tokens stay valid
        actors["keeper"] = await village_staff(client, db)
        actors["street"] = await street_staff(client, db)
    keeper, street = actors["keeper"], actors["street"]
    today = date(2026, 7, 1) + timedelta(days=today_offset)
    set_today(today)
    before = await ledger_balances(db, "collective_")
    # Given contracts with the schedules the pure module computes
    contracts: list[tuple[str, list[dict[str, Any]]]] = []
    for spec in specs:
        asset = await create_asset(client, keeper, status="in_use")
        ends_on = spec.starts_on + timedelta(days=spec.days)
        response = await client.post(
            f"/api/v1/villages/{VILLAGE}/contracts",
            json={
                "asset_id": asset["id"],
                "counterparty": {"kind": "person", "name": "测试户"},
                "starts_on": spec.starts_on.isoformat(),
                "ends_on": ends_on.isoformat(),
                "annual_rent_fen": spec.annual_rent_fen,
                "schedule": spec.schedule,
                "document_ref": f"P-{next(_keys)}",
                "approval_ref": "决议",
            },
            headers=keeper.headers,
        )
        assert response.status_code == 201, response.text
        listed = await client.get(
            f"/api/v1/contracts/{response.json()['id']}/instalments", headers=keeper.headers
        )
        items = listed.json()["items"]
        planned = schedule.build(spec.starts_on, ends_on, spec.annual_rent_fen, spec.schedule)
        assert [(i["due_on"], i["amount_fen"]) for i in items] == [
            (p.due_on.isoformat(), p.amount_fen) for p in planned
        ]
        contracts.append((response.json()["id"], items))
    # When receipts and write-offs are attempted (some refused: too much, not yet due, settled)
    received = 0
    settled: dict[str, tuple[int, int]] = {i["id"]: (0, 0) for _, items in contracts for i in items}
    amounts = {
        i["id"]: (i["amount_fen"], date.fromisoformat(i["due_on"])) for _, items in contracts for i in items
    }
    for step in steps:
        _, items = contracts[step.contract % len(contracts)]
        if not items:
            continue
        target = items[step.instalment % len(items)]
        amount, due_on = amounts[target["id"]]
        paid, written = settled[target["id"]]
        if step.kind == "receipt":
            want = max(1, (amount * step.percent) // 100)
            on = min(today, due_on + timedelta(days=step.days_after_due))
            response = await pay(client, keeper, target["id"], want, on)
            if paid + written + want <= amount:
                assert response.status_code == 201, response.text
                settled[target["id"]] = (paid + want, written)
                received += want
            else:
                assert (response.status_code, response.json()["code"]) == (409, "receipt_exceeds_due")
        else:
            response = await client.post(
                f"/api/v1/instalments/{target['id']}/write-off",
                json={"reason": "测试核销"},
                headers=street.headers,
            )
            if paid + written >= amount:
                assert response.json()["code"] == "instalment_settled", response.text
            elif due_on >= today:
                assert response.json()["code"] == "instalment_not_in_arrears", response.text
            else:
                assert response.status_code == 201, response.text
                settled[target["id"]] = (paid, amount - paid)
    # Then the ledger moved by exactly the money received, as contracting income
    after = await ledger_balances(db, "collective_")
    assert after.get(INCOME, 0) - before.get(INCOME, 0) == -received
    assert after.get(FUNDS, 0) - before.get(FUNDS, 0) == received
    # And the arrears are what fell due before today less receipts and write-offs, now and later
    ids = {contract_id for contract_id, _ in contracts}
    for day in (today, today + timedelta(days=later)):
        set_today(day)
        expected = sum(
            amount - sum(settled[instalment_id])
            for instalment_id, (amount, due_on) in amounts.items()
            if due_on < day
        )
        assert await _arrears_of(client, keeper, ids) == expected, day
    # And the campaign's arrears reconcile over the period from the first start to the last day
    first = min(spec.starts_on for spec in specs)
    response = await client.get(
        "/api/v1/contract-campaign",
        params={"from": max(first, day - timedelta(days=3 * 365)).isoformat(), "to": day.isoformat()},
        headers=keeper.headers,
    )
    assert response.status_code == 200, response.text
    total = response.json()["total"]
    assert total["arrears_closing_fen"] == (
        total["arrears_opening_fen"]
        + total["arrears_arisen_fen"]
        - total["arrears_recovered_fen"]
        - total["arrears_written_off_fen"]
        - total["arrears_cancelled_fen"]
    )
