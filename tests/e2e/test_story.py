"""The whole story over HTTP against the real app: a cooperative registers and is approved, lists
products; a buyer orders from two cooperatives, pays, receives the goods; the income that flows
back to each village's collective economy shows up in the district's report, to the fen."""

from __future__ import annotations

import csv
import io
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.core import clock
from coopmarket.db import Database
from coopmarket.ledger import service as ledger_service
from tests.factories import (
    OTHER_STREET,
    OTHER_VILLAGE,
    STREET,
    VILLAGE,
    coop_payload,
    login,
    make_staff,
    register_buyer,
)

pytestmark = pytest.mark.slow

# 2 × 3990 = 7980 fen at fee 300 bps and collective 1000 bps: 239.4 / 798 / 6942.6 → 239 / 798 / 6943.
COLLECTIVE_A = 798
# 3 × 1250 = 3750 fen at fee 300 bps and collective 2000 bps: 112.5 / 750 / 2887.5 → 112 / 750 / 2888.
COLLECTIVE_B = 750


async def register_and_approve(
    client: AsyncTestClient[Any],
    staff_headers: dict[str, str],
    village_code: str,
    collective_bps: int,
    name: str,
) -> tuple[Any, dict[str, Any]]:
    manager = await register_buyer(client, display_name=f"{name}理事长")
    charter = {
        "reserve_rate_bps": 1000,
        "patronage_return_bps": 7000,
        "collective_sales_share_bps": collective_bps,
    }
    created = await client.post(
        "/api/v1/cooperatives",
        json=coop_payload(name=name, village_code=village_code, charter=charter),
        headers=manager.headers,
    )
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "pending"
    coop_id = created.json()["id"]
    # Not public until approved.
    assert (await client.get(f"/api/v1/cooperatives/{coop_id}")).status_code == 404
    approved = await client.post(
        f"/api/v1/cooperatives/{coop_id}/approve", json={"reason": "材料齐全"}, headers=staff_headers
    )
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    manager = await login(client, manager.phone, manager.password)
    assert manager.cooperative_ids == [coop_id]
    collective = await client.post(
        f"/api/v1/cooperatives/{coop_id}/members",
        json={"name": "村集体经济合作社", "kind": "village_collective", "capital_fen": 30_000_000},
        headers=manager.headers,
    )
    assert collective.status_code == 201, collective.text
    household = await client.post(
        f"/api/v1/cooperatives/{coop_id}/members",
        json={"name": "赵大伯", "kind": "household", "capital_fen": 500_000},
        headers=manager.headers,
    )
    assert household.status_code == 201
    return manager, approved.json()


