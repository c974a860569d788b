"""Member accounts (Art. 41-43): capital with its append-only history, the charter's cap, ID numbers
shown unmasked to the cooperative's managers only, transaction volume from settled lines net of
refunds, who may read and write, and an audit entry for every capital change."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, text

from coopmarket.audit.models import AuditEntry
from coopmarket.coops import id_number
from coopmarket.db import Database
from tests.factories import OTHER_STREET, STREET, Actor, approved_cooperative, make_staff, register_buyer
from tests.members.test_attribution import add_member, patch_sku, product_of
from tests.orders.builders import build_market
from tests.orders.test_refunds import paid_order, refund, ship_and_receive

URL = "/api/v1/cooperatives"
ID_NUMBER = "11010519491231002" + id_number.check_character("11010519491231002")


def account_url(coop_id: str, member_id: str) -> str:
    return f"{URL}/{coop_id}/members/{member_id}/account"


async def change(client: AsyncTestClient[Any], actor: Actor, coop_id: str, member_id: str, delta: int) -> Any:
    return await client.post(
        f"{URL}/{coop_id}/members/{member_id}/capital-changes",
        json={"delta_fen": delta, "reason": "追加出资"},
        headers=actor.headers,
    )


async def audit_count(db: Database, entity_id: str, action: str) -> int:
    async with db.read() as conn:
        table = AuditEntry.__table__  # type: ignore[attr-defined]
        return int(
            (
                await conn.execute(
                    select(func.count()).where(table.c.entity_id == entity_id, table.c.action == action)
                )
            ).scalar_one()
        )


def test_id_number_checksum() -> None:
    assert id_number.is_valid(ID_NUMBER)
    assert id_number.is_valid("11010519491231002X")
    assert not id_number.is_valid("110105194912310021")  # wrong check character
    assert not id_number.is_valid("110105194913310028")  # no 13th month
    assert id_number.mask("11010519491231002X") == "110***********002X"


async def test_capital_changes_are_new_entries_audited_and_summed(client: AsyncTestClient[Any], db: Database) -> None:
    staff = await make_staff(client, db)
    manager, coop = await approved_cooperative(client, staff)
    member = await add_member(client, manager, coop["id"])  # opens with 100_000
    response = await change(client, manager, coop["id"], member, 50_000)
    assert response.status_code == 201, response.text
    assert (response.json()["old_capital_fen"], response.json()["new_capital_fen"]) == (100_000, 150_000)
    assert (await change(client, manager, coop["id"], member, -30_000)).status_code == 201
    # Below zero is refused, and nothing is recorded
    refused = await change(client, manager, coop["id"], member, -200_000)
    assert (refused.status_code, refused.json()["code"]) == (409, "capital_below_zero")

    account = await client.get(account_url(coop["id"], member), headers=manager.headers)
    assert account.status_code == 200, account.text
    body = account.json()
    assert body["capital_fen"] == 120_000 == sum(e["delta_fen"] for e in body["capital_history"])
    assert [e["delta_fen"] for e in body["capital_history"]] == [100_000, 50_000, -30_000]
    assert (body["reserve_share_fen"], body["transaction_volume_fen"], body["returns_fen"]) == (0, 0, 0)
    assert body["returns"] == []
    assert await audit_count(db, member, "member.capital_changed") == 3
    # The history is append-only in the database itself.
    async with db.unit_of_work() as session:
        try:
            await session.execute(text("UPDATE member_capital_change SET delta_fen = 0"))
        except Exception:
            refused_update = True
        else:
            refused_update = False
    assert refused_update


async def test_the_charters_cap_refuses_an_increase_and_leaves_no_trace(
    client: AsyncTestClient[Any], db: Database
) -> None:
    staff = await make_staff(client, db)
    charter = {
        "reserve_rate_bps": 1000,
        "patronage_return_bps": 7000,
        "collective_sales_share_bps": 1000,
        "member_capital_cap_bps": 5000,
    }
    manager, coop = await approved_cooperative(client, staff, charter=charter)
    assert coop["charter"]["member_capital_cap_bps"] == 5000
    first = await add_member(client, manager, coop["id"], "赵大山")
    # A first member alone holds 100%: adding one is an increase over the cap... unless others hold as much.
    second = await add_member(client, manager, coop["id"], "钱小河")
    refused = await change(client, manager, coop["id"], first, 1)
    assert (refused.status_code, refused.json()["code"]) == (409, "member_capital_cap_exceeded")
    assert await audit_count(db, first, "member.capital_changed") == 1
    account = (await client.get(account_url(coop["id"], first), headers=manager.headers)).json()
    assert account["capital_fen"] == 100_000 and len(account["capital_history"]) == 1
    # A decrease is always allowed; then the other member may grow up to the cap.
    assert (await change(client, manager, coop["id"], first, -10_000)).status_code == 201
    assert (await change(client, manager, coop["id"], second, 10_000)).status_code == 409
    assert (await change(client, manager, coop["id"], first, 10_000)).status_code == 201


async def test_id_numbers_are_checked_and_unmasked_for_managers_only(
    client: AsyncTestClient[Any], db: Database
) -> None:
    staff = await make_staff(client, db)
    manager, coop = await approved_cooperative(client, staff)
    bad = await client.post(
        f"{URL}/{coop['id']}/members",
        json={"name": "孙三", "kind": "household", "capital_fen": 1, "id_number": ID_NUMBER[:17] + "0"},
        headers=manager.headers,
    )
    if ID_NUMBER.endswith("0"):
        bad = await client.post(
            f"{URL}/{coop['id']}/members",
            json={"name": "孙三", "kind": "household", "capital_fen": 1, "id_number": ID_NUMBER[:17] + "1"},
            headers=manager.headers,
        )
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_id_number")
    response = await client.post(
        f"{URL}/{coop['id']}/members",
        json={"name": "孙三", "kind": "household", "capital_fen": 1, "id_number": ID_NUMBER},
        headers=manager.headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["id_number"] == ID_NUMBER
    member = response.json()["id"]
    managers_view = (await client.get(f"{URL}/{coop['id']}/members", headers=manager.headers)).json()["items"][0]
    staff_view = (await client.get(f"{URL}/{coop['id']}/members", headers=staff.headers)).json()["items"][0]
    assert managers_view["id_number"] == ID_NUMBER
    assert staff_view["id_number"] is None
    assert staff_view["id_number_masked"] == id_number.mask(ID_NUMBER)
    account = (await client.get(account_url(coop["id"], member), headers=staff.headers)).json()
    assert account["id_number_masked"] == id_number.mask(ID_NUMBER)
    assert ID_NUMBER not in str(account)
    # The audit log keeps it masked too.
    async with db.read() as conn:
        table = AuditEntry.__table__  # type: ignore[attr-defined]
        afters = (await conn.execute(select(table.c.after).where(table.c.entity_id == member))).scalars().all()
    assert afters and all(ID_NUMBER not in (a or "") for a in afters)


async def test_who_reads_and_writes_member_accounts(client: AsyncTestClient[Any], db: Database) -> None:
    staff = await make_staff(client, db)
    manager, coop = await approved_cooperative(client, staff)
    other_manager, other = await approved_cooperative(client, staff)
    member = await add_member(client, manager, coop["id"])
    url = account_url(coop["id"], member)
    street = await make_staff(client, db, role="street_staff", region_code=STREET)
    far_street = await make_staff(client, db, role="street_staff", region_code=OTHER_STREET)
    buyer = await register_buyer(client)
    assert (await client.get(url)).status_code == 401
    assert (await client.get(url, headers=buyer.headers)).json()["code"] == "forbidden_role"
    assert (await client.get(url, headers=other_manager.headers)).status_code == 404
    assert (await client.get(url, headers=far_street.headers)).status_code == 404
    assert (await client.get(url, headers=street.headers)).status_code == 200
    assert (await client.get(account_url(other["id"], member), headers=other_manager.headers)).status_code == 404
    assert (await client.get(f"{url}?from=2026-02-01&to=2026-01-01", headers=manager.headers)).json()[
        "code"
    ] == "invalid_date_range"
    # Capital changes: its manager only.
    assert (await change(client, staff, coop["id"], member, 5)).status_code == 403
    assert (await change(client, other_manager, coop["id"], member, 5)).status_code == 404
    assert (await change(client, other_manager, other["id"], member, 5)).status_code == 404
    volumes = f"{URL}/{coop['id']}/transaction-volumes"
    assert (await client.get(volumes, headers=other_manager.headers)).status_code == 404
    assert (await client.get(volumes, headers=buyer.headers)).status_code == 403


async def test_volume_is_settled_sales_net_of_refunds_by_member(client: AsyncTestClient[Any], db: Database) -> None:
    market = await build_market(client, db)
    member = await add_member(client, market.manager_a, market.coop_a["id"])
    product_id = await product_of(client, market)
    assert (await patch_sku(client, market.manager_a, product_id, market.sku_a["id"], supplier_member_id=member)).status_code == 200
    # A settled order (2 × 3990), partly refunded after receipt, and a paid one not yet received.
    order = await paid_order(client, market, [(market.sku_a["id"], 2)])
    await ship_and_receive(client, market, order)
    part_id = order["parts"][0]["id"]
    refunded = await refund(client, market.manager_a, order["id"], part_id, 1000)
    assert refunded.status_code == 201, refunded.text
    await paid_order(client, market, [(market.sku_a["id"], 1)])

    account = (await client.get(account_url(market.coop_a["id"], member), headers=market.manager_a.headers)).json()
    assert account["transaction_volume_fen"] == 2 * 3990 - 1000
    volumes = (
        await client.get(f"{URL}/{market.coop_a['id']}/transaction-volumes", headers=market.staff.headers)
    ).json()
    assert (volumes["member_fen"], volumes["non_member_fen"], volumes["total_fen"]) == (6980, 0, 6980)
    # A period before the settlement holds nothing.
    early = await client.get(
        account_url(market.coop_a["id"], member) + "?from=2000-01-01&to=2000-12-31", headers=market.manager_a.headers
    )
    assert early.json()["transaction_volume_fen"] == 0
