"""Communities: district staff group villages of one street; a village is in at most one; reports
group by community; audited, and a refused creation leaves no entry."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from coopmarket.audit.models import AuditEntry
from coopmarket.db import Database
from tests.factories import make_staff
from tests.reports.builders import APRIL, STREET_A, V1, V2, V3, V5, post_april_income

URL = "/api/v1/regions/communities"
REPORT = "/api/v1/reports/collective-income"


async def community_audits(db: Database) -> int:
    async with db.read() as conn:
        return int(
            (
                await conn.execute(
                    select(func.count())
                    .select_from(AuditEntry)
                    .where(AuditEntry.action == "community.created")
                )
            ).scalar_one()
        )


async def test_district_staff_create_a_community_and_reports_group_by_it(
    client: AsyncTestClient[Any], db: Database
) -> None:
    staff = await make_staff(client, db)
    await post_april_income(db)

    response = await client.post(
        URL,
        json={"name": "凤凰东社区", "street_code": STREET_A, "village_codes": [V1, V2]},
        headers=staff.headers,
    )

    assert response.status_code == 201, response.text
    community = response.json()
    assert community["level"] == "community"
    assert community["parent_code"] == STREET_A
    assert community["village_codes"] == [V1, V2]
    assert community["code"].startswith(STREET_A)
    assert await community_audits(db) == 1
    listed = (
        await client.get("/api/v1/regions", params={"parent_code": STREET_A, "level": "community"})
    ).json()
    assert community["code"] in {r["code"] for r in listed["items"]}

    report = await client.get(
        REPORT, params={**APRIL, "group_by": "community", "region_code": STREET_A}, headers=staff.headers
    )
    assert report.status_code == 200, report.text
    items = {i["region_code"]: i for i in report.json()["items"]}
    assert items[community["code"]]["total_fen"] == 5_000_000 + 4_999_999
    # The street total still counts every village, those in communities included.
    streets = await client.get(REPORT, params={**APRIL, "group_by": "street"}, headers=staff.headers)
    street_a = next(i for i in streets.json()["items"] if i["region_code"] == STREET_A)
    assert street_a["total_fen"] == 5_000_000 + 4_999_999 + 10_000_000


async def test_a_village_is_in_one_community_and_refusals_leave_no_audit(
    client: AsyncTestClient[Any], db: Database
) -> None:
    staff = await make_staff(client, db)
    first = await client.post(
        URL, json={"name": "一社区", "street_code": STREET_A, "village_codes": [V1]}, headers=staff.headers
    )
    assert first.status_code == 201
    again = await client.post(
        URL,
        json={"name": "二社区", "street_code": STREET_A, "village_codes": [V5, V1]},
        headers=staff.headers,
    )
    assert again.status_code == 409
    assert again.json()["code"] == "village_in_community"
    other_street = await client.post(
        URL, json={"name": "三社区", "street_code": STREET_A, "village_codes": [V3]}, headers=staff.headers
    )
    assert other_street.status_code == 422
    assert await community_audits(db) == 1
    # V5 was not taken by the refused request.
    assert (
        await client.post(
            URL,
            json={"name": "二社区", "street_code": STREET_A, "village_codes": [V5]},
            headers=staff.headers,
        )
    ).status_code == 201


async def test_only_district_staff_create_communities(client: AsyncTestClient[Any], db: Database) -> None:
    street = await make_staff(client, db, role="street_staff", region_code=STREET_A)
    body = {"name": "社区", "street_code": STREET_A, "village_codes": [V1]}
    refused = await client.post(URL, json=body, headers=street.headers)
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden_role"
    assert (await client.post(URL, json=body)).status_code == 401
    assert await community_audits(db) == 0
