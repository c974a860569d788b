"""Property tests (hypothesis): a member account's capital equals the sum of its history, and a
cooperative's member and non-member volumes add up to its settled sales, refunds included (as the
ledger records them)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from tests.factories import Actor, approved_cooperative, create_product, ledger_balances, make_staff
from tests.members.test_accounts import account_url, change
from tests.members.test_attribution import add_member, patch_sku, product_of
from tests.orders.builders import Market, build_market
from tests.orders.test_refunds import paid_order, refund, ship_and_receive

_CAPITAL: dict[int, tuple[Actor, dict[str, Any]]] = {}
_MARKETS: dict[int, tuple[Market, str]] = {}

PROPERTY_SETTINGS = settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)


@PROPERTY_SETTINGS
@given(opening=st.integers(0, 10**6), deltas=st.lists(st.integers(-(10**6), 10**6).filter(bool), max_size=6))
async def test_capital_equals_the_sum_of_its_history(
    client: AsyncTestClient[Any], db: Database, opening: int, deltas: list[int]
) -> None:
    if id(db) not in _CAPITAL:
        staff = await make_staff(client, db)
        _CAPITAL[id(db)] = await approved_cooperative(client, staff)
    manager, coop = _CAPITAL[id(db)]
    response = await client.post(
        f"/api/v1/cooperatives/{coop['id']}/members",
        json={"name": "周某", "kind": "household", "capital_fen": opening},
        headers=manager.headers,
    )
    assert response.status_code == 201, response.text
    member = response.json()["id"]
    expected = opening
    for delta in deltas:
        answer = await change(client, manager, coop["id"], member, delta)
        if expected + delta < 0:
            assert answer.status_code == 409
        else:
            assert answer.status_code == 201, answer.text
            expected += delta
    account = (await client.get(account_url(coop["id"], member), headers=manager.headers)).json()
    assert account["capital_fen"] == expected == sum(e["delta_fen"] for e in account["capital_history"])
    for entry in account["capital_history"]:
        assert entry["new_capital_fen"] - entry["old_capital_fen"] == entry["delta_fen"]


order_specs = st.lists(
    st.tuples(
        st.integers(0, 3),  # quantity of the member's SKU
        st.integers(0, 3),  # quantity of the non-member SKU
        st.booleans(),  # received (settled)
        st.integers(0, 100),  # % refunded before receipt (below 100)
        st.integers(0, 100),  # % of the rest refunded after receipt
    ).filter(lambda s: s[0] + s[1] > 0),
    min_size=1,
    max_size=3,
)


def _settled(balances: dict[str, int], coop_id: str) -> int:
    """What the ledger holds of the cooperative's settled sales: its payable, the village's
    collective share and the platform fee (credits are negative). Only cooperative A sells here."""
    return -sum(
        amount
        for account, amount in balances.items()
        if account == f"payable:coop:{coop_id}"
        or account.startswith("collective_income:")
        or account == "revenue:platform_fee"
    )


@PROPERTY_SETTINGS
@given(specs=order_specs)
async def test_member_and_non_member_volumes_add_up_to_settled_sales(
    client: AsyncTestClient[Any], db: Database, specs: list[tuple[int, int, bool, int, int]]
) -> None:
    if id(db) not in _MARKETS:
        market = await build_market(client, db, stock_a=10_000)
        member = await add_member(client, market.manager_a, market.coop_a["id"])
        product_id = await product_of(client, market)
        patched = await patch_sku(client, market.manager_a, product_id, market.sku_a["id"], supplier_member_id=member)
        assert patched.status_code == 200, patched.text
        plain = await create_product(
            client,
            market.manager_a,
            market.coop_a["id"],
            skus=[{"code": "NM-1", "spec": "散装", "price_fen": 777, "stock": 10_000}],
        )
        _MARKETS[id(db)] = (market, plain["skus"][0]["id"])
    market, plain_sku = _MARKETS[id(db)]
    coop_id = market.coop_a["id"]
    volumes_url = f"/api/v1/cooperatives/{coop_id}/transaction-volumes"
    before = (await client.get(volumes_url, headers=market.staff.headers)).json()
    ledger_before = _settled(await ledger_balances(db), coop_id)
    expected_member = expected_non_member = 0
    exact = True
    for member_qty, plain_qty, received, early_pct, late_pct in specs:
        lines = [(sku, qty) for sku, qty in ((market.sku_a["id"], member_qty), (plain_sku, plain_qty)) if qty]
        order = await paid_order(client, market, lines)
        part = order["parts"][0]
        subtotal = part["subtotal_fen"]
        early = subtotal * min(early_pct, 99) // 100
        if early:
            answer = await refund(client, market.staff, order["id"], part["id"], early)
            assert answer.status_code == 201, answer.text
        if not received:
            continue
        await ship_and_receive(client, market, order)
        late = (subtotal - early) * late_pct // 100
        if late:
            answer = await refund(client, market.staff, order["id"], part["id"], late)
            assert answer.status_code == 201, answer.text
        # Without refunds each side is exactly its lines; with them, the refunds are spread by line total.
        if early == late == 0:
            expected_member += member_qty * market.sku_a["price_fen"]
            expected_non_member += plain_qty * 777
        else:
            exact = False
    after = (await client.get(volumes_url, headers=market.staff.headers)).json()
    ledger_after = _settled(await ledger_balances(db), coop_id)
    settled = ledger_after - ledger_before
    member_fen = after["member_fen"] - before["member_fen"]
    non_member_fen = after["non_member_fen"] - before["non_member_fen"]
    assert member_fen + non_member_fen == settled == after["total_fen"] - before["total_fen"]
    assert member_fen >= 0 and non_member_fen >= 0
    if exact:
        assert (member_fen, non_member_fen) == (expected_member, expected_non_member)
    assert sum(m["transaction_volume_fen"] for m in after["by_member"]) == after["member_fen"]
