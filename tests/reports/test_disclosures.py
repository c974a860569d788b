"""Frozen disclosures: POST /disclosures, the public reads, messages and their moderation."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from coopmarket.core import clock
from coopmarket.db import Database
from coopmarket.ledger import posting
from coopmarket.reports import disclosure_page, disclosures
from tests.factories import (
    OTHER_STREET,
    OTHER_VILLAGE,
    STREET,
    VILLAGE,
    Actor,
    make_staff,
    register_buyer,
    unique_uscc,
)
from tests.ledger.builders import post_committed, post_income, settle_part
from tests.villages.builders import create_contract, instalments, pay, resident_id

NOW = datetime(2026, 11, 5, 4, 0, tzinfo=UTC)  # 12:00 on 5 November 2026 in Asia/Shanghai
MID_OCTOBER = datetime(2026, 10, 15, 4, 0, tzinfo=UTC)
COOP = "01hcoop0000000000000000001"
PUBLISH = "/api/v1/disclosures"
REPORT = "/api/v1/reports/collective-income"
AUDIT = "/api/v1/audit"


def public_list(village: str = VILLAGE) -> str:
    return f"/api/v1/public/villages/{village}/disclosures"


def public_one(disclosure_id: str) -> str:
    return f"/api/v1/public/disclosures/{disclosure_id}"


async def publish(
    client: AsyncTestClient[Any], actor: Actor, period: str = "2026-10", village: str = VILLAGE, **extra: Any
) -> Any:
    return await client.post(PUBLISH, json={"village_code": village, "period": period, **extra}, headers=actor.headers)


async def published(client: AsyncTestClient[Any], actor: Actor, period: str = "2026-10", **extra: Any) -> dict[str, Any]:
    response = await publish(client, actor, period, **extra)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def october_figures(db: Database) -> None:
    """October 2026 in VILLAGE: a sale of 1,000,000 fen settled (10% collective: 100,000), a
    subsidy of 250,000; and one in OTHER_VILLAGE that must not show."""
    await settle_part(db, cooperative_id=COOP, village_code=VILLAGE, subtotal_fen=1_000_000, occurred_at=MID_OCTOBER)
    await post_income(db, VILLAGE, "subsidy_income", 250_000, occurred_at=MID_OCTOBER)
    await post_income(db, OTHER_VILLAGE, "other_income", 999, occurred_at=MID_OCTOBER)


async def canonical(client: AsyncTestClient[Any], disclosure_id: str) -> tuple[bytes, str]:
    response = await client.get(public_one(disclosure_id), params={"format": "canonical"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/octet-stream")
    return response.content, response.headers["x-content-hash"]


async def test_a_disclosure_freezes_the_reported_income_the_cooperatives_returns_and_the_contracts(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given October's income, and a contract let to a person with its first instalment part paid
    clock.set_now(NOW)
    staff = await make_staff(client, db, role="village_staff", region_code=VILLAGE)
    await october_figures(db)
    contract = await create_contract(client, staff, annual_rent_fen=1_200_000)
    first = (await instalments(client, staff, contract["id"]))[0]
    assert (await pay(client, staff, first["id"], 200_000, "2026-10-10")).status_code == 201

    # When the village staff publish October
    disclosure = await published(client, staff)

    # Then the income is the collective-income report's for October, by category
    report = await client.get(
        REPORT,
        params={"from": "2026-10-01", "to": "2026-10-31", "group_by": "village", "region_code": VILLAGE},
        headers=staff.headers,
    )
    [row] = [item for item in report.json()["items"] if item["region_code"] == VILLAGE]
    figures = disclosure["figures"]
    assert figures["income_fen"] == row["by_category"]
    assert figures["income_total_fen"] == row["total_fen"] == 100_000 + 250_000 + 200_000
    assert figures["income_fen"]["contracting_income"] == 200_000
    # the cooperative's return is its collective share of the sale
    assert figures["cooperative_returns"] == [
        {
            "cooperative_id": COOP,
            "cooperative_name": "",
            "sales_share_fen": 100_000,
            "surplus_return_fen": 0,
            "total_fen": 100_000,
        }
    ]
    # the contract is summarised with the person's name masked and no identity number
    [line] = figures["contracts"]["lines"]
    assert line["counterparty_name"] == "王**"
    assert line["paid_to_date_fen"] == 200_000
    assert "id_number" not in json.dumps(figures)
    assert disclosure["period_from"] == "2026-10-01" and disclosure["period_to"] == "2026-10-31"
    assert disclosure["corrects"] is None
    # and the hash is the SHA-256 of the stored canonical bytes: sorted keys, no spaces, UTF-8
    stored, digest = await canonical(client, disclosure["id"])
    assert digest == disclosure["content_hash"] == hashlib.sha256(stored).hexdigest()
    assert stored == json.dumps(figures, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert "赵家村".encode() in stored


async def test_the_bytes_and_hash_never_change_and_a_correction_is_a_new_snapshot(
    client: AsyncTestClient[Any], db: Database
) -> None:
    clock.set_now(NOW)
    staff = await make_staff(client, db, role="street_staff", region_code=STREET)
    await october_figures(db)
    first = await published(client, staff)
    bytes_before, hash_before = await canonical(client, first["id"])

    # When sales, income, a refund and a payout arrive afterwards, dated in October
    await settle_part(db, cooperative_id=COOP, village_code=VILLAGE, subtotal_fen=500_000, occurred_at=MID_OCTOBER)
    await post_income(db, VILLAGE, "investment_income", 70_000, occurred_at=MID_OCTOBER)
    await post_income(db, VILLAGE, "other_income", 5, occurred_at=NOW)
    # (a refund of 100,000 fen of the first sale takes 10,000 back from the collective's share)
    terms = posting.SplitTerms(village_code=VILLAGE, fee_bps=300, collective_bps=1000, settled_fen=1_000_000)
    await post_committed(
        db, posting.settled_refund_entries("offline", COOP, 100_000, terms), kind=posting.REFUND, occurred_at=MID_OCTOBER
    )
    await post_committed(db, posting.payout_entries(COOP, 300_000), kind=posting.COOP_PAYOUT, occurred_at=MID_OCTOBER)
    # and a correction is published
    second = await published(client, staff, corrects=first["id"])

    # Then the first reads back byte for byte
    assert await canonical(client, first["id"]) == (bytes_before, hash_before)
    again = (await client.get(public_one(first["id"]))).json()
    assert again["content_hash"] == hash_before
    assert again["figures"] == first["figures"]
    assert again["corrected_by"] == second["id"]
    # and the correction carries the late figures and names the one it corrects
    assert second["corrects"] == first["id"]
    assert second["content_hash"] != hash_before
    assert second["figures"]["income_fen"]["investment_income"] == 70_000
    assert second["figures"]["cooperative_returns"][0]["sales_share_fen"] == 150_000 - 10_000
    # the list shows both, newest first, with which corrects which
    listing = (await client.get(public_list())).json()
    assert [(i["id"], i["corrects"], i["corrected_by"]) for i in listing["items"]] == [
        (second["id"], first["id"], None),
        (first["id"], None, second["id"]),
    ]
    # a disclosure is corrected once: the next correction corrects the correction
    response = await publish(client, staff, corrects=first["id"])
    assert response.status_code == 409
    assert response.json()["code"] == "disclosure_already_corrected"
    third = await published(client, staff, corrects=second["id"])
    assert third["corrects"] == second["id"]
    assert await canonical(client, first["id"]) == (bytes_before, hash_before)


async def test_the_database_refuses_to_change_or_remove_a_disclosure(
    client: AsyncTestClient[Any], db: Database
) -> None:
    clock.set_now(NOW)
    staff = await make_staff(client, db, role="village_staff", region_code=VILLAGE)
    await october_figures(db)
    disclosure = await published(client, staff)
    before = await canonical(client, disclosure["id"])

    for statement in (
        "UPDATE disclosure SET content_hash = 'forged' WHERE id = :id",
        "UPDATE disclosure SET canonical = :forged WHERE id = :id",
        "DELETE FROM disclosure WHERE id = :id",
    ):
        with pytest.raises(DBAPIError):
            async with db.unit_of_work() as session:
                await session.execute(text(statement), {"id": disclosure["id"], "forged": b"{}"})

    assert await canonical(client, disclosure["id"]) == before


async def test_who_may_publish_and_what_is_refused(client: AsyncTestClient[Any], db: Database) -> None:
    clock.set_now(NOW)
    village = await make_staff(client, db, role="village_staff", region_code=VILLAGE)
    street = await make_staff(client, db, role="street_staff", region_code=STREET)
    district = await make_staff(client, db, role="district_staff")
    other_street = await make_staff(client, db, role="street_staff", region_code=OTHER_STREET)
    other_village = await make_staff(client, db, role="village_staff", region_code=OTHER_VILLAGE)
    buyer = await register_buyer(client)

    # No token: 401; not staff: 403; staff whose scope does not cover the village: 404
    response = await client.post(PUBLISH, json={"village_code": VILLAGE, "period": "2026-10"})
    assert response.status_code == 401
    assert (await publish(client, buyer)).status_code == 403
    for outsider in (other_street, other_village):
        response = await publish(client, outsider)
        assert response.status_code == 404
        assert response.json()["code"] == "village_not_found"
    # a code that is not a village: 404
    assert (await publish(client, district, village="370704003999")).status_code == 404
    # a period that has not ended: 422 period_not_closed (November is still running)
    response = await publish(client, village, "2026-11")
    assert response.status_code == 422
    assert response.json()["code"] == "period_not_closed"
    assert (await publish(client, village, "2026-Q4")).json()["code"] == "period_not_closed"
    # malformed periods and unknown fields: 4xx before anything is read
    for bad in ("2026-13", "2026-Q5", "26-10", "2026-10-01"):
        assert (await publish(client, village, bad)).status_code in (400, 422)
    assert (await publish(client, village, extra_field=1)).status_code in (400, 422)

    # village, street and district staff in scope publish (one each, for different periods)
    assert (await publish(client, village, "2026-10")).status_code == 201
    assert (await publish(client, street, "2026-Q3")).status_code == 201
    assert (await publish(client, district, "2026-09")).status_code == 201
    # a second original for the same village and period: 409
    response = await publish(client, district, "2026-10")
    assert response.status_code == 409
    assert response.json()["code"] == "disclosure_exists"
    # a correction must correct the same village and period
    september = (await client.get(public_list())).json()["items"][0]
    assert september["period"] == "2026-09"
    response = await publish(client, village, "2026-10", corrects=september["id"])
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_correction"
    response = await publish(client, village, "2026-10", corrects="01hnosuchdisclosure0000000")
    assert response.json()["code"] == "invalid_correction"
    # each publication is audited
    entries = (await client.get(AUDIT, params={"entity": "disclosure"}, headers=district.headers)).json()
    assert sum(1 for e in entries["items"] if e["action"] == "disclosure.published") == 3


async def test_public_reads_need_no_token_and_answer_404_for_unknown_villages_and_ids(
    client: AsyncTestClient[Any], db: Database
) -> None:
    clock.set_now(NOW)
    staff = await make_staff(client, db, role="village_staff", region_code=VILLAGE)
    ids = [(await published(client, staff, period))["id"] for period in ("2026-07", "2026-08", "2026-Q3")]

    page = await client.get(public_list(), params={"limit": 2})
    assert page.status_code == 200
    body = page.json()
    assert [item["id"] for item in body["items"]] == [ids[2], ids[1]]
    rest = (await client.get(public_list(), params={"limit": 2, "cursor": body["next_cursor"]})).json()
    assert [item["id"] for item in rest["items"]] == [ids[0]]
    assert rest["next_cursor"] is None
    # another village has none; a street's code or an unknown code is not a village
    assert (await client.get(public_list(OTHER_VILLAGE))).json()["items"] == []
    for code in (STREET, "370704003999"):
        response = await client.get(public_list(code))
        assert response.status_code == 404
        assert response.json()["code"] == "village_not_found"
    for output in ("json", "html", "canonical"):
        response = await client.get(public_one("01hnosuchdisclosure0000000"), params={"format": output})
        assert response.status_code == 404
        assert response.json()["code"] == "disclosure_not_found"
    one = (await client.get(public_one(ids[2]))).json()
    assert set(one) >= {"id", "village_code", "period", "published_at", "content_hash", "figures", "corrects"}
    assert one["period"] == "2026-Q3" and one["period_from"] == "2026-07-01" and one["period_to"] == "2026-09-30"


async def post_message(client: AsyncTestClient[Any], disclosure_id: str, **overrides: Any) -> Any:
    return await client.post(
        f"{public_one(disclosure_id)}/messages",
        json={"author_name": "村民老张", "text": "请问补助收入是哪一笔？", **overrides},
    )


async def test_messages_are_shown_only_once_approved_and_each_decision_is_made_once_and_audited(
    client: AsyncTestClient[Any], db: Database
) -> None:
    clock.set_now(NOW)
    village = await make_staff(client, db, role="village_staff", region_code=VILLAGE)
    street = await make_staff(client, db, role="street_staff", region_code=STREET)
    district = await make_staff(client, db, role="district_staff")
    other_street = await make_staff(client, db, role="street_staff", region_code=OTHER_STREET)
    other_village = await make_staff(client, db, role="village_staff", region_code=OTHER_VILLAGE)
    buyer = await register_buyer(client)
    disclosure = await published(client, village)

    # Anyone posts (no token): 202, pending, not shown
    first = await post_message(client, disclosure["id"])
    assert first.status_code == 202, first.text
    assert first.json()["status"] == "pending"
    second = (await post_message(client, disclosure["id"], text="第二条")).json()
    assert (await client.get(public_one(disclosure["id"]))).json()["messages"] == []
    # unknown disclosure: 404; bad input: 4xx
    assert (await post_message(client, "01hnosuchdisclosure0000000")).status_code == 404
    for bad in ({"text": ""}, {"text": "长" * 1001}, {"author_name": ""}, {"author_name": "名" * 41}, {"extra": 1}):
        assert (await post_message(client, disclosure["id"], **bad)).status_code in (400, 422), bad

    # The moderation queue: pending messages of villages in scope, oldest first
    queue = "/api/v1/disclosure-messages"
    for moderator in (village, street, district):
        listed = await client.get(queue, headers=moderator.headers)
        assert listed.status_code == 200, listed.text
        assert [m["id"] for m in listed.json()["items"]] == [first.json()["id"], second["id"]]
    assert (await client.get(queue, headers=other_street.headers)).json()["items"] == []
    response = await client.get(queue, params={"region_code": VILLAGE}, headers=other_street.headers)
    assert response.status_code == 404
    assert (await client.get(queue, headers=buyer.headers)).status_code == 403
    assert (await client.get(queue)).status_code == 401
    paged = (await client.get(queue, params={"limit": 1}, headers=village.headers)).json()
    rest = (await client.get(queue, params={"limit": 1, "cursor": paged["next_cursor"]}, headers=village.headers)).json()
    assert [m["id"] for m in paged["items"] + rest["items"]] == [first.json()["id"], second["id"]]

    approve = f"/api/v1/disclosure-messages/{first.json()['id']}/approve"
    reject = f"/api/v1/disclosure-messages/{second['id']}/reject"
    # Moderation: no token 401; not staff 403; out of scope 404; district staff may not (403)
    assert (await client.post(approve)).status_code == 401
    assert (await client.post(approve, headers=buyer.headers)).status_code == 403
    for outsider in (other_street, other_village):
        response = await client.post(approve, headers=outsider.headers)
        assert response.status_code == 404
        assert response.json()["code"] == "disclosure_message_not_found"
    assert (await client.post(approve, headers=district.headers)).status_code == 403
    unknown = await client.post("/api/v1/disclosure-messages/01hnosuchmessage00000000000/approve", headers=village.headers)
    assert unknown.status_code == 404

    # The village staff approve one; the street staff reject the other with a reason
    response = await client.post(approve, headers=village.headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "approved"
    assert (await client.post(reject, json={}, headers=street.headers)).status_code in (400, 422)
    response = await client.post(reject, json={"reason": "与本次公开无关"}, headers=street.headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected" and response.json()["reject_reason"] == "与本次公开无关"

    # A decided message is decided once
    for url, body, actor in ((approve, None, street), (reject, {"reason": "再次"}, village)):
        response = await client.post(url, json=body, headers=actor.headers)
        assert response.status_code == 409
        assert response.json()["code"] == "message_already_decided"
    response = await client.post(
        f"/api/v1/disclosure-messages/{first.json()['id']}/reject", json={"reason": "改主意"}, headers=village.headers
    )
    assert response.status_code == 409

    assert (await client.get(queue, headers=street.headers)).json()["items"] == []
    approved = (await client.get(queue, params={"status": "approved"}, headers=street.headers)).json()
    assert [m["id"] for m in approved["items"]] == [first.json()["id"]]

    # Only the approved one is shown
    shown = (await client.get(public_one(disclosure["id"]))).json()["messages"]
    assert [(m["author_name"], m["text"]) for m in shown] == [("村民老张", "请问补助收入是哪一笔？")]
    # and each decision is in the audit log, by whom, with the reason
    entries = (await client.get(AUDIT, params={"entity": "disclosure_message"}, headers=district.headers)).json()
    decided = {(e["action"], e["actor_id"], e["reason"]) for e in entries["items"]}
    assert decided == {
        ("disclosure_message.approved", village.id, None),
        ("disclosure_message.rejected", street.id, "与本次公开无关"),
    }


async def test_the_printable_page_is_chinese_escaped_and_prints(client: AsyncTestClient[Any], db: Database) -> None:
    clock.set_now(NOW)
    staff = await make_staff(client, db, role="village_staff", region_code=VILLAGE)
    await october_figures(db)
    disclosure = await published(client, staff)
    message = await post_message(
        client, disclosure["id"], author_name="<script>alert(1)</script>", text="<b>x</b> & \"y\""
    )
    await client.post(f"/api/v1/disclosure-messages/{message.json()['id']}/approve", headers=staff.headers)

    response = await client.get(public_one(disclosure["id"]), params={"format": "html"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    for label in ("财务公开", "经营收入", "发包及上交收入", "投资收益", "补助收入", "其他收入", "合作社返还", "群众留言"):
        assert label in page
    assert "2026年10月" in page and "赵家村" in page
    assert "1,000.00" in page and "2,500.00" in page  # 100,000 and 250,000 fen in yuan
    assert "@media print" in page
    assert "2026-11-05 12:00" in page  # published at local noon
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;x&lt;/b&gt; &amp; &quot;y&quot;" in page
    assert disclosure["content_hash"] in page


def test_periods_and_amounts() -> None:
    assert disclosures.period_dates("2026-02") == (datetime(2026, 2, 1).date(), datetime(2026, 2, 28).date())
    assert disclosures.period_dates("2028-02")[1].day == 29
    assert disclosures.period_dates("2026-12")[1] == datetime(2026, 12, 31).date()
    assert disclosures.period_dates("2026-Q4") == (datetime(2026, 10, 1).date(), datetime(2026, 12, 31).date())
    with pytest.raises(TypeError):
        disclosures.canonical_bytes({"amount": 1.5})
    assert disclosures.canonical_bytes({"b": 1, "a": ["村", 2]}) == '{"a":["村",2],"b":1}'.encode()


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_yuan_shows_every_fen(amount_fen: int) -> None:
    shown = disclosure_page.yuan(amount_fen)
    whole, _, fen = shown.lstrip("-").partition(".")
    assert len(fen) == 2
    value = int(whole.replace(",", "")) * 100 + int(fen)
    assert (-value if shown.startswith("-") else value) == amount_fen


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=6), _json_values, max_size=6))
def test_canonical_bytes_do_not_depend_on_key_order_and_parse_back(figures: dict[str, Any]) -> None:
    reordered = dict(reversed(list(figures.items())))
    encoded = disclosures.canonical_bytes(figures)
    assert encoded == disclosures.canonical_bytes(reordered)
    assert json.loads(encoded) == figures


async def test_refunds_take_back_a_cooperatives_return_and_surplus_returns_count_beside_sales(
    client: AsyncTestClient[Any], db: Database
) -> None:
    clock.set_now(NOW)
    staff = await make_staff(client, db, role="village_staff", region_code=VILLAGE)
    other_coop = "01hcoop0000000000000000002"
    await settle_part(db, cooperative_id=COOP, village_code=VILLAGE, subtotal_fen=1_000_000, occurred_at=MID_OCTOBER)
    # a refund of 100,000 fen of that settled part takes 10,000 back from the collective's share
    terms = posting.SplitTerms(village_code=VILLAGE, fee_bps=300, collective_bps=1000, settled_fen=1_000_000)
    await post_committed(
        db, posting.settled_refund_entries("offline", COOP, 100_000, terms), kind=posting.REFUND, occurred_at=MID_OCTOBER
    )
    # another cooperative's surplus distribution returns 33,333 fen to the village collective
    await post_committed(
        db,
        posting.surplus_distribution_entries(other_coop, VILLAGE, 5_000, [], 33_333),
        kind=posting.SURPLUS_DISTRIBUTION,
        occurred_at=MID_OCTOBER,
    )

    figures = (await published(client, staff))["figures"]

    assert figures["cooperative_returns"] == [
        {
            "cooperative_id": COOP,
            "cooperative_name": "",
            "sales_share_fen": 90_000,
            "surplus_return_fen": 0,
            "total_fen": 90_000,
        },
        {
            "cooperative_id": other_coop,
            "cooperative_name": "",
            "sales_share_fen": 0,
            "surplus_return_fen": 33_333,
            "total_fen": 33_333,
        },
    ]
    assert figures["cooperative_returns_total_fen"] == 123_333
    assert figures["income_fen"]["operating_income"] == 90_000
    assert figures["income_fen"]["investment_income"] == 33_333


async def test_two_publications_at_once_store_one(client: AsyncTestClient[Any], db: Database) -> None:
    clock.set_now(NOW)
    staff = await make_staff(client, db, role="village_staff", region_code=VILLAGE)

    async def attempt() -> Any:
        async with db.unit_of_work() as session:
            return await disclosures.publish_disclosure(
                session, village_code=VILLAGE, period="2026-10", published_by=staff.id, timezone="Asia/Shanghai"
            )

    results = await asyncio.gather(attempt(), attempt(), return_exceptions=True)

    assert sorted(type(r).__name__ for r in results) == ["DisclosureExists", "DisclosureOut"]
    assert len((await client.get(public_list())).json()["items"]) == 1


async def test_the_contracts_summary_masks_persons_and_households_and_carries_no_identity_number(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given October contracts let to a household and a company, both with identity numbers
    clock.set_now(NOW)
    staff = await make_staff(client, db, role="village_staff", region_code=VILLAGE)
    household_id = resident_id("19650708")
    company_id = unique_uscc("91370704")
    await create_contract(
        client, staff, counterparty={"kind": "household", "name": "欧阳德福", "id_number": household_id}
    )
    await create_contract(
        client, staff, counterparty={"kind": "company", "name": "潍坊绿源农业有限公司", "id_number": company_id}
    )
    # When October is published
    disclosure = await published(client, staff)
    # Then the household's name is masked, the company's is not, and neither number is in the bytes
    names = sorted(
        (line["counterparty_kind"], line["counterparty_name"]) for line in disclosure["figures"]["contracts"]["lines"]
    )
    assert names == [("company", "潍坊绿源农业有限公司"), ("household", "欧***")]
    stored, _ = await canonical(client, disclosure["id"])
    page = (await client.get(public_one(disclosure["id"]), params={"format": "html"})).text
    for secret in (household_id, company_id, "欧阳德福"):
        assert secret.encode() not in stored and secret not in page


@pytest.mark.parametrize("period", ["0000-01", "0001-01", "1899-Q4", "9999-Q4"])
async def test_a_period_at_the_end_of_the_calendar_is_refused(
    client: AsyncTestClient[Any], db: Database, period: str
) -> None:
    # Given district staff (year 0 is no date; years 1 and 9999 overflowed the UTC conversion: 500s)
    district = await make_staff(client, db, role="district_staff")

    # When they publish a disclosure for such a period
    response = await publish(client, district, period)

    # Then 422 naming the period, and nothing is stored
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "period"
    async with db.read() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM disclosure")) == 0
