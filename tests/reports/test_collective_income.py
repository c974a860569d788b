"""GET /api/v1/reports/collective-income: village collective income from the ledger, for staff."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from openpyxl import load_workbook
from sqlalchemy import text

from coopmarket.core import clock
from coopmarket.core.money import format_yuan
from coopmarket.db import Database
from tests.factories import approved_cooperative, make_staff, register_buyer
from tests.ledger.builders import post_income
from tests.reports.builders import APRIL, STREET_A, STREET_B, V1, V2, V3, V4, V5, post_april_income

URL = "/api/v1/reports/collective-income"
VILLAGES_IN_DISTRICT = 571
VILLAGES_IN_STREET_A = 24
STREETS_IN_DISTRICT = 7
ZERO = {
    "operating_income": 0,
    "contracting_income": 0,
    "investment_income": 0,
    "subsidy_income": 0,
    "other_income": 0,
}


def categories(**amounts: int) -> dict[str, int]:
    return {**ZERO, **amounts}


def item(code: str, name: str, total: int, band: str, rank: int, **by_category: int) -> dict[str, Any]:
    return {
        "region_code": code,
        "region_name": name,
        "total_fen": total,
        "by_category": categories(**by_category),
        "band": band,
        "rank": rank,
        "related_party_fen": 0,
    }


V3_ITEM = item(V3, "河北郎郡庄村委会", 60_000_000, "over_500k", 1, contracting_income=60_000_000)
V5_ITEM = item(V5, "辛冬二村村委会", 10_000_000, "under_500k", 2, subsidy_income=10_000_000)
V1_ITEM = item(
    V1, "赵家村委会", 5_000_000, "under_100k", 3, operating_income=100_000, subsidy_income=4_900_000
)
V4_ITEM = item(V4, "张疃村委会", 5_000_000, "under_100k", 3, other_income=5_000_000)
V2_ITEM = item(V2, "辛冬一村村委会", 4_999_999, "shell", 5, operating_income=399, investment_income=4_999_600)


async def _district_staff(client: AsyncTestClient[Any], db: Database) -> Any:
    return await make_staff(client, db)


async def _street_a_staff(client: AsyncTestClient[Any], db: Database) -> Any:
    return await make_staff(client, db, role="street_staff", region_code=STREET_A)


# --- grouping, totals, bands, ranks --------------------------------------------------------


async def test_village_report_ranks_and_bands_every_village_including_shells(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given April income in five villages of two streets
    await post_april_income(db)
    staff = await _district_staff(client, db)
    # When district staff ask for April by village
    response = await client.get(URL, params={**APRIL, "group_by": "village"}, headers=staff.headers)
    # Then every village of the district is listed, highest first, ties sharing a rank
    assert response.status_code == 200
    body = response.json()
    assert {k: v for k, v in body.items() if k != "items"} == {
        "from": "2026-04-01",
        "to": "2026-04-30",
        "group_by": "village",
        "region_code": "370704",
        "total_fen": 84_999_999,
        "related_party_fen": 0,
    }
    assert body["items"][:5] == [V3_ITEM, V5_ITEM, V1_ITEM, V4_ITEM, V2_ITEM]
    # And the villages without income are there too, as shells sharing the next rank, by code
    rest = body["items"][5:]
    assert len(rest) == VILLAGES_IN_DISTRICT - 5
    assert {(i["total_fen"], i["band"], i["rank"]) for i in rest} == {(0, "shell", 6)}
    assert [i["by_category"] for i in rest] == [ZERO] * len(rest)
    assert [i["region_code"] for i in rest] == sorted(i["region_code"] for i in rest)


async def test_street_report_sums_villages_up_to_their_street(
    client: AsyncTestClient[Any], db: Database
) -> None:
    await post_april_income(db)
    staff = await _district_staff(client, db)
    response = await client.get(URL, params={**APRIL, "group_by": "street"}, headers=staff.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["total_fen"] == 84_999_999
    assert body["items"][:2] == [
        item(
            STREET_B,
            "坊安街道",
            65_000_000,
            "over_500k",
            1,
            contracting_income=60_000_000,
            other_income=5_000_000,
        ),
        item(
            STREET_A,
            "凤凰街道",
            19_999_999,
            "under_500k",
            2,
            operating_income=100_399,
            investment_income=4_999_600,
            subsidy_income=14_900_000,
        ),
    ]
    assert [(i["region_code"], i["total_fen"], i["rank"]) for i in body["items"][2:]] == [
        (code, 0, 3) for code in ("370704005", "370704006", "370704007", "370704008", "370704009")
    ]
    assert len(body["items"]) == STREETS_IN_DISTRICT


async def test_district_report_is_one_row_for_the_district(
    client: AsyncTestClient[Any], db: Database
) -> None:
    await post_april_income(db)
    staff = await _district_staff(client, db)
    response = await client.get(URL, params={**APRIL, "group_by": "district"}, headers=staff.headers)
    assert response.status_code == 200
    assert response.json()["items"] == [
        item(
            "370704",
            "坊子区",
            84_999_999,
            "over_500k",
            1,
            operating_income=100_399,
            contracting_income=60_000_000,
            investment_income=4_999_600,
            subsidy_income=14_900_000,
            other_income=5_000_000,
        )
    ]


async def test_community_report_lists_the_communities_in_the_tree(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given no communities in the tree but one added under street A (none has villages yet)
    await post_april_income(db)
    staff = await _district_staff(client, db)
    before = await client.get(URL, params={**APRIL, "group_by": "community"}, headers=staff.headers)
    async with db.session() as session:
        await session.execute(
            text(
                "INSERT INTO region (code, name, level, parent_code)"
                " VALUES ('370704003900', '凤凰测试社区', 'community', :street)"
            ),
            {"street": STREET_A},
        )
        await session.commit()
    # When grouped by community
    after = await client.get(URL, params={**APRIL, "group_by": "community"}, headers=staff.headers)
    # Then the report lists exactly the communities, with zero income when no village belongs to them
    assert before.status_code == 200
    assert (before.json()["items"], before.json()["total_fen"]) == ([], 0)
    assert after.json()["items"] == [item("370704003900", "凤凰测试社区", 0, "shell", 1)]


async def test_with_no_income_every_village_is_a_shell_ranked_first(
    client: AsyncTestClient[Any], db: Database
) -> None:
    staff = await _street_a_staff(client, db)
    response = await client.get(URL, params=APRIL, headers=staff.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["total_fen"] == 0
    assert len(body["items"]) == VILLAGES_IN_STREET_A
    assert {(i["total_fen"], i["band"], i["rank"]) for i in body["items"]} == {(0, "shell", 1)}


# --- dates ---------------------------------------------------------------------------------


async def test_dates_are_days_in_asia_shanghai(client: AsyncTestClient[Any], db: Database) -> None:
    # Given income posted just before and just after midnight of 1 April in Shanghai (UTC+8)
    clock.set_now(datetime(2026, 3, 31, 15, 59, 59, tzinfo=UTC))  # 23:59:59 on 31 March locally
    await post_income(db, V1, "other_income", 100)
    clock.set_now(datetime(2026, 3, 31, 16, 30, tzinfo=UTC))  # 00:30 on 1 April locally
    await post_income(db, V1, "other_income", 20)
    clock.set_now(datetime(2026, 4, 30, 16, 0, tzinfo=UTC))  # 00:00 on 1 May locally
    await post_income(db, V1, "other_income", 3)
    clock.set_now(None)
    staff = await _district_staff(client, db)
    params = {"group_by": "district"}
    # When reports for single local days and for April are read
    march_31 = await client.get(
        URL, params={**params, "from": "2026-03-31", "to": "2026-03-31"}, headers=staff.headers
    )
    april_1 = await client.get(
        URL, params={**params, "from": "2026-04-01", "to": "2026-04-01"}, headers=staff.headers
    )
    april = await client.get(URL, params={**params, **APRIL}, headers=staff.headers)
    may_1 = await client.get(
        URL, params={**params, "from": "2026-05-01", "to": "2026-05-01"}, headers=staff.headers
    )
    # Then each posting counts on its local date, both ends of a range included
    assert [r.json()["total_fen"] for r in (march_31, april_1, april, may_1)] == [100, 20, 20, 3]


async def test_from_after_to_is_refused(client: AsyncTestClient[Any], db: Database) -> None:
    staff = await _district_staff(client, db)
    response = await client.get(URL, params={"from": "2026-04-02", "to": "2026-04-01"}, headers=staff.headers)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_date_range"


async def test_a_range_over_three_years_is_refused(client: AsyncTestClient[Any], db: Database) -> None:
    staff = await _district_staff(client, db)
    longest = await client.get(URL, params={"from": "2023-01-01", "to": "2025-12-31"}, headers=staff.headers)
    too_long = await client.get(URL, params={"from": "2023-01-01", "to": "2026-01-01"}, headers=staff.headers)
    assert longest.status_code == 200
    assert too_long.status_code == 422
    assert too_long.json()["code"] == "date_range_too_long"


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-04-31", "to": "2026-05-01"},
        {"to": "2026-05-01"},
        {**APRIL, "group_by": "town"},
        {**APRIL, "format": "pdf"},
    ],
    ids=["bad-date", "missing-from", "bad-group-by", "bad-format"],
)
async def test_malformed_queries_are_refused(
    client: AsyncTestClient[Any], db: Database, params: dict[str, str]
) -> None:
    staff = await _district_staff(client, db)
    response = await client.get(URL, params=params, headers=staff.headers)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


# --- scope and authorisation ---------------------------------------------------------------


async def test_street_staff_see_only_their_street(client: AsyncTestClient[Any], db: Database) -> None:
    # Given income in two streets / When street A's staff ask without a region
    await post_april_income(db)
    staff = await _street_a_staff(client, db)
    response = await client.get(URL, params=APRIL, headers=staff.headers)
    # Then they get street A's villages only
    assert response.status_code == 200
    body = response.json()
    assert body["region_code"] == STREET_A
    assert body["total_fen"] == 19_999_999
    assert len(body["items"]) == VILLAGES_IN_STREET_A
    assert all(i["region_code"].startswith(STREET_A) for i in body["items"])
    assert [(i["region_code"], i["total_fen"], i["rank"]) for i in body["items"][:3]] == [
        (V5, 10_000_000, 1),
        (V1, 5_000_000, 2),
        (V2, 4_999_999, 3),
    ]


async def test_another_streets_region_is_not_found(client: AsyncTestClient[Any], db: Database) -> None:
    await post_april_income(db)
    staff = await _street_a_staff(client, db)
    for region_code in (STREET_B, V3, "370704"):
        response = await client.get(URL, params={**APRIL, "region_code": region_code}, headers=staff.headers)
        assert response.status_code == 404, region_code
        assert response.json()["code"] == "region_not_found"
        assert "items" not in response.json()


async def test_an_unknown_region_is_not_found(client: AsyncTestClient[Any], db: Database) -> None:
    staff = await _district_staff(client, db)
    response = await client.get(URL, params={**APRIL, "region_code": "370704999"}, headers=staff.headers)
    assert response.status_code == 404
    assert response.json()["code"] == "region_not_found"


async def test_a_village_in_scope_can_be_asked_for(client: AsyncTestClient[Any], db: Database) -> None:
    await post_april_income(db)
    staff = await _street_a_staff(client, db)
    response = await client.get(URL, params={**APRIL, "region_code": V1}, headers=staff.headers)
    assert response.status_code == 200
    assert response.json()["items"] == [{**V1_ITEM, "rank": 1}]


async def test_grouping_above_the_requested_region_is_refused(
    client: AsyncTestClient[Any], db: Database
) -> None:
    staff = await _street_a_staff(client, db)
    response = await client.get(URL, params={**APRIL, "group_by": "district"}, headers=staff.headers)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_group_by"


async def test_a_buyer_may_not_read_the_report(client: AsyncTestClient[Any], db: Database) -> None:
    await post_april_income(db)
    buyer = await register_buyer(client)
    response = await client.get(URL, params=APRIL, headers=buyer.headers)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden_role"
    assert "items" not in response.json()


async def test_a_cooperative_manager_may_not_read_the_report(
    client: AsyncTestClient[Any], db: Database
) -> None:
    await post_april_income(db)
    manager, _ = await approved_cooperative(client, await _district_staff(client, db))
    response = await client.get(URL, params={**APRIL, "format": "csv"}, headers=manager.headers)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden_role"


async def test_anonymous_callers_must_sign_in(client: AsyncTestClient[Any], db: Database) -> None:
    response = await client.get(URL, params=APRIL)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


# --- exports -------------------------------------------------------------------------------


def _as_rows(items: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            i["region_code"],
            i["region_name"],
            i["total_fen"],
            format_yuan(i["total_fen"]),
            *(i["by_category"][c] for c in ZERO),
            i["band"],
            i["rank"],
            i["related_party_fen"],
        ]
        for i in items
    ]


HEADER = [
    "region_code",
    "region_name",
    "total_fen",
    "total_yuan",
    *ZERO,
    "band",
    "rank",
    "related_party_fen",
]


async def test_csv_export_carries_the_json_rows(client: AsyncTestClient[Any], db: Database) -> None:
    # Given April income and its JSON report for street A
    await post_april_income(db)
    staff = await _street_a_staff(client, db)
    expected = (await client.get(URL, params=APRIL, headers=staff.headers)).json()["items"]
    # When the same report is downloaded as CSV
    response = await client.get(URL, params={**APRIL, "format": "csv"}, headers=staff.headers)
    # Then it is a UTF-8 attachment with a BOM and the same rows, yuan exact
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="collective-income_370704003_village_2026-04-01_2026-04-30.csv"'
    )
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == HEADER
    assert rows[1:] == [[str(v) for v in row] for row in _as_rows(expected)]
    assert rows[1][:4] == [V5, "辛冬二村村委会", "10000000", "100000.00"]


async def test_xlsx_export_carries_the_json_rows(client: AsyncTestClient[Any], db: Database) -> None:
    await post_april_income(db)
    staff = await _district_staff(client, db)
    params = {**APRIL, "group_by": "street"}
    expected = (await client.get(URL, params=params, headers=staff.headers)).json()["items"]
    response = await client.get(URL, params={**params, "format": "xlsx"}, headers=staff.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert response.headers["content-disposition"].startswith("attachment;")
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).active
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[0] == HEADER
    assert rows[1:] == _as_rows(expected)
    assert rows[2][:4] == [STREET_A, "凤凰街道", 19_999_999, "199999.99"]


async def test_exports_carry_chinese_headers_and_band_labels_for_zh(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given April income for street A, asked for by a reader who prefers Chinese
    await post_april_income(db)
    staff = await _street_a_staff(client, db)
    zh = {**staff.headers, "Accept-Language": "zh-CN,zh;q=0.9"}
    expected = (await client.get(URL, params=APRIL, headers=zh)).json()["items"]
    # The JSON keeps its English keys and band codes
    assert "total_fen" in expected[0] and expected[-1]["band"] in {
        "shell",
        "under_100k",
        "under_500k",
        "over_500k",
    }
    response = await client.get(URL, params={**APRIL, "format": "csv"}, headers=zh)
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["行政区划代码", "名称", "合计（分）", "合计（元）"]
    assert "经营收入（分）" in rows[0] and "收入档次" in rows[0]
    band_column = rows[0].index("收入档次")
    assert {row[band_column] for row in rows[1:]} <= {
        "空壳村（5万元以下）",
        "10万元以下",
        "50万元以下",
        "50万元以上",
    }
    assert [row[0] for row in rows[1:]] == [i["region_code"] for i in expected]
    xlsx = await client.get(URL, params={**APRIL, "format": "xlsx"}, headers=zh)
    sheet = load_workbook(io.BytesIO(xlsx.content), read_only=True).active
    assert next(sheet.iter_rows(values_only=True))[:2] == ("行政区划代码", "名称")
