"""Irregular contracts: every finding fires on its case, not on a clean contract, and can be resolved."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import text

from coopmarket.db import Database
from tests.villages.builders import (
    TODAY,
    VILLAGE,
    contract_payload,
    create_asset,
    create_contract,
    set_today,
    street_staff,
    village_staff,
)


def codes(contract: dict[str, Any]) -> list[str]:
    return [flag["code"] for flag in contract["flags"] if flag["resolved_on"] is None]


async def test_a_clean_contract_has_no_finding(client: AsyncTestClient[Any], db: Database) -> None:
    keeper = await village_staff(client, db)
    # Three peers at 1,000 yuan a mu, and a fourth at the same rent, approved, 20 years exactly
    for _ in range(3):
        await create_contract(client, keeper)
    contract = await create_contract(client, keeper, starts_on="2026-01-01", ends_on="2045-12-31")
    assert contract["flags"] == []


async def test_a_contract_without_a_village_meeting_record_is_flagged(
    client: AsyncTestClient[Any], db: Database
) -> None:
    keeper = await village_staff(client, db)
    missing = await create_contract(client, keeper, approval_ref=None)
    blank = await create_contract(client, keeper, approval_ref="  ")
    assert missing["flags"][0]["code"] == "no_approval_record"
    assert missing["flags"][0]["reason"] == "无村民会议或村民代表会议决议记录"
    assert codes(blank) == ["no_approval_record"]
    assert blank["approval_ref"] is None


async def test_a_term_longer_than_the_district_limit_is_flagged(
    client: AsyncTestClient[Any], db: Database
) -> None:
    keeper = await village_staff(client, db)
    too_long = await create_contract(client, keeper, starts_on="2026-01-01", ends_on="2046-01-01")
    assert codes(too_long) == ["term_exceeds_limit"]
    assert too_long["flags"][0]["reason"] == "合同期限（2026-01-01 至 2046-01-01）超过区定上限20年"


async def test_a_rent_far_below_the_villages_other_contracts_for_the_same_kind_is_flagged(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given three farmland contracts at 1,000 yuan a mu (one of them on 10 hectares = 150 mu)
    keeper = await village_staff(client, db)
    await create_contract(client, keeper)  # 50 mu, 50,000 yuan
    await create_contract(client, keeper)
    hectares = await create_asset(client, keeper, size=10, size_unit="hectare")
    await create_contract(client, keeper, hectares["id"], annual_rent_fen=15_000_000)
    # And a pond let cheaply, which is not farmland and is not compared
    pond = await create_asset(client, keeper, kind="pond", size=50)
    assert codes(await create_contract(client, keeper, pond["id"], annual_rent_fen=100_000)) == []
    # When 50 mu of farmland is let at 480 yuan a mu, and another at exactly half the median
    cheap = await create_contract(client, keeper, annual_rent_fen=2_400_000)
    half = await create_contract(client, keeper, annual_rent_fen=2_500_000)
    # Then only the first is flagged, with the figures in the reason
    assert codes(cheap) == ["rent_far_below_peers"]
    assert (
        cheap["flags"][0]["reason"]
        == "年租金每亩480.00元，低于本村3份同类资产（耕地）合同中位数1000.00元的50%"
    )
    assert codes(half) == []


async def test_rents_are_not_compared_with_fewer_peers_than_the_district_asks(
    client: AsyncTestClient[Any], db: Database
) -> None:
    keeper = await village_staff(client, db)
    await create_contract(client, keeper)
    await create_contract(client, keeper)
    assert codes(await create_contract(client, keeper, annual_rent_fen=100_000)) == []


async def test_an_asset_let_twice_for_overlapping_terms_is_flagged(
    client: AsyncTestClient[Any], db: Database
) -> None:
    keeper = await village_staff(client, db)
    asset = await create_asset(client, keeper)
    first = await create_contract(client, keeper, asset["id"], starts_on="2026-01-01", ends_on="2028-12-31")
    after = await create_contract(client, keeper, asset["id"], starts_on="2029-01-01", ends_on="2030-12-31")
    overlapping = await create_contract(
        client, keeper, asset["id"], starts_on="2028-12-31", ends_on="2031-12-31"
    )
    assert codes(first) == [] and codes(after) == []
    assert codes(overlapping) == ["asset_let_twice"]
    assert overlapping["flags"][0]["reason"] == (
        f"该资产已由合同{first['document_ref']}（{first['id']}）于2026-01-01 至 2028-12-31发包，期限重叠（共2份）"
    )


async def test_an_amendment_that_cures_a_finding_resolves_it_and_one_that_does_not_keeps_it_open(
    client: AsyncTestClient[Any], db: Database
) -> None:
    set_today(TODAY)
    keeper = await village_staff(client, db)
    contract = await create_contract(
        client, keeper, approval_ref=None, starts_on="2026-01-01", ends_on="2050-12-31"
    )
    assert codes(contract) == ["no_approval_record", "term_exceeds_limit"]
    amendment = {
        "effective_on": "2026-07-01",
        "ends_on": "2040-12-31",
        "annual_rent_fen": 5_000_000,
        "schedule": "yearly",
        "document_ref": "补充协议1",
        "reason": "缩短期限",
    }
    response = await client.post(
        f"/api/v1/contracts/{contract['id']}/amendments", json=amendment, headers=keeper.headers
    )
    assert response.status_code == 201, response.text
    amended = response.json()
    # The term finding is resolved by the amendment; the missing approval stays open (found once)
    assert codes(amended) == ["no_approval_record"]
    resolved = [flag for flag in amended["flags"] if flag["resolved_on"]]
    assert [(f["code"], f["resolved_on"]) for f in resolved] == [("term_exceeds_limit", "2026-06-15")]
    assert resolved[0]["resolution"] == f"合同变更（{amended['id']}）后已不存在"
    async with db.read() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM contract_flag"))).scalar_one()
    assert count == 2


async def test_street_staff_resolve_a_finding_with_a_reason_and_village_staff_may_not(
    client: AsyncTestClient[Any], db: Database
) -> None:
    set_today(TODAY)
    keeper = await village_staff(client, db)
    street = await street_staff(client, db)
    contract = await create_contract(client, keeper, approval_ref=None)
    url = f"/api/v1/contracts/{contract['id']}/flags/no_approval_record/resolve"
    refused = await client.post(url, json={"resolution": "补开村民代表会议"}, headers=keeper.headers)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden_role")
    response = await client.post(
        url, json={"resolution": "已补开村民代表会议并形成决议"}, headers=street.headers
    )
    assert response.status_code == 200, response.text
    [flag] = response.json()["flags"]
    assert (flag["resolved_on"], flag["resolution"]) == ("2026-06-15", "已补开村民代表会议并形成决议")
    # The answer to street staff masks the counterparty's identity number
    number = contract["counterparty"]["id_number"]
    assert response.json()["counterparty"]["id_number"] == number[:4] + "*" * 10 + number[-4:]
    again = await client.post(url, json={"resolution": "重复"}, headers=street.headers)
    assert (again.status_code, again.json()["code"]) == (404, "flag_not_found")
    async with db.read() as conn:
        action = (
            await conn.execute(
                text(
                    "SELECT actor_id, reason FROM audit_entry WHERE action = 'village_contract.flag_resolved'"
                )
            )
        ).one()
    assert tuple(action) == (street.id, "已补开村民代表会议并形成决议")


async def test_termination_resolves_every_open_finding(client: AsyncTestClient[Any], db: Database) -> None:
    set_today(TODAY)
    keeper = await village_staff(client, db)
    contract = await create_contract(client, keeper, approval_ref=None)
    response = await client.post(
        f"/api/v1/contracts/{contract['id']}/termination",
        json={"terminated_on": "2026-06-30", "reason": "清理不规范合同，协商解除"},
        headers=keeper.headers,
    )
    assert response.status_code == 201, response.text
    assert codes(response.json()) == []
    assert response.json()["flags"][0]["resolution"] == "合同已终止（最后有效日2026-06-30）"


async def test_findings_are_part_of_the_registration_answer(
    client: AsyncTestClient[Any], db: Database
) -> None:
    keeper = await village_staff(client, db)
    asset = await create_asset(client, keeper)
    response = await client.post(
        f"/api/v1/villages/{VILLAGE}/contracts",
        json=contract_payload(asset["id"], approval_ref=None),
        headers=keeper.headers,
    )
    assert response.status_code == 201
    assert [(f["code"], f["reason"]) for f in response.json()["flags"]] == [
        ("no_approval_record", "无村民会议或村民代表会议决议记录")
    ]