async def test_the_whole_story(client: AsyncTestClient[Any], db: Database) -> None:
    district = await make_staff(client, db, role="district_staff")
    street_staff = await make_staff(client, db, role="street_staff", region_code=STREET)

    # Two cooperatives in two streets register, are approved and list products.
    manager_a, coop_a = await register_and_approve(
        client, district.headers, VILLAGE, 1000, "赵家村烟薯专业合作社"
    )
    manager_b, coop_b = await register_and_approve(
        client, district.headers, OTHER_VILLAGE, 2000, "郎郡庄西瓜专业合作社"
    )
    product_a = await client.post(
        f"/api/v1/cooperatives/{coop_a['id']}/products",
        json={
            "name": "坊子烟薯",
            "category": "vegetables",
            "description": "沙土地种植，香甜软糯",
            "unit": "box",
            "origin_village_code": VILLAGE,
            "skus": [{"code": "YS-5", "spec": "5斤装", "price_fen": 3990, "stock": 20}],
        },
        headers=manager_a.headers,
    )
    product_b = await client.post(
        f"/api/v1/cooperatives/{coop_b['id']}/products",
        json={
            "name": "坊子西瓜",
            "category": "fruit",
            "description": "大棚西瓜，皮薄瓤红",
            "unit": "piece",
            "origin_village_code": OTHER_VILLAGE,
            "skus": [{"code": "XG-1", "spec": "单个约8斤", "price_fen": 1250, "stock": 10}],
        },
        headers=manager_b.headers,
    )
    assert product_a.status_code == product_b.status_code == 201
    sku_a, sku_b = product_a.json()["skus"][0]["id"], product_b.json()["skus"][0]["id"]

    # A buyer finds them and orders from both cooperatives at once.
    buyer = await register_buyer(client, display_name="王芳")
    found = await client.get("/api/v1/products", params={"q": "烟薯"})
    assert [p["id"] for p in found.json()["items"]] == [product_a.json()["id"]]
    order_response = await client.post(
        "/api/v1/orders",
        json={
            "lines": [{"sku_id": sku_a, "quantity": 2}, {"sku_id": sku_b, "quantity": 3}],
            "shipping_address": {
                "name": "王芳",
                "phone": "13912345678",
                "detail": "北海路100号",
                "region_code": VILLAGE,
            },
            "payment_method": "offline",
            "note": None,
        },
        headers={**buyer.headers, "Idempotency-Key": "story-order-1"},
    )
    assert order_response.status_code == 201, order_response.text
    order = order_response.json()
    assert order["total_fen"] == 7980 + 3750
    assert len(order["parts"]) == 2

    # It pays offline: instructions first, then the district records the bank transfer.
    started = await client.post(
        f"/api/v1/orders/{order['id']}/payments",
        json={},
        headers={**buyer.headers, "Idempotency-Key": "story-pay-1"},
    )
    assert started.status_code == 200 and started.json()["next_action"]["amount_fen"] == 11730
    paid = await client.post(
        f"/api/v1/orders/{order['id']}/offline-payments",
        json={"reference": "ICBC-20261128-0001", "amount_fen": 11730},
        headers=district.headers,
    )
    assert paid.status_code == 201, paid.text

    # Each cooperative ships its part; the buyer receives both.
    parts = {p["cooperative_id"]: p["id"] for p in order["parts"]}
    for manager, coop in ((manager_a, coop_a), (manager_b, coop_b)):
        shipped = await client.post(
            f"/api/v1/orders/{order['id']}/parts/{parts[coop['id']]}/ship",
            json={"carrier": "中国邮政", "tracking_number": f"YZ{coop['id'][-8:]}"},
            headers=manager.headers,
        )
        assert shipped.status_code == 200, shipped.text
    for coop in (coop_a, coop_b):
        received = await client.post(
            f"/api/v1/orders/{order['id']}/parts/{parts[coop['id']]}/receive", headers=buyer.headers
        )
        assert received.status_code == 200, received.text
    assert received.json()["status"] == "completed"

    # The district's report shows each village collective's income to the fen.
    today = clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    report = await client.get(
        "/api/v1/reports/collective-income",
        params={"from": today, "to": today, "group_by": "village"},
        headers=district.headers,
    )
    assert report.status_code == 200, report.text
    by_village = {item["region_code"]: item for item in report.json()["items"]}
    assert by_village[VILLAGE]["total_fen"] == COLLECTIVE_A
    assert by_village[OTHER_VILLAGE]["total_fen"] == COLLECTIVE_B
    assert by_village[VILLAGE]["by_category"]["operating_income"] == COLLECTIVE_A
    assert sum(item["total_fen"] for item in by_village.values()) == COLLECTIVE_A + COLLECTIVE_B
    assert len(by_village) == 571  # every village, zero-income ones included

    streets = await client.get(
        "/api/v1/reports/collective-income",
        params={"from": today, "to": today, "group_by": "street"},
        headers=district.headers,
    )
    by_street = {item["region_code"]: item["total_fen"] for item in streets.json()["items"]}
    assert by_street[STREET] == COLLECTIVE_A and by_street[OTHER_STREET] == COLLECTIVE_B

    # Street staff see their own street only; the CSV carries the same figures.
    mine = await client.get(
        "/api/v1/reports/collective-income",
        params={"from": today, "to": today, "group_by": "village", "format": "csv"},
        headers=street_staff.headers,
    )
    assert mine.status_code == 200
    rows = list(csv.DictReader(io.StringIO(mine.content.decode("utf-8-sig"))))
    assert {row["region_code"][:9] for row in rows} == {STREET}
    assert {row["region_code"]: int(row["total_fen"]) for row in rows}[VILLAGE] == COLLECTIVE_A

    # And the books balance.
    async with db.read() as conn:
        assert await ledger_service.trial_balance(conn) == 0
