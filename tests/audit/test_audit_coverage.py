"""The one audit log covers every listed change (issue 7): a cooperative's registration and edits,
brand licences (apply, grant, suspend, revoke), certificates (add, correct, withdraw) and staff
accounts made by staff; each entry is written with its change, and a change that fails leaves none.
(Decisions, managers, member capital and deactivation have their own tests.)"""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from coopmarket.coops import service as coops_service
from coopmarket.core import clock
from coopmarket.db import Database
from tests.brand.builders import LICENCES, applications_url, apply, certified_product, decide, licence_state
from tests.factories import STREET, Actor, coop_payload, make_staff, register_buyer, unique_phone
from tests.products.builders import NOW, PRODUCTS, Seller, add_certificate, certificate_payload, new_seller

AUDIT = "/api/v1/audit"
CERTIFICATIONS = "/api/v1/certifications"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"jwt_ttl_seconds": 5 * 366 * 24 * 3600}


@pytest.fixture(autouse=True)
def _frozen_clock() -> None:
    clock.set_now(NOW)


async def entries(
    client: AsyncTestClient[Any], staff: Actor, entity: str, entity_id: str
) -> list[dict[str, Any]]:
    response = await client.get(
        AUDIT, params={"entity": entity, "id": entity_id, "limit": 100}, headers=staff.headers
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


async def count_all(db: Database) -> int:
    async with db.read() as conn:
        return int(await conn.scalar(text("SELECT count(*) FROM audit_entry")) or 0)


async def test_registration_and_edits_of_a_cooperative_are_audited(
    client: AsyncTestClient[Any], db: Database
) -> None:
    staff = await make_staff(client, db)
    manager = await register_buyer(client)
    payload = coop_payload(contact_phone="13905361234")
    created = await client.post("/api/v1/cooperatives", json=payload, headers=manager.headers)
    assert created.status_code == 201, created.text
    coop = created.json()
    [registered] = await entries(client, staff, "cooperative", coop["id"])
    assert registered["action"] == "cooperative.registered"
    assert registered["actor_id"] == manager.id
    assert registered["before"] is None
    assert registered["after"]["uscc"] == payload["uscc"]
    assert registered["after"]["status"] == "pending"
    assert "13905361234" not in str(registered["after"])  # street staff read it: masked

    edit = await client.patch(
        f"/api/v1/cooperatives/{coop['id']}",
        json={"chairperson": "赵新民", "charter": {"reserve_rate_bps": 1500}},
        headers=manager.headers,
    )
    assert edit.status_code == 200, edit.text
    newest = (await entries(client, staff, "cooperative", coop["id"]))[0]
    assert newest["action"] == "cooperative.updated"
    assert newest["before"] == {"chairperson": "赵建国", "reserve_rate_bps": 1000}
    assert newest["after"] == {"chairperson": "赵新民", "reserve_rate_bps": 1500}
    street = await make_staff(client, db, role="street_staff", region_code=STREET)
    assert len(await entries(client, street, "cooperative", coop["id"])) == 2

    # A refused edit (the cooperative is rejected) and a refused registration leave no entry.
    rejected = await client.post(
        f"/api/v1/cooperatives/{coop['id']}/reject", json={"reason": "材料不全"}, headers=staff.headers
    )
    assert rejected.status_code == 200
    before = await count_all(db)
    refused = await client.patch(
        f"/api/v1/cooperatives/{coop['id']}", json={"chairperson": "钱某"}, headers=manager.headers
    )
    assert refused.status_code == 409, refused.text
    taken = await client.post(
        "/api/v1/cooperatives", json=coop_payload(uscc=payload["uscc"]), headers=manager.headers
    )
    assert taken.status_code == 409, taken.text
    assert await count_all(db) == before


async def test_brand_licence_changes_are_audited_and_a_refused_one_is_not(
    client: AsyncTestClient[Any], db: Database
) -> None:
    staff = await make_staff(client, db)
    seller = await new_seller(client, staff)
    product = await certified_product(client, seller)
    licence = await apply(client, seller, [product["id"]])
    await decide(client, staff, licence["id"], "grant", "材料齐全")
    await decide(client, staff, licence["id"], "suspend", "抽检不合格")
    await decide(client, staff, licence["id"], "grant", "整改完成")
    await decide(client, staff, licence["id"], "revoke", "再次抽检不合格")

    got = list(reversed(await entries(client, staff, "brand_licence", licence["id"])))
    assert [e["action"] for e in got] == [
        "brand_licence.apply",
        "brand_licence.grant",
        "brand_licence.suspend",
        "brand_licence.grant",
        "brand_licence.revoke",
    ]
    assert [e["actor_id"] for e in got] == [seller.manager.id] + [staff.id] * 4
    assert [(e["before"] or {}).get("status") for e in got] == [
        None,
        "applied",
        "granted",
        "suspended",
        "granted",
    ]
    assert [e["after"]["status"] for e in got] == ["applied", "granted", "suspended", "granted", "revoked"]
    assert got[1]["after"]["number"]
    assert got[2]["reason"] == "抽检不合格"

    # Refused: a revoked licence cannot be granted; an application for an unknown product.
    before = await count_all(db)
    again = await client.post(
        f"{LICENCES}/{licence['id']}/grant", json={"reason": "x"}, headers=staff.headers
    )
    assert again.status_code == 409
    bad = await client.post(
        applications_url(seller),
        json={"product_ids": ["no-such-product"], "valid_from": "2026-03-01", "valid_to": "2027-02-28"},
        headers=seller.manager.headers,
    )
    assert bad.status_code == 422
    assert await count_all(db) == before


async def test_certificate_changes_are_audited_with_the_licences_they_suspend(
    client: AsyncTestClient[Any], db: Database
) -> None:
    staff = await make_staff(client, db)
    seller: Seller = await new_seller(client, staff)
    product = await certified_product(client, seller)
    licence = await apply(client, seller, [product["id"]])
    await decide(client, staff, licence["id"], "grant", "材料齐全")
    cert = await add_certificate(
        client, seller.manager, product["id"], kind="green_food", valid_to="2027-12-31"
    )

    corrected = await client.patch(
        f"{CERTIFICATIONS}/{cert['id']}",
        json={"issuer": "中国绿色食品发展中心", "reason": "发证机关写错"},
        headers=seller.manager.headers,
    )
    assert corrected.status_code == 200, corrected.text
    compliance = next(
        c["id"]
        for c in (await client.get(f"{PRODUCTS}/{product['id']}")).json()["certifications"]
        if c["kind"] == "compliance_certificate"
    )
    withdrawn = await client.post(
        f"{CERTIFICATIONS}/{compliance}/withdraw", json={"reason": "证书作废"}, headers=seller.manager.headers
    )
    assert withdrawn.status_code == 200, withdrawn.text

    green = list(reversed(await entries(client, staff, "product_certification", cert["id"])))
    assert [e["action"] for e in green] == ["certification.created", "certification.corrected"]
    assert green[0]["before"] is None and green[0]["after"]["kind"] == "green_food"
    assert green[1]["before"]["issuer"] != green[1]["after"]["issuer"] == "中国绿色食品发展中心"
    assert green[1]["reason"] == "发证机关写错"
    gone, created = await entries(client, staff, "product_certification", compliance)
    assert created["action"] == "certification.created"
    assert gone["action"] == "certification.withdrawn"
    assert (gone["before"]["status"], gone["after"]["status"]) == ("active", "withdrawn")
    assert gone["after"]["licences_suspended"] == [licence["id"]]
    assert gone["actor_id"] == seller.manager.id

    # Refused: the same certificate twice, and a change to a withdrawn one.
    before = await count_all(db)
    duplicate = await client.post(
        f"{PRODUCTS}/{product['id']}/certifications",
        json=certificate_payload("green_food", number=cert["number"]),
        headers=seller.manager.headers,
    )
    assert duplicate.status_code == 409, duplicate.text
    late = await client.post(
        f"{CERTIFICATIONS}/{compliance}/withdraw", json={"reason": "再撤"}, headers=seller.manager.headers
    )
    assert late.status_code == 409, late.text
    assert await count_all(db) == before


async def test_a_staff_account_made_by_staff_is_audited_without_its_phone(
    client: AsyncTestClient[Any], db: Database
) -> None:
    district = await make_staff(client, db)
    phone = unique_phone()
    body = {
        "phone": phone,
        "password": "street password 123",
        "display_name": "凤凰街道经管站",
        "role": "street_staff",
        "region_code": STREET,
    }
    created = await client.post("/api/v1/staff", json=body, headers=district.headers)
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    [entry] = await entries(client, district, "user", user_id)
    assert entry["action"] == "user.staff_created"
    assert entry["actor_id"] == district.id
    assert entry["after"]["role"] == "street_staff"
    assert entry["after"]["region_code"] == STREET
    assert phone not in str(entry)
    street = await make_staff(client, db, role="street_staff", region_code=STREET)
    assert [e["id"] for e in await entries(client, street, "user", user_id)] == [entry["id"]]

    before = await count_all(db)
    taken = await client.post("/api/v1/staff", json=body, headers=district.headers)
    assert taken.status_code == 409, taken.text
    wrong_level = await client.post(
        "/api/v1/staff",
        json={**body, "phone": unique_phone(), "role": "village_staff"},
        headers=district.headers,
    )
    assert wrong_level.status_code == 422, wrong_level.text
    assert await count_all(db) == before


async def test_a_staff_members_password_change_and_sign_out_everywhere_are_audited(
    client: AsyncTestClient[Any], db: Database
) -> None:
    district = await make_staff(client, db)
    street = await make_staff(client, db, role="street_staff", region_code=STREET)
    before = await count_all(db)
    wrong = await client.post(
        "/api/v1/me/password",
        json={"current_password": "not it at all", "new_password": "a new password 1"},
        headers=street.headers,
    )
    assert wrong.status_code == 401
    assert await count_all(db) == before  # a refused change leaves no entry

    changed = await client.post(
        "/api/v1/me/password",
        json={"current_password": street.password, "new_password": "a new password 1"},
        headers=street.headers,
    )
    assert changed.status_code == 204, changed.text
    again = await client.post(
        "/api/v1/auth/login", json={"phone": street.phone, "password": "a new password 1"}
    )
    assert again.status_code == 200
    signed_out = await client.post(
        "/api/v1/me/sign-out-everywhere", headers={"Authorization": f"Bearer {again.json()['access_token']}"}
    )
    assert signed_out.status_code == 204
    got = await entries(client, district, "user", street.id)
    assert [e["action"] for e in got] == ["user.signed_out_everywhere", "user.password_changed"]
    assert all(e["actor_id"] == street.id for e in got)
    assert "a new password 1" not in str(got) and street.phone not in str(got)


async def test_a_decision_that_fails_after_its_entry_was_written_leaves_neither(
    client: AsyncTestClient[Any], db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The entry is written, then the request fails before its unit of work commits: the whole
    # transaction rolls back, the entry with the suspension and the licence it suspended.
    staff = await make_staff(client, db)
    seller = await new_seller(client, staff)
    product = await certified_product(client, seller)
    licence = await apply(client, seller, [product["id"]])
    await decide(client, staff, licence["id"], "grant", "材料齐全")
    licence_before = await licence_state(db, licence["id"])
    before = await count_all(db)

    async def fail(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the answer could not be built")

    monkeypatch.setattr(coops_service, "_full_out", fail)
    response = await client.post(
        f"/api/v1/cooperatives/{seller.coop['id']}/suspend",
        json={"reason": "抽检不合格"},
        headers=staff.headers,
    )
    assert response.status_code == 500
    monkeypatch.undo()

    assert await count_all(db) == before
    assert await licence_state(db, licence["id"]) == licence_before
    got = await client.get(f"/api/v1/cooperatives/{seller.coop['id']}", headers=staff.headers)
    assert got.json()["status"] == "approved"
