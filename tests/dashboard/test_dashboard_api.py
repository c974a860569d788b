"""GET /dashboard (the page and its files) and GET /api/v1/dashboard (its figures): who may read
them, that each staff member sees only their region, and that the figures are the
collective-income report's own."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from litestar.testing import AsyncTestClient

from coopmarket.core import clock
from coopmarket.db import Database
from tests.brand.builders import granted_licence
from tests.factories import approved_cooperative, coop_payload, make_staff, register_buyer
from tests.ledger.builders import post_income
from tests.products.builders import new_seller
from tests.reports.builders import STREET_A, STREET_B, V1, V2, V3, V4, V5, post_april_income

URL = "/api/v1/dashboard"
REPORT = "/api/v1/reports/collective-income"
NOW = datetime(2026, 6, 30, 4, 0, tzinfo=UTC)  # 12:00 on 30 June 2026 in Asia/Shanghai
RANGE = {"from": "2025-07-01", "to": "2026-06-30"}
LAST_DECEMBER = datetime(2025, 12, 10, 4, 0, tzinfo=UTC)
TOO_OLD = datetime(2025, 6, 20, 4, 0, tzinfo=UTC)  # before the 12 months
LICENCE_NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)  # 10:00 on 1 March 2026 in Asia/Shanghai


async def seed(db: Database) -> None:
    await post_april_income(db)
    await post_income(db, V3, "operating_income", 700_000, occurred_at=LAST_DECEMBER)
    await post_income(db, V1, "contracting_income", 123_456, occurred_at=LAST_DECEMBER)
    await post_income(db, V4, "subsidy_income", 999_999, occurred_at=TOO_OLD)


async def figures(client: AsyncTestClient[Any], headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get(URL, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def report(
    client: AsyncTestClient[Any], headers: dict[str, str], group_by: str, **params: str
) -> dict[str, Any]:
    response = await client.get(REPORT, params={**RANGE, "group_by": group_by, **params}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- the page -------------------------------------------------------------------------------------


async def test_the_page_loads_only_its_own_files_under_a_strict_policy(client: AsyncTestClient[Any]) -> None:
    # When anyone opens the page
    response = await client.get("/dashboard")

    # Then it is a Chinese HTML page whose policy runs only this server's scripts
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "default-src 'none'" in policy
    assert "村集体经济看板" in response.text and 'lang="zh-CN"' in response.text
    # with no inline script and nothing from another host (districts run on intranets)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text)
    assert not re.search(r"(src|href)=\"(https?:)?//", response.text)
    files = re.findall(r'(?:src|href)="(/dashboard/static/[^"]+)"', response.text)
    assert any("echarts" in f and f.endswith(".js") for f in files)
    assert any("dashboard." in f and f.endswith(".js") for f in files)

    # And each file it names is served with a year's cache (its name changes with its content)
    for path in files:
        asset = await client.get(path)
        assert asset.status_code == 200, path
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    licence = next(f for f in files if "echarts-LICENSE." in f)
    assert "Apache License" in (await client.get(licence)).text


async def test_static_files_are_compressed_for_browsers_that_accept_gzip(
    client: AsyncTestClient[Any],
) -> None:
    page = (await client.get("/dashboard")).text
    echarts = re.search(r'src="(/dashboard/static/echarts[^"]+)"', page)
    assert echarts is not None
    plain = await client.get(echarts.group(1), headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    for accepted in ("gzip", "br, gzip;q=0.5", "*"):
        packed = await client.get(echarts.group(1), headers={"Accept-Encoding": accepted})
        assert packed.headers["content-encoding"] == "gzip", accepted
        assert packed.headers["vary"] == "Accept-Encoding"
        assert int(packed.headers["content-length"]) < len(plain.content) // 2
        assert packed.content == plain.content  # decoded by the client
    refused = await client.get(echarts.group(1), headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


async def test_an_unknown_static_file_is_404(client: AsyncTestClient[Any]) -> None:
    for name in ("nope.js", "dashboard.js", "..%2Fpage.py"):
        response = await client.get(f"/dashboard/static/{name}")
        assert response.status_code == 404, name


# --- who may read the figures ---------------------------------------------------------------------


async def test_anonymous_is_401_and_buyers_and_managers_are_403(
    client: AsyncTestClient[Any], db: Database
) -> None:
    assert (await client.get(URL)).status_code == 401
    buyer = await register_buyer(client)
    response = await client.get(URL, headers=buyer.headers)
    assert response.status_code == 403 and response.json()["code"] == "forbidden_role"
    staff = await make_staff(client, db)
    manager, _ = await approved_cooperative(client, staff)
    response = await client.get(URL, headers=manager.headers)
    assert response.status_code == 403 and response.json()["code"] == "forbidden_role"


# --- figures and scope ----------------------------------------------------------------------------


async def test_district_staff_see_the_collective_income_report_s_figures(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given income in two streets, in April and last December, and some older than 12 months
    clock.set_now(NOW)
    await seed(db)
    staff = await make_staff(client, db)

    # When district staff read the dashboard
    body = await figures(client, staff.headers)

    # Then its range is the last 12 calendar months to today
    assert (body["from"], body["to"], body["region_level"]) == (RANGE["from"], RANGE["to"], "district")
    # and its villages and streets are the report's, item for item (ranked, banded)
    assert body["villages"] == (await report(client, staff.headers, "village"))["items"]
    streets = await report(client, staff.headers, "street")
    assert body["streets"] == streets["items"]
    assert body["total_fen"] == streets["total_fen"] == 84_999_999 + 700_000 + 123_456
    # with the shell villages banded as such (V2 below the first limit; villages with nothing)
    bands = {item["region_code"]: item["band"] for item in body["villages"]}
    assert bands[V2] == "shell" and bands[V3] != "shell"
    # and each month is the report over that month
    assert [m["month"] for m in body["months"]] == [f"2025-{m:02d}" for m in range(7, 13)] + [
        f"2026-{m:02d}" for m in range(1, 7)
    ]
    months = {m["month"]: m for m in body["months"]}
    april = await report(client, staff.headers, "district", **{"from": "2026-04-01", "to": "2026-04-30"})
    assert months["2026-04"]["total_fen"] == april["total_fen"] == 84_999_999
    assert months["2026-04"]["by_category"] == april["items"][0]["by_category"]
    assert months["2025-12"]["total_fen"] == 823_456
    assert sum(m["total_fen"] for m in body["months"]) == body["total_fen"]
    # and the category mix sums the same income
    assert sum(body["by_category"].values()) == body["total_fen"]
    assert body["by_category"]["contracting_income"] == 60_000_000 + 123_456
    # and the campaign panel covers the whole district over the same range
    campaign = body["campaign"]
    assert (campaign["from"], campaign["to"], campaign["region_code"]) == (
        RANGE["from"],
        RANGE["to"],
        "370704",
    )
    assert {STREET_A, STREET_B} <= {s["street"]["region_code"] for s in campaign["streets"]}


async def test_street_staff_see_only_their_street(client: AsyncTestClient[Any], db: Database) -> None:
    # Given income in two streets and a cooperative awaiting decision in each
    clock.set_now(NOW)
    await seed(db)
    buyer = await register_buyer(client)
    for village in (V1, V3):
        response = await client.post(
            "/api/v1/cooperatives", json=coop_payload(village_code=village), headers=buyer.headers
        )
        assert response.status_code == 201, response.text
    staff = await make_staff(client, db, role="street_staff", region_code=STREET_A)

    # When street A's staff read the dashboard
    body = await figures(client, staff.headers)

    # Then everything in it is street A's, and the same as the report gives them
    assert body["region_code"] == STREET_A and body["region_level"] == "street"
    assert [s["region_code"] for s in body["streets"]] == [STREET_A]
    village_codes = {v["region_code"] for v in body["villages"]}
    assert {V1, V2, V5} <= village_codes
    assert all(code.startswith(STREET_A) for code in village_codes)
    assert body["villages"] == (await report(client, staff.headers, "village"))["items"]
    assert body["total_fen"] == 5_000_000 + 4_999_999 + 10_000_000 + 123_456
    assert sum(m["total_fen"] for m in body["months"]) == body["total_fen"]
    assert [c["village_code"] for c in body["cooperatives_pending"]] == [V1]
    assert [s["street"]["region_code"] for s in body["campaign"]["streets"]] == [STREET_A]
    assert body["campaign"]["region_code"] == STREET_A


async def test_village_staff_see_only_their_village(client: AsyncTestClient[Any], db: Database) -> None:
    clock.set_now(NOW)
    await seed(db)
    staff = await make_staff(client, db, role="village_staff", region_code=V1)

    body = await figures(client, staff.headers)

    assert body["region_level"] == "village" and body["streets"] == []
    assert [v["region_code"] for v in body["villages"]] == [V1]
    assert body["total_fen"] == 5_000_000 + 123_456
    assert {m["month"]: m["total_fen"] for m in body["months"]}["2025-12"] == 123_456
    assert body["campaign"]["region_code"] == V1


async def test_licences_ending_soon_are_those_in_scope(client: AsyncTestClient[Any], db: Database) -> None:
    # Given licences granted in two streets: two end within 60 days, one next year
    clock.set_now(LICENCE_NOW)
    district = await make_staff(client, db)
    seller_a = await new_seller(client, district, village_code=V1)
    seller_b = await new_seller(client, district, village_code=V3)
    _, soon_a = await granted_licence(
        client, seller_a, district, valid_from="2026-03-01", valid_to="2026-04-15"
    )
    _, soon_b = await granted_licence(
        client, seller_b, district, valid_from="2026-03-01", valid_to="2026-04-10"
    )
    await granted_licence(client, seller_a, district, valid_from="2026-03-01", valid_to="2027-02-28")
    street = await make_staff(client, db, role="street_staff", region_code=STREET_A)

    # When district and street A's staff read the dashboard
    everyone = await figures(client, district.headers)
    theirs = await figures(client, street.headers)

    # Then district staff see both ending soon (soonest first), street A's staff only street A's
    assert everyone["licences_expiring_within_days"] == 60
    assert [(item["id"], item["days_left"]) for item in everyone["licences_expiring"]] == [
        (soon_b["id"], 40),
        (soon_a["id"], 45),
    ]
    assert [item["id"] for item in theirs["licences_expiring"]] == [soon_a["id"]]
