"""POST/GET /api/v1/villages/{code}/income and …/income/{id}/reverse: non-sales collective income."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient

from coopmarket.accounts import service as accounts_service
from coopmarket.core import clock
from coopmarket.core.principal import DISTRICT_STAFF, Principal
from coopmarket.db import Database
from coopmarket.ledger import posting
from coopmarket.ledger import service as ledger_service
from coopmarket.reports import income, service
from coopmarket.reports.schemas import IncomeIn, IncomeReversalIn
from coopmarket.settings import Settings
from tests.factories import OTHER_STREET, STREET, VILLAGE, Actor, make_staff, register_buyer, unique_phone
from tests.reports.builders import V1, V2, V3
from tests.villages.builders import create_contract

NOW = datetime(2026, 6, 30, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai
REPORT = "/api/v1/reports/collective-income"
JUNE = {"from": "2026-06-01", "to": "2026-06-30"}
AUDIT_URL = "/api/v1/audit"
_keys = iter(range(10**9))


def key() -> str:
    return f"income-test-{next(_keys)}"


def income_url(village: str = VILLAGE) -> str:
    return f"/api/v1/villages/{village}/income"


def body(**overrides: Any) -> dict[str, Any]:
    return {
        "category": "subsidy_income",
        "amount_fen": 1_200_000,
        "occurred_on": "2026-06-10",
        "source": "坊子区农业农村局",
        "document_ref": "坊农〔2026〕12号",
        **overrides,
    }


async def record(client: AsyncTestClient[Any], actor: Actor, village: str = VILLAGE, **overrides: Any) -> Any:
    return await client.post(
        income_url(village), json=body(**overrides), headers={**actor.headers, "Idempotency-Key": key()}
    )


async def village_row(client: AsyncTestClient[Any], actor: Actor, village: str = VILLAGE) -> dict[str, Any]:
    response = await client.get(
        REPORT, params={**JUNE, "group_by": "village", "region_code": village}, headers=actor.headers
    )
    assert response.status_code == 200, response.text
    [row] = [item for item in response.json()["items"] if item["region_code"] == village]
    return row  # type: ignore[no-any-return]


async def test_each_category_is_posted_and_shown_in_the_report(
    client: AsyncTestClient[Any], db: Database
) -> None:
    clock.set_now(NOW)
    staff = await make_staff(client, db, role="village_staff", region_code=VILLAGE)
    categories = [
        "operating_income",
        "contracting_income",
        "investment_income",
        "subsidy_income",
        "other_income",
    ]
    for n, category in enumerate(categories, start=1):
        response = await record(client, staff, category=category, amount_fen=n * 100, document_ref=f"DOC-{n}")
        assert response.status_code == 201, response.text
        assert response.json()["reversed"] is False
    row = await village_row(client, staff)
    assert row["by_category"] == {c: n * 100 for n, c in enumerate(categories, start=1)}
    async with db.read() as conn:
        assert dict(await ledger_service.balances(conn, f"collective_funds:{VILLAGE}")) == {
            f"collective_funds:{VILLAGE}": 1500
        }
        assert await ledger_service.trial_balance(conn) == 0


async def test_a_reversal_takes_the_income_back_once_with_a_reason_and_is_audited(
    client: AsyncTestClient[Any], db: Database
) -> None:
    clock.set_now(NOW)
    staff = await make_staff(client, db, role="street_staff", region_code=STREET)
    created = (await record(client, staff)).json()
    url = f"{income_url()}/{created['id']}/reverse"
    response = await client.post(
        url, json={"reason": "重复录入"}, headers={**staff.headers, "Idempotency-Key": key()}
    )
    assert response.status_code == 201, response.text
    assert (response.json()["reversed"], response.json()["reversal_reason"]) == (True, "重复录入")
    again = await client.post(
        url, json={"reason": "再次"}, headers={**staff.headers, "Idempotency-Key": key()}
    )
    assert (again.status_code, again.json()["code"]) == (409, "income_already_reversed")
    assert (await village_row(client, staff))["by_category"]["subsidy_income"] == 0
    listed = await client.get(income_url(), headers=staff.headers)
    assert [(i["id"], i["reversed"]) for i in listed.json()["items"]] == [(created["id"], True)]
    district = await make_staff(client, db)
    audit = await client.get(
        AUDIT_URL,
        params={"entity": "collective_income_record", "id": created["id"]},
        headers=district.headers,
    )
    assert {i["action"] for i in audit.json()["items"]} == {
        "collective_income.recorded",
        "collective_income.reversed",
    }


async def test_the_same_key_records_once(client: AsyncTestClient[Any], db: Database) -> None:
    clock.set_now(NOW)
    staff = await make_staff(client, db, role="village_staff", region_code=VILLAGE)
    headers = {**staff.headers, "Idempotency-Key": key()}
    first = await client.post(income_url(), json=body(), headers=headers)
    again = await client.post(income_url(), json=body(), headers=headers)
    assert first.json()["id"] == again.json()["id"]
    assert (await village_row(client, staff))["by_category"]["subsidy_income"] == 1_200_000


async def test_contracting_income_of_a_contract_in_the_register_is_refused(
    client: AsyncTestClient[Any], db: Database
) -> None:
    # Given a contract in the register (its rent comes in through instalment receipts)
    clock.set_now(NOW)
    staff = await make_staff(client, db, role="village_staff", region_code=VILLAGE)
    contract = await create_contract(client, staff)
    # When its rent is recorded by hand as contracting income under its document reference
    response = await record(
        client, staff, category="contracting_income", document_ref=contract["document_ref"]
    )
    # Then it is refused (it would be counted twice), and nothing is posted
    assert (response.status_code, response.json()["code"]) == (409, "contract_in_register")
    assert (await village_row(client, staff))["by_category"]["contracting_income"] == 0
    # While remitted income outside the register is recorded
    response = await record(client, staff, category="contracting_income", document_ref="上交〔2026〕3号")
    assert response.status_code == 201, response.text


async def test_a_future_date_is_refused(client: AsyncTestClient[Any], db: Database) -> None:
    clock.set_now(NOW)
    staff = await make_staff(client, db, role="village_staff", region_code=VILLAGE)
    response = await record(client, staff, occurred_on="2026-07-01")
    assert (response.status_code, response.json()["code"]) == (422, "date_in_future")


async def test_income_scope(client: AsyncTestClient[Any], db: Database) -> None:
    clock.set_now(NOW)
    own = await make_staff(client, db, role="village_staff", region_code=VILLAGE)
    created = (await record(client, own)).json()
    other_street = await make_staff(client, db, role="street_staff", region_code=OTHER_STREET)
    buyer = await register_buyer(client)
    reverse = f"{income_url()}/{created['id']}/reverse"
    for actor, status, code in ((other_street, 404, "village_not_found"), (buyer, 403, "forbidden_role")):
        response = await record(client, actor)
        assert (response.status_code, response.json()["code"]) == (status, code)
        response = await client.get(income_url(), headers=actor.headers)
        assert (response.status_code, response.json()["code"]) == (status, code)
        response = await client.post(
            reverse, json={"reason": "x"}, headers={**actor.headers, "Idempotency-Key": key()}
        )
        assert (response.status_code, response.json()["code"]) == (status, code)
    assert (
        await client.post(income_url(), json=body(), headers={"Idempotency-Key": key()})
    ).status_code == 401
    assert (await client.get(income_url())).status_code == 401
    assert (
        await client.post(reverse, json={"reason": "x"}, headers={"Idempotency-Key": key()})
    ).status_code == 401


# --- every report level sums to the ledger ----------------------------------------------------

VILLAGES = (V1, V2, V3)  # V1, V2 in street A; V3 in street B
operations = st.lists(
    st.tuples(
        st.sampled_from(VILLAGES),
        st.sampled_from(posting.INCOME_CATEGORIES),
        st.integers(min_value=1, max_value=10**9),
        st.integers(min_value=0, max_value=45),  # days before NOW
        st.booleans(),  # reverse it afterwards
    ),
    min_size=1,
    max_size=6,
)
ranges = st.tuples(st.integers(min_value=0, max_value=50), st.integers(min_value=0, max_value=50))


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations, window=ranges)
async def test_every_report_level_sums_to_the_ledger_for_the_range(
    db: Database, settings: Settings, ops: list[tuple[str, str, int, int, bool]], window: tuple[int, int]
) -> None:
    clock.set_now(NOW)
    async with db.unit_of_work() as session:
        user = await accounts_service.create_staff_unchecked(
            session,
            phone=unique_phone(),
            password="staff password 123",
            display_name="区级",
            role=DISTRICT_STAFF,
            region_code="370704",
        )
    staff = Principal(user.id, DISTRICT_STAFF, "区级", region_code="370704")
    for village, category, amount, days_ago, reverse in ops:
        on = (NOW - timedelta(days=days_ago)).date()
        async with db.unit_of_work() as session:
            out = await income.record_income(
                session,
                staff,
                village,
                IncomeIn(category, amount, on, "来源", f"DOC-{amount}"),  # type: ignore[arg-type]
                timezone=settings.report_timezone,
            )
        if reverse:
            async with db.unit_of_work() as session:
                await income.reverse_income(session, staff, village, out.id, IncomeReversalIn("更正"))
    start_day = date(2026, 6, 30) - timedelta(days=max(window))
    end_day = date(2026, 6, 30) - timedelta(days=min(window))
    start, end = clock.local_days_to_utc(start_day, end_day, settings.report_timezone)
    async with db.read() as conn:
        rows = await ledger_service.collective_income_rows(conn, start, end)
        ledger: Counter[str] = Counter()
        for row in rows:
            ledger[row.village_code] += row.amount_fen
        for level, length in (("village", 12), ("street", 9), ("district", 6)):
            report = await service.collective_income_report(
                conn, settings, staff, date_from=start_day, date_to=end_day, group_by=level, region_code=None
            )
            expected: Counter[str] = Counter()
            for village, amount in ledger.items():
                expected[village[:length]] += amount
            got = {item.region_code: item.total_fen for item in report.items if item.total_fen}
            assert got == {code: amount for code, amount in expected.items() if amount}
            assert report.total_fen == sum(ledger.values())


async def test_the_list_pages_by_keyset(client: AsyncTestClient[Any], db: Database) -> None:
    clock.set_now(NOW)
    staff = await make_staff(client, db, role="village_staff", region_code=VILLAGE)
    for day in ("2026-06-01", "2026-06-03", "2026-06-02"):
        assert (await record(client, staff, occurred_on=day)).status_code == 201
    seen: list[str] = []
    cursor = None
    for _ in range(4):
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await client.get(income_url(), params=params, headers=staff.headers)).json()
        seen += [item["occurred_on"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["2026-06-03", "2026-06-02", "2026-06-01"]


async def test_the_list_takes_the_house_limits(client: AsyncTestClient[Any], db: Database) -> None:
    """API.md, Lists: `limit` defaults to 20, at most 100; above the maximum is 422."""
    clock.set_now(NOW)
    staff = await make_staff(client, db, role="village_staff", region_code=VILLAGE)
    for n in range(21):
        assert (await record(client, staff, amount_fen=100 + n)).status_code == 201
    first = (await client.get(income_url(), headers=staff.headers)).json()
    assert len(first["items"]) == 20 and first["next_cursor"] is not None
    assert (await client.get(income_url(), params={"limit": "100"}, headers=staff.headers)).status_code == 200
    response = await client.get(income_url(), params={"limit": "101"}, headers=staff.headers)
    assert response.status_code == 422, response.text
