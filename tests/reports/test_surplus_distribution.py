"""Surplus distribution (Art. 42-44): the DOMAIN.md worked example to the fen, the surplus from the
ledger, confirmation posting once to the ledger and the member accounts, the 60% rule, and who may
draft, confirm and read."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from coopmarket.audit.models import AuditEntry
from coopmarket.core import clock
from coopmarket.db import Database
from coopmarket.ledger import posting
from coopmarket.ledger import service as ledger_service
from tests.factories import OTHER_STREET, STREET, VILLAGE, make_staff, register_buyer
from tests.members.test_accounts import account_url
from tests.members.test_attribution import add_member, patch_sku, product_of
from tests.orders.builders import Market, build_market
from tests.orders.test_refunds import paid_order, refund, ship_and_receive

URL = "/api/v1/cooperatives"
YEAR = clock.now().year  # the orders below settle now


def draft_url(coop_id: str) -> str:
    return f"{URL}/{coop_id}/surplus-distributions"


def confirm_url(distribution_id: str) -> str:
    return f"/api/v1/surplus-distributions/{distribution_id}/confirm"


async def member_of_kind(
    client: AsyncTestClient[Any], market: Market, name: str, kind: str, capital: int
) -> str:
    response = await client.post(
        f"{URL}/{market.coop_a['id']}/members",
        json={"name": name, "kind": kind, "capital_fen": capital},
        headers=market.manager_a.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]  # type: ignore[no-any-return]


async def sell(
    client: AsyncTestClient[Any], market: Market, member: str | None, quantity: int
) -> dict[str, Any]:
    """A settled order of ``quantity`` × 3990 fen supplied by ``member`` (``None``: as the SKU stands)."""
    if member is not None:
        product_id = await product_of(client, market)
        response = await patch_sku(
            client, market.manager_a, product_id, market.sku_a["id"], supplier_member_id=member
        )
        assert response.status_code == 200, response.text
    order = await paid_order(client, market, [(market.sku_a["id"], quantity)])
    await ship_and_receive(client, market, order)
    return order


async def balance(db: Database, account: str) -> int:
    async with db.read() as conn:
        return sum(b for name, b in await ledger_service.balances(conn, account) if name == account)


async def audit_count(db: Database, entity_id: str, action: str) -> int:
    table = AuditEntry.__table__  # type: ignore[attr-defined]
    async with db.read() as conn:
        stmt = select(func.count()).where(table.c.entity_id == entity_id, table.c.action == action)
        return int((await conn.execute(stmt)).scalar_one())


async def test_the_worked_example_reproduces_exactly_and_confirms_once(
    client: AsyncTestClient[Any], db: Database
) -> None:
    """DOMAIN.md: surplus 400,000 yuan, reserve 10% → 40,000; 360,000 distributable; 70% by
    transaction → 252,000; 108,000 by capital (cooperative A's charter: 10% and 70%)."""
    market = await build_market(client, db)
    zhao = await add_member(client, market.manager_a, market.coop_a["id"], "赵大山")  # capital 100,000 fen
    village = await member_of_kind(client, market, "赵家村股份经济合作社", "village_collective", 300_000)
    qian = await add_member(client, market.manager_a, market.coop_a["id"], "钱小河")  # no sales
    await sell(client, market, None, 3)  # before attribution, a non-member's: counts for nobody
    await sell(client, market, zhao, 2)  # 7,980
    await sell(client, market, village, 1)  # 3,990

    response = await client.post(
        draft_url(market.coop_a["id"]),
        json={"year": YEAR, "surplus_fen": 40_000_000, "surplus_reason": "账簿在镇农经站"},
        headers=market.manager_a.headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "draft" and body["surplus_source"] == "entered"
    assert (body["reserve_rate_bps"], body["patronage_return_bps"]) == (1000, 7000)  # the charter's
    assert body["surplus_fen"] == 40_000_000
    assert body["reserve_fen"] == 4_000_000
    assert body["distributable_fen"] == 36_000_000
    assert body["patronage_pool_fen"] == 25_200_000
    assert body["capital_pool_fen"] == 10_800_000
    members = {m["member_id"]: m for m in body["members"]}
    # By transaction 7,980 : 3,990 = 2 : 1; by capital 100,000 : 300,000 : 100,000.
    assert (members[zhao]["patronage_return_fen"], members[zhao]["capital_return_fen"]) == (
        16_800_000,
        2_160_000,
    )
    assert (members[village]["patronage_return_fen"], members[village]["capital_return_fen"]) == (
        8_400_000,
        6_480_000,
    )
    assert (members[qian]["patronage_return_fen"], members[qian]["capital_return_fen"]) == (0, 2_160_000)
    assert [members[m]["total_fen"] for m in (zhao, village, qian)] == [18_960_000, 14_880_000, 2_160_000]
    # The reserve quantified by return: 4,000,000 × 18.96/36, × 14.88/36, × 2.16/36, largest remainder.
    assert [members[m]["reserve_share_fen"] for m in (zhao, village, qian)] == [2_106_667, 1_653_333, 240_000]
    assert sum(m["reserve_share_fen"] for m in body["members"]) == body["reserve_fen"]
    assert sum(m["total_fen"] for m in body["members"]) == body["distributable_fen"]

    confirmed = await client.post(confirm_url(body["id"]), headers=market.manager_a.headers)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "confirmed"
    transaction_id = confirmed.json()["ledger_transaction_id"]
    assert transaction_id
    coop_id = market.coop_a["id"]
    assert await balance(db, posting.coop_surplus(coop_id)) == 40_000_000
    assert await balance(db, posting.coop_reserve(coop_id)) == -4_000_000
    assert await balance(db, posting.member_payable(zhao)) == -18_960_000
    assert await balance(db, posting.member_payable(qian)) == -2_160_000
    # The village collective's return is its investment income.
    assert await balance(db, posting.collective_income(VILLAGE, "investment_income")) == -14_880_000
    assert await balance(db, posting.member_payable(village)) == 0
    async with db.read() as conn:
        assert await ledger_service.trial_balance(conn) == 0
    report = await client.get(
        "/api/v1/reports/collective-income",
        params={"from": f"{YEAR}-01-01", "to": f"{YEAR}-12-31", "region_code": VILLAGE},
        headers=market.staff.headers,
    )
    assert report.status_code == 200, report.text
    village_item = next(i for i in report.json()["items"] if i["region_code"] == VILLAGE)
    assert village_item["by_category"]["investment_income"] == 14_880_000

    account = (await client.get(account_url(coop_id, zhao), headers=market.manager_a.headers)).json()
    assert (account["reserve_share_fen"], account["returns_fen"]) == (2_106_667, 18_960_000)
    assert account["returns"][0]["year"] == YEAR
    assert await audit_count(db, body["id"], "cooperative.surplus_distribution_confirmed") == 1

    # Idempotent: confirming again answers the same and posts nothing.
    again = await client.post(confirm_url(body["id"]), headers=market.manager_a.headers)
    assert again.status_code == 200 and again.json()["ledger_transaction_id"] == transaction_id
    assert await balance(db, posting.coop_surplus(coop_id)) == 40_000_000
    assert await audit_count(db, body["id"], "cooperative.surplus_distribution_confirmed") == 1
    # A year is distributed once.
    second = await client.post(
        draft_url(coop_id),
        json={"year": YEAR, "surplus_fen": 100, "surplus_reason": "再分一次"},
        headers=market.manager_a.headers,
    )
    assert (second.status_code, second.json()["code"]) == (409, "year_already_distributed")


async def test_a_second_draft_of_a_distributed_year_cannot_be_confirmed(
    client: AsyncTestClient[Any], db: Database
) -> None:
    market = await build_market(client, db)
    zhao = await add_member(client, market.manager_a, market.coop_a["id"])
    await sell(client, market, zhao, 1)
    body = {"year": YEAR, "surplus_fen": 1_000, "surplus_reason": "外账"}
    first = (
        await client.post(draft_url(market.coop_a["id"]), json=body, headers=market.manager_a.headers)
    ).json()
    second = (
        await client.post(draft_url(market.coop_a["id"]), json=body, headers=market.manager_a.headers)
    ).json()
    assert (await client.post(confirm_url(second["id"]), headers=market.manager_a.headers)).status_code == 200
    refused = await client.post(confirm_url(first["id"]), headers=market.manager_a.headers)
    assert (refused.status_code, refused.json()["code"]) == (409, "year_already_distributed")
    read = await client.get(f"/api/v1/surplus-distributions/{first['id']}", headers=market.manager_a.headers)
    assert read.json()["status"] == "draft"
    assert await balance(db, posting.member_payable(zhao)) == -900  # 90% of 1,000 once


async def test_the_surplus_comes_from_the_years_settled_sales_net_of_refunds(
    client: AsyncTestClient[Any], db: Database
) -> None:
    market = await build_market(client, db)
    zhao = await add_member(client, market.manager_a, market.coop_a["id"])
    order = await sell(client, market, zhao, 3)
    refunded = await refund(client, market.manager_a, order["id"], order["parts"][0]["id"], 1000)
    assert refunded.status_code == 201, refunded.text
    await paid_order(client, market, [(market.sku_a["id"], 1)])  # paid, not received: not yet a sale
    statement = (
        await client.get(
            f"{URL}/{market.coop_a['id']}/statement",
            params={"from": f"{YEAR}-01-01", "to": f"{YEAR}-12-31"},
            headers=market.manager_a.headers,
        )
    ).json()
    expected = (
        statement["sales_fen"]
        - statement["fees_fen"]
        - statement["collective_share_fen"]
        - statement["refunds_fen"]
    )
    assert 0 < expected < 3 * 3990 - 1000

    response = await client.post(
        draft_url(market.coop_a["id"]),
        json={"year": YEAR, "reserve_rate_bps": 0, "patronage_return_bps": 10_000},
        headers=market.manager_a.headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["surplus_source"] == "ledger" and body["surplus_reason"] is None
    assert body["surplus_fen"] == expected
    assert body["members"][0]["transaction_volume_fen"] == 3 * 3990 - 1000
    assert body["members"][0]["total_fen"] == expected
    # A year without sales has no surplus to distribute.
    empty = await client.post(
        draft_url(market.coop_a["id"]), json={"year": 2001}, headers=market.manager_a.headers
    )
    assert (empty.status_code, empty.json()["code"]) == (422, "no_surplus")


async def test_less_than_sixty_percent_by_transaction_is_refused_with_the_law(
    client: AsyncTestClient[Any], db: Database
) -> None:
    market = await build_market(client, db)
    await add_member(client, market.manager_a, market.coop_a["id"])
    url = draft_url(market.coop_a["id"])
    headers = market.manager_a.headers
    refused = await client.post(
        url,
        json={"year": YEAR, "patronage_return_bps": 5999, "surplus_fen": 100, "surplus_reason": "x"},
        headers=headers,
    )
    assert (refused.status_code, refused.json()["code"]) == (422, "patronage_below_minimum")
    assert "Art. 44" in refused.json()["detail"] and "60%" in refused.json()["detail"]
    no_reason = await client.post(url, json={"year": YEAR, "surplus_fen": 100}, headers=headers)
    assert (no_reason.status_code, no_reason.json()["code"]) == (422, "surplus_reason_required")
    # Nobody traded: nothing to return by transaction volume.
    no_volume = await client.post(
        url, json={"year": YEAR, "surplus_fen": 100, "surplus_reason": "x"}, headers=headers
    )
    assert (no_volume.status_code, no_volume.json()["code"]) == (422, "no_member_volume")
    unknown = await client.post(url, json={"year": YEAR, "surplus": 100}, headers=headers)
    assert unknown.status_code == 422  # an unknown field


async def test_who_drafts_confirms_and_reads(client: AsyncTestClient[Any], db: Database) -> None:
    market = await build_market(client, db)
    zhao = await add_member(client, market.manager_a, market.coop_a["id"])
    await sell(client, market, zhao, 1)
    url = draft_url(market.coop_a["id"])
    body = {"year": YEAR, "surplus_fen": 10_000, "surplus_reason": "外账"}
    buyer = await register_buyer(client)
    street = await make_staff(client, db, role="street_staff", region_code=STREET)
    far_street = await make_staff(client, db, role="street_staff", region_code=OTHER_STREET)
    assert (await client.post(url, json=body)).status_code == 401
    assert (await client.post(url, json=body, headers=buyer.headers)).json()["code"] == "forbidden_role"
    assert (await client.post(url, json=body, headers=market.staff.headers)).json()[
        "code"
    ] == "forbidden_role"
    assert (await client.post(url, json=body, headers=market.manager_b.headers)).status_code == 404
    assert (
        await client.post(
            draft_url("01hnosuchcoop0000000000000"), json=body, headers=market.manager_a.headers
        )
    ).status_code == 404

    draft = await client.post(url, json=body, headers=market.manager_a.headers)
    assert draft.status_code == 201, draft.text
    distribution_id = draft.json()["id"]
    read_url = f"/api/v1/surplus-distributions/{distribution_id}"
    assert (await client.get(read_url)).status_code == 401
    assert (await client.get(read_url, headers=street.headers)).status_code == 200
    assert (await client.get(read_url, headers=far_street.headers)).json()[
        "code"
    ] == "surplus_distribution_not_found"
    assert (await client.get(read_url, headers=market.manager_b.headers)).status_code == 404
    assert (await client.get(read_url, headers=buyer.headers)).status_code == 403

    confirm = confirm_url(distribution_id)
    assert (await client.post(confirm)).status_code == 401
    assert (await client.post(confirm, headers=market.staff.headers)).json()["code"] == "forbidden_role"
    assert (await client.post(confirm, headers=buyer.headers)).status_code == 403
    assert (await client.post(confirm, headers=market.manager_b.headers)).json()[
        "code"
    ] == "surplus_distribution_not_found"
    assert (
        await client.post(confirm_url("01hnosuchdist0000000000000"), headers=market.manager_a.headers)
    ).status_code == 404
    assert (await client.post(confirm, headers=market.manager_a.headers)).status_code == 200
    assert await audit_count(db, distribution_id, "cooperative.surplus_distribution_drafted") == 1


async def test_the_database_holds_one_confirmed_distribution_per_year(
    client: AsyncTestClient[Any], db: Database
) -> None:
    """Besides the ledger's dedupe key, a partial unique index: two confirmed rows of a year cannot exist."""
    market = await build_market(client, db)
    zhao = await add_member(client, market.manager_a, market.coop_a["id"])
    await sell(client, market, zhao, 1)
    body = {"year": YEAR, "surplus_fen": 1_000, "surplus_reason": "外账"}
    first = (
        await client.post(draft_url(market.coop_a["id"]), json=body, headers=market.manager_a.headers)
    ).json()
    second = (
        await client.post(draft_url(market.coop_a["id"]), json=body, headers=market.manager_a.headers)
    ).json()
    assert (await client.post(confirm_url(first["id"]), headers=market.manager_a.headers)).status_code == 200
    refused = False
    async with db.unit_of_work() as session:
        try:
            await session.execute(
                text("UPDATE surplus_distribution SET status = 'confirmed' WHERE id = :id"),
                {"id": second["id"]},
            )
        except IntegrityError:
            refused = True
    assert refused
