"""GET /api/v1/ledger/balances: account balances for district staff only."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from coopmarket.ledger import posting
from tests.factories import STREET, make_staff, register_buyer
from tests.ledger.builders import post_committed, settle_part

COOP = "01hcoop0000000000000000001"
OTHER_COOP = "01hcoop0000000000000000002"
VILLAGE = "370704003200"
URL = "/api/v1/ledger/balances"


async def _paid_and_settled(db: Database) -> None:
    await post_committed(
        db, posting.payment_received_entries("offline", 13_990, [(COOP, 3990), (OTHER_COOP, 10_000)])
    )
    await settle_part(db, cooperative_id=COOP, village_code=VILLAGE, subtotal_fen=3990)


async def test_district_staff_see_exact_balances_for_a_prefix(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given a payment to two cooperatives and one part settled (3% fee, 10% to the village)
    await _paid_and_settled(db)
    staff = await make_staff(client, db)
    # When district staff ask for the escrow and payable accounts
    escrow = await client.get(URL, params={"account": "escrow:"}, headers=staff.headers)
    payable = await client.get(URL, params={"account": "payable:coop:"}, headers=staff.headers)
    # Then each balance is the sum of its postings, debit positive
    assert escrow.status_code == 200
    assert escrow.json() == {
        "items": [
            {"account": f"escrow:coop:{COOP}", "balance_fen": 0},
            {"account": f"escrow:coop:{OTHER_COOP}", "balance_fen": -10_000},
        ]
    }
    assert payable.json() == {"items": [{"account": f"payable:coop:{COOP}", "balance_fen": -3471}]}


async def test_without_a_prefix_every_account_is_listed_and_they_sum_to_zero(
    client: AsyncTestClient[Any], db: Database
) -> None:
    await _paid_and_settled(db)
    staff = await make_staff(client, db)
    response = await client.get(URL, headers=staff.headers)
    assert response.status_code == 200
    assert response.json()["items"] == [
        {"account": "cash:offline", "balance_fen": 13_990},
        {"account": f"collective_income:{VILLAGE}:operating_income", "balance_fen": -399},
        {"account": f"escrow:coop:{COOP}", "balance_fen": 0},
        {"account": f"escrow:coop:{OTHER_COOP}", "balance_fen": -10_000},
        {"account": f"payable:coop:{COOP}", "balance_fen": -3471},
        {"account": "revenue:platform_fee", "balance_fen": -120},
    ]


async def test_an_unknown_prefix_lists_nothing(client: AsyncTestClient[Any], db: Database) -> None:
    await _paid_and_settled(db)
    staff = await make_staff(client, db)
    response = await client.get(URL, params={"account": "nothing:"}, headers=staff.headers)
    assert response.status_code == 200
    assert response.json() == {"items": []}


@pytest.mark.parametrize("who", ["buyer", "street_staff"])
async def test_only_district_staff_may_read_balances(
    client: AsyncTestClient[Any], db: Database, who: str
) -> None:
    # Given a posted ledger and a caller who is not district staff
    await _paid_and_settled(db)
    if who == "buyer":
        caller = await register_buyer(client)
    else:
        caller = await make_staff(client, db, role="street_staff", region_code=STREET)
    # When they ask for balances / Then 403 forbidden_role and no figures
    response = await client.get(URL, params={"account": "cash:"}, headers=caller.headers)
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "forbidden_role"
    assert "items" not in body


async def test_anonymous_callers_must_sign_in(client: AsyncTestClient[Any], db: Database) -> None:
    await _paid_and_settled(db)
    response = await client.get(URL, params={"account": "cash:"})
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
