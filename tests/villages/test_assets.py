"""The register of a village's assets: village staff keep it, staff in scope read it, idle assets by street."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import text

from coopmarket.db import Database
from tests.factories import make_staff
from tests.villages.builders import (
    OTHER_VILLAGE,
    SAME_STREET_VILLAGE,
    STREET,
    TODAY,
    VILLAGE,
    asset_payload,
    create_asset,
    create_contract,
    set_today,
    street_staff,
    village_staff,
)


async def test_village_staff_register_an_asset_and_staff_in_scope_read_it(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given village staff of the village and staff of its street
    set_today(TODAY)
    keeper = await village_staff(client, db)
    street = await street_staff(client, db)
    # When the village staff register a 12.5-mu pond valued last year
    response = await client.post(
        f"/api/v1/villages/{VILLAGE}/assets",
        json=asset_payload(
            kind="pond",
            name="南大湾坑塘",
            size=12.5,
            size_unit="mu",
            status="in_use",
            valuation_fen=8_800_000,
        ),
        headers=keeper.headers,
    )
    # Then it is registered as sent, in use since today
    assert response.status_code == 201, response.text
    asset = response.json()
    assert {k: asset[k] for k in ("village_code", "kind", "name", "size", "size_unit", "status")} == {
        "village_code": VILLAGE,
        "kind": "pond",
        "name": "南大湾坑塘",
        "size": 12.5,
        "size_unit": "mu",
        "status": "in_use",
    }
    assert (asset["status_since"], asset["valuation_fen"], asset["valued_on"]) == (
        "2026-06-15",
        8_800_000,
        "2025-06-30",
    )
    # And street staff read it in the village's register
    listed = await client.get(f"/api/v1/villages/{VILLAGE}/assets", headers=street.headers)
    assert listed.status_code == 200
    assert [a["id"] for a in listed.json()["items"]] == [asset["id"]]


async def test_an_asset_registration_is_audited(client: AsyncTestClient[Any], db: Database) -> None:
    keeper = await village_staff(client, db)
    asset = await create_asset(
        client, keeper, name="村委会旧办公楼", kind="building", size=420, size_unit="square_metre"
    )
    async with db.read() as conn:
        row = (
            await conn.execute(
                text("SELECT action, actor_id, region_code, after FROM audit_entry WHERE entity_id = :id"),
                {"id": asset["id"]},
            )
        ).one()
    assert (row.action, row.actor_id, row.region_code) == ("village_asset.registered", keeper.id, VILLAGE)
    assert '"name":"村委会旧办公楼"' in row.after


async def test_a_size_with_more_than_three_decimals_and_a_valuation_without_date_are_refused(
    client: AsyncTestClient[Any], db: Database
) -> None:
    keeper = await village_staff(client, db)
    url = f"/api/v1/villages/{VILLAGE}/assets"
    too_fine = await client.post(url, json=asset_payload(size=1.2345), headers=keeper.headers)
    assert (too_fine.status_code, too_fine.json()["code"]) == (422, "invalid_size")
    undated = await client.post(url, json=asset_payload(valued_on=None), headers=keeper.headers)
    assert (undated.status_code, undated.json()["code"]) == (422, "invalid_valuation")
    listed = await client.get(url, headers=keeper.headers)
    assert listed.json()["items"] == []


async def test_a_status_change_is_dated_today_and_audited_with_before_and_after(
    client: AsyncTestClient[Any], db: Database
) -> None:
    set_today(date(2026, 3, 1))
    keeper = await village_staff(client, db)
    asset = await create_asset(client, keeper, status="idle")
    set_today(date(2026, 6, 15))
    response = await client.patch(
        f"/api/v1/assets/{asset['id']}",
        json={
            "status": "in_use",
            "valuation_fen": 60_000_000,
            "valued_on": "2026-06-01",
            "reason": "村集体自营育苗",
        },
        headers=keeper.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["status_since"], body["valuation_fen"]) == (
        "in_use",
        "2026-06-15",
        60_000_000,
    )
    async with db.read() as conn:
        row = (
            await conn.execute(
                text("SELECT before, after, reason FROM audit_entry WHERE action = 'village_asset.updated'")
            )
        ).one()
    assert '"status":"idle"' in row.before and '"status":"in_use"' in row.after
    assert row.reason == "村集体自营育苗"


async def test_idle_assets_are_listed_by_street_with_how_long_each_has_been_idle(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given an asset let on 1 May 2026 by a contract that ended on 31 May, still marked contracted
    set_today(date(2026, 5, 1))
    here = await village_staff(client, db)
    lapsed = await create_asset(client, here, status="idle")
    await create_contract(client, here, lapsed["id"], starts_on="2025-06-01", ends_on="2026-05-31")
    # And idle assets in two villages of one street and one of another street, and one in use
    set_today(TODAY)
    neighbour = await village_staff(client, db, SAME_STREET_VILLAGE)
    far = await village_staff(client, db, OTHER_VILLAGE)
    old = await create_asset(client, here, status="idle", status_since="2023-06-15", valuation_fen=1000)
    recent = await create_asset(
        client, neighbour, SAME_STREET_VILLAGE, status="idle", status_since="2026-06-05"
    )
    await create_asset(client, here, status="in_use")
    elsewhere = await create_asset(client, far, OTHER_VILLAGE, status="idle")
    # When the street's staff list idle assets
    street = await street_staff(client, db)
    response = await client.get("/api/v1/idle-assets", headers=street.headers)
    # Then they see their street's idle assets, longest idle first, and the lapsed one idle since its end
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(i["id"], i["idle_since"], i["idle_days"], i["status"]) for i in body["items"]] == [
        (old["id"], "2023-06-15", 1096, "idle"),
        (lapsed["id"], "2026-06-01", 14, "contracted"),
        (recent["id"], "2026-06-05", 10, "idle"),
    ]
    assert body["streets"] == [
        {"street_code": STREET, "street_name": "凤凰街道", "assets": 3, "valuation_fen": 100_001_000}
    ]
    # And district staff see the other street's too
    district = await make_staff(client, db)
    everything = (await client.get("/api/v1/idle-assets", headers=district.headers)).json()
    assert elsewhere["id"] in {i["id"] for i in everything["items"]}
    assert len(everything["streets"]) == 2
