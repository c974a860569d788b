"""Registry fields: chairperson, party organisation, contact phone (masked in public answers),
business scope, the E-commerce Law Art. 27 seller identity and its re-verification date."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar.testing import AsyncTestClient

from coopmarket.core import clock
from coopmarket.db import Database
from tests.factories import OTHER_STREET, approved_cooperative, coop_payload, make_staff, register_buyer

URL = "/api/v1/cooperatives"
FIELDS = {
    "contact_phone": "13812345678",
    "business_scope": "组织成员种植、销售烟薯；提供农资采购服务",
    "legal_representative": "赵建国",
    "registered_address": "坊子区凤凰街道赵家村",
    "administrative_licences": "食品经营许可证 JY13707040000001",
}


async def test_fields_are_kept_and_the_phone_is_masked_for_the_public(
    client: AsyncTestClient[Any], db: Database
) -> None:
    staff = await make_staff(client, db)
    manager, coop = await approved_cooperative(client, staff, **FIELDS)
    today = clock.today("Asia/Shanghai")

    mine = (await client.get(f"{URL}/{coop['id']}", headers=manager.headers)).json()
    for key, value in FIELDS.items():
        assert mine[key] == value
    assert mine["chairperson"] == "赵建国"
    assert mine["party_organization"] == "赵家村党支部"
    assert mine["identity_verified_on"] == today.isoformat()
    assert mine["reverify_due_on"] == (today + timedelta(days=180)).isoformat()

    public = (await client.get(f"{URL}/{coop['id']}")).json()
    assert public["contact_phone_masked"] == "138****5678"
    assert public["business_scope"] == FIELDS["business_scope"]
    for hidden in ("contact_phone", "legal_representative", "registered_address", "identity_verified_on"):
        assert hidden not in public
    assert "13812345678" not in str(public)
    listed = (await client.get(URL, params={"limit": 100})).json()["items"]
    assert "13812345678" not in str(listed)


async def test_a_changed_identity_is_due_for_verification_and_staff_list_and_verify_it(
    client: AsyncTestClient[Any], db: Database
) -> None:
    staff = await make_staff(client, db)
    manager, coop = await approved_cooperative(client, staff, **FIELDS)
    _, untouched = await approved_cooperative(client, staff)

    due = (
        await client.get(URL, params={"reverification_due": "true", "limit": 100}, headers=staff.headers)
    ).json()
    assert coop["id"] not in {c["id"] for c in due["items"]}

    edited = await client.patch(
        f"{URL}/{coop['id']}", json={"registered_address": "坊子区凤凰街道新地址1号"}, headers=manager.headers
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["reverify_due_on"] == clock.today("Asia/Shanghai").isoformat()

    due = (
        await client.get(URL, params={"reverification_due": "true", "limit": 100}, headers=staff.headers)
    ).json()
    assert coop["id"] in {c["id"] for c in due["items"]}
    assert untouched["id"] not in {c["id"] for c in due["items"]}

    # Buyers may not ask for that list.
    buyer = await register_buyer(client)
    refused = await client.get(URL, params={"reverification_due": "true"}, headers=buyer.headers)
    assert refused.status_code == 403

    # Street staff of another street cannot verify it; staff in scope do, and it is audited.
    outsider = await make_staff(client, db, role="street_staff", region_code=OTHER_STREET)
    assert (
        await client.post(f"{URL}/{coop['id']}/verify-identity", headers=outsider.headers)
    ).status_code == 404
    assert (
        await client.post(f"{URL}/{coop['id']}/verify-identity", headers=buyer.headers)
    ).status_code == 403
    verified = await client.post(f"{URL}/{coop['id']}/verify-identity", headers=staff.headers)
    assert verified.status_code == 200, verified.text
    due = (
        await client.get(URL, params={"reverification_due": "true", "limit": 100}, headers=staff.headers)
    ).json()
    assert coop["id"] not in {c["id"] for c in due["items"]}
    entries = (
        await client.get(
            "/api/v1/audit", params={"entity": "cooperative", "id": coop["id"]}, headers=staff.headers
        )
    ).json()["items"]
    assert entries[0]["action"] == "cooperative.verify_identity"


async def test_a_bad_contact_phone_is_422(client: AsyncTestClient[Any], db: Database) -> None:
    manager = await register_buyer(client)
    response = await client.post(URL, json=coop_payload(contact_phone="12345"), headers=manager.headers)
    assert response.status_code == 422
