"""The public region tree: lists and one region with its parents."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient

from coopmarket.regions.loader import village_kind

REGIONS = "/api/v1/regions"
CSV_PATH = Path(__file__).resolve().parents[2] / "src/coopmarket/regions/data/regions_370704.csv"
FENGHUANG = "370704003"  # 凤凰街道


def csv_rows() -> list[dict[str, str]]:
    with CSV_PATH.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


async def test_the_district_has_its_seven_streets(client: AsyncTestClient[Any]) -> None:
    response = await client.get(REGIONS, params={"parent_code": "370704"})
    assert response.status_code == 200
    items = response.json()["items"]
    assert [(item["code"], item["name"]) for item in items] == [
        ("370704003", "凤凰街道"),
        ("370704004", "坊安街道"),
        ("370704005", "坊城街道"),
        ("370704006", "九龙街道"),
        ("370704007", "黄旗堡街道"),
        ("370704008", "太保庄街道"),
        ("370704009", "王家庄街道"),
    ]
    assert {(item["level"], item["parent_code"], item["kind"]) for item in items} == {
        ("street", "370704", None)
    }


async def test_streets_by_level_are_the_same_seven(client: AsyncTestClient[Any]) -> None:
    response = await client.get(REGIONS, params={"level": "street"})
    assert response.status_code == 200
    assert len(response.json()["items"]) == 7


async def test_the_villages_of_a_street_are_those_of_the_csv(client: AsyncTestClient[Any]) -> None:
    # Given the shipped CSV lists 24 village-level units under 凤凰街道
    expected = sorted((row["code"], row["name"]) for row in csv_rows() if row["streetCode"] == FENGHUANG)
    assert len(expected) == 24
    # When they are listed
    response = await client.get(REGIONS, params={"parent_code": FENGHUANG, "level": "village"})
    # Then every one is there, in code order
    assert response.status_code == 200
    items = response.json()["items"]
    assert [(item["code"], item["name"]) for item in items] == expected


async def test_each_village_carries_its_kind_by_code_rule(client: AsyncTestClient[Any]) -> None:
    response = await client.get(REGIONS, params={"parent_code": FENGHUANG, "level": "village"})
    items = response.json()["items"]
    kinds = {item["code"]: item["kind"] for item in items}
    # 001–199 is a residents' committee (居委会), 200–399 a villagers' committee (村委会)
    assert kinds["370704003009"] == "residents_committee"
    assert kinds["370704003200"] == "villagers_committee"
    assert sum(kind == "residents_committee" for kind in kinds.values()) == 17
    assert sum(kind == "villagers_committee" for kind in kinds.values()) == 7


async def test_the_whole_district_has_every_csv_village(client: AsyncTestClient[Any]) -> None:
    response = await client.get(REGIONS, params={"level": "village"})
    items = response.json()["items"]
    assert len(items) == len(csv_rows()) == 571


async def test_an_unknown_parent_has_no_children(client: AsyncTestClient[Any]) -> None:
    response = await client.get(REGIONS, params={"parent_code": "370799"})
    assert response.status_code == 200
    assert response.json()["items"] == []


async def test_a_bad_level_is_422(client: AsyncTestClient[Any]) -> None:
    response = await client.get(REGIONS, params={"level": "province"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert [error["field"] for error in body["errors"]] == ["level"]


async def test_a_village_comes_with_its_parent_chain(client: AsyncTestClient[Any]) -> None:
    response = await client.get(f"{REGIONS}/370704003200")
    assert response.status_code == 200
    assert response.json() == {
        "code": "370704003200",
        "name": "赵家村委会",
        "level": "village",
        "parent_code": FENGHUANG,
        "kind": "villagers_committee",
        "parents": [
            {"code": FENGHUANG, "name": "凤凰街道", "level": "street", "parent_code": "370704", "kind": None},
            {"code": "370704", "name": "坊子区", "level": "district", "parent_code": None, "kind": None},
        ],
    }


async def test_the_district_has_no_parents(client: AsyncTestClient[Any]) -> None:
    response = await client.get(f"{REGIONS}/370704")
    assert response.status_code == 200
    assert response.json()["parents"] == []
    assert response.json()["level"] == "district"


async def test_an_unknown_code_is_404_region_not_found(client: AsyncTestClient[Any]) -> None:
    response = await client.get(f"{REGIONS}/370704999999")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "region_not_found"


def test_village_kind_follows_the_statistical_code_rule() -> None:
    assert village_kind("370704003001") == "residents_committee"
    assert village_kind("370704003199") == "residents_committee"
    assert village_kind("370704003200") == "villagers_committee"
    assert village_kind("370704003399") == "villagers_committee"
    assert village_kind("370704003400") is None
