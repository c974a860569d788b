"""Brand licences: a manager applies, district staff grant (with a number), suspend or revoke; a
licence ends by itself at ``valid_to``; the badge follows in the catalogue list, filter and detail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.core import clock
from coopmarket.db import Database
from tests.brand.builders import (
    LICENCES,
    TERM,
    applications_url,
    apply,
    certified_product,
    decide,
    granted_licence,
    is_branded,
    licence_count,
    licence_state,
)
from tests.factories import Actor, create_product, make_staff, register_buyer
from tests.products.builders import PRODUCTS, Seller, add_certificate, new_seller

NOT_BRANDED = (False, False, False)
BRANDED = (True, True, True)


async def test_a_granted_licence_brands_its_products_and_gets_a_number(
    client: AsyncTestClient[Any], staff: Actor, seller: Seller
) -> None:
    # Given a certified product and another product of the same cooperative
    product = await certified_product(client, seller)
    other = await certified_product(client, seller)

    # When its manager applies for the brand on the first one
    licence = await apply(client, seller, [product["id"]])

    # Then the application waits, without a number, and nothing is branded yet
    assert (licence["status"], licence["number"], licence["brand"]) == ("applied", None, "Yanfeng Shangpin")
    assert licence["products"] == [{"id": product["id"], "name": product["name"]}]
    assert (licence["valid_from"], licence["valid_to"]) == (TERM["valid_from"], TERM["valid_to"])
    assert [(d["action"], d["to_status"], d["actor_id"]) for d in licence["decisions"]] == [
        ("apply", "applied", seller.manager.id)
    ]
    assert await is_branded(client, product["id"]) == NOT_BRANDED

    # When district staff grant it
    granted = await decide(client, staff, licence["id"], "grant", "材料齐全，准予使用")

    # Then it is granted with the first number of the year, and the decision is on record
    assert (granted["status"], granted["number"]) == ("granted", "YFSP-2026-0001")
    assert granted["granted_at"] == "2026-03-01T02:00:00Z"
    assert [
        (d["action"], d["from_status"], d["to_status"], d["reason"], d["actor_id"])
        for d in granted["decisions"]
    ] == [
        ("apply", None, "applied", None, seller.manager.id),
        ("grant", "applied", "granted", "材料齐全，准予使用", staff.id),
    ]
    # And the product shows the badge in the detail, the list and the branded filter; the other does not
    assert await is_branded(client, product["id"]) == BRANDED
    assert await is_branded(client, other["id"]) == NOT_BRANDED
    branded = (await client.get(PRODUCTS, params={"branded": "true"})).json()
    assert [i["id"] for i in branded["items"]] == [product["id"]]
    # And a second grant in the year gets the next number
    _, second = await granted_licence(client, seller, staff)
    assert second["number"] == "YFSP-2026-0002"


async def test_a_licence_ends_by_itself_at_valid_to(
    client: AsyncTestClient[Any], staff: Actor, seller: Seller
) -> None:
    # Given a licence granted until 28 February 2027
    product, licence = await granted_licence(client, seller, staff)
    # When it is 23:59 on its last day in Shanghai, the badge is there
    clock.set_now(datetime(2027, 2, 28, 15, 59, tzinfo=UTC))
    assert await is_branded(client, product["id"]) == BRANDED
    # When the next day begins in Shanghai (still 28 February in UTC), it has expired by itself
    clock.set_now(datetime(2027, 2, 28, 16, 0, tzinfo=UTC))
    assert await is_branded(client, product["id"]) == NOT_BRANDED
    one = (await client.get(f"{LICENCES}/{licence['id']}", headers=staff.headers)).json()
    assert one["status"] == "expired"
    # And listings by status agree with it
    expired = (await client.get(LICENCES, params={"status": "expired"}, headers=staff.headers)).json()
    granted = (await client.get(LICENCES, params={"status": "granted"}, headers=staff.headers)).json()
    assert [i["id"] for i in expired["items"]] == [licence["id"]]
    assert granted["items"] == []
    # And no decision can be taken on it any more
    for action in ("grant", "suspend", "revoke"):
        response = await client.post(
            f"{LICENCES}/{licence['id']}/{action}", json={"reason": "x"}, headers=staff.headers
        )
        assert (response.status_code, response.json()["code"]) == (409, "licence_expired"), action


async def test_a_licence_not_yet_begun_brands_nothing_until_it_begins(
    client: AsyncTestClient[Any], staff: Actor, seller: Seller
) -> None:
    product, licence = await granted_licence(
        client, seller, staff, valid_from="2026-04-01", valid_to="2027-03-31"
    )
    assert licence["status"] == "granted"
    assert await is_branded(client, product["id"]) == NOT_BRANDED
    clock.set_now(datetime(2026, 3, 31, 16, 0, tzinfo=UTC))  # 1 April, 00:00 in Shanghai
    assert await is_branded(client, product["id"]) == BRANDED


async def test_suspension_and_revocation_take_the_badge_away(
    client: AsyncTestClient[Any], db: Database, staff: Actor, seller: Seller
) -> None:
    # Given a granted licence
    product, licence = await granted_licence(client, seller, staff)

    # When staff try to suspend it without a reason, they are refused and nothing changes
    before = await licence_state(db, licence["id"])
    refused = await client.post(f"{LICENCES}/{licence['id']}/suspend", json={}, headers=staff.headers)
    assert (refused.status_code, refused.json()["code"]) == (422, "reason_required")
    assert await licence_state(db, licence["id"]) == before

    # When they suspend it with a reason, the badge goes
    suspended = await decide(client, staff, licence["id"], "suspend", "抽检农残超标")
    assert (suspended["status"], suspended["status_reason"]) == ("suspended", "抽检农残超标")
    assert await is_branded(client, product["id"]) == NOT_BRANDED

    # When they grant it again, it is reinstated with the same number
    reinstated = await decide(client, staff, licence["id"], "grant", "复检合格")
    assert (reinstated["status"], reinstated["number"]) == ("granted", licence["number"])
    assert await is_branded(client, product["id"]) == BRANDED

    # When they revoke it, the badge goes for good: it cannot be granted again
    revoked = await decide(client, staff, licence["id"], "revoke", "违规使用品牌标识")
    assert revoked["status"] == "revoked"
    assert await is_branded(client, product["id"]) == NOT_BRANDED
    again = await client.post(f"{LICENCES}/{licence['id']}/grant", json={}, headers=staff.headers)
    assert (again.status_code, again.json()["code"]) == (409, "invalid_transition")

    # And every decision keeps its actor, time and reason
    assert [(d["action"], d["to_status"], d["reason"], d["actor_id"]) for d in revoked["decisions"]] == [
        ("apply", "applied", None, seller.manager.id),
        ("grant", "granted", "材料齐全", staff.id),
        ("suspend", "suspended", "抽检农残超标", staff.id),
        ("grant", "granted", "复检合格", staff.id),
        ("revoke", "revoked", "违规使用品牌标识", staff.id),
    ]
    assert all(d["at"] == "2026-03-01T02:00:00Z" and not d["automatic"] for d in revoked["decisions"])


async def test_an_application_can_be_refused_by_revoking_it(
    client: AsyncTestClient[Any], staff: Actor, seller: Seller
) -> None:
    product = await certified_product(client, seller)
    licence = await apply(client, seller, [product["id"]])
    refused = await decide(client, staff, licence["id"], "revoke", "产品不在品牌目录内")
    assert (refused["status"], refused["number"]) == ("revoked", None)
    suspend = await client.post(
        f"{LICENCES}/{licence['id']}/suspend", json={"reason": "x"}, headers=staff.headers
    )
    assert (suspend.status_code, suspend.json()["code"]) == (409, "invalid_transition")


async def test_a_grant_is_refused_while_a_product_lacks_a_valid_certificate(
    client: AsyncTestClient[Any], db: Database, staff: Actor, seller: Seller
) -> None:
    # Given an application for a certified product and a product without any certificate
    covered = await certified_product(client, seller)
    bare = await create_product(client, seller.manager, seller.coop["id"])
    licence = await apply(client, seller, [covered["id"], bare["id"]])
    before = await licence_state(db, licence["id"])

    # When staff try to grant it
    response = await client.post(f"{LICENCES}/{licence['id']}/grant", json={}, headers=staff.headers)

    # Then it is refused, naming the product and the missing kind, and nothing changed
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["code"] == "certification_missing"
    assert body["errors"] == [
        {
            "field": f"products[{bare['id']}]",
            "message": "no valid compliance_certificate from 2026-03-01 to 2027-02-28",
        }
    ]
    assert await licence_state(db, licence["id"]) == before
    assert await is_branded(client, covered["id"]) == NOT_BRANDED

    # When the product's certificate arrives but ends before the term does, it is still refused
    await add_certificate(client, seller.manager, bare["id"], valid_from="2026-01-01", valid_to="2026-12-31")
    response = await client.post(f"{LICENCES}/{licence['id']}/grant", json={}, headers=staff.headers)
    assert response.json()["errors"] == [
        {
            "field": f"products[{bare['id']}]",
            "message": "no valid compliance_certificate from 2027-01-01 to 2027-02-28",
        }
    ]
    # When a renewal covers the rest of the term, it is granted, and the refusals used no number
    await add_certificate(client, seller.manager, bare["id"], valid_from="2027-01-01", valid_to="2027-12-31")
    granted = await decide(client, staff, licence["id"], "grant")
    assert granted["number"] == "YFSP-2026-0001"


async def test_an_expired_certificate_does_not_count_for_a_grant(
    client: AsyncTestClient[Any], staff: Actor, seller: Seller
) -> None:
    product = await certified_product(client, seller, valid_from="2025-01-01", valid_to="2026-02-28")
    licence = await apply(client, seller, [product["id"]])
    response = await client.post(f"{LICENCES}/{licence['id']}/grant", json={}, headers=staff.headers)
    assert (response.status_code, response.json()["code"]) == (409, "certification_missing")


class TestRequiredKindsAreASetting:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {
            "jwt_ttl_seconds": 5 * 366 * 24 * 3600,
            "brand_licence_required_certifications": ["compliance_certificate", "green_food"],
            "brand_licence_prefix": "FZPP",
        }

    async def test_every_required_kind_is_checked(
        self, client: AsyncTestClient[Any], staff: Actor, seller: Seller
    ) -> None:
        product = await certified_product(client, seller)
        licence = await apply(client, seller, [product["id"]])
        response = await client.post(f"{LICENCES}/{licence['id']}/grant", json={}, headers=staff.headers)
        assert [e["message"] for e in response.json()["errors"]] == [
            "no valid green_food from 2026-03-01 to 2027-02-28"
        ]
        await add_certificate(
            client,
            seller.manager,
            product["id"],
            kind="green_food",
            valid_from="2025-06-01",
            valid_to="2028-05-31",
        )
        assert (await decide(client, staff, licence["id"], "grant"))["number"] == "FZPP-2026-0001"


async def test_withdrawing_the_certificate_suspends_the_licence(
    client: AsyncTestClient[Any], staff: Actor, seller: Seller
) -> None:
    # Given a granted licence resting on one compliance certificate
    product, licence = await granted_licence(client, seller, staff)
    certificate = (await client.get(f"{PRODUCTS}/{product['id']}")).json()["certifications"][0]

    # When the manager withdraws that certificate
    response = await client.post(
        f"/api/v1/certifications/{certificate['id']}/withdraw",
        json={"reason": "合格证开具有误"},
        headers=seller.manager.headers,
    )

    # Then the licence is suspended in the same step, automatically, on the manager's action
    assert response.status_code == 200, response.text
    assert response.json()["suspended_licence_ids"] == [licence["id"]]
    after = (await client.get(f"{LICENCES}/{licence['id']}", headers=staff.headers)).json()
    assert after["status"] == "suspended"
    last = after["decisions"][-1]
    assert (last["action"], last["automatic"], last["actor_id"]) == ("suspend", True, seller.manager.id)
    assert "承诺达标合格证" in last["reason"] and "合格证开具有误" in last["reason"]
    assert await is_branded(client, product["id"]) == NOT_BRANDED


async def test_a_correction_suspends_the_licence_only_when_it_breaks_the_cover(
    client: AsyncTestClient[Any], staff: Actor, seller: Seller
) -> None:
    product, licence = await granted_licence(client, seller, staff)
    certificate = (await client.get(f"{PRODUCTS}/{product['id']}")).json()["certifications"][0]
    url = f"/api/v1/certifications/{certificate['id']}"
    # A correction that keeps the term covered leaves the licence alone
    kept = await client.patch(
        url, json={"valid_to": "2028-06-30", "reason": "延期"}, headers=seller.manager.headers
    )
    assert kept.json()["suspended_licence_ids"] == []
    assert await is_branded(client, product["id"]) == BRANDED
    # A correction that ends the certificate before the licence does suspends it
    broken = await client.patch(
        url, json={"valid_to": "2026-10-31", "reason": "按原件更正"}, headers=seller.manager.headers
    )
    assert broken.json()["suspended_licence_ids"] == [licence["id"]]
    assert await is_branded(client, product["id"]) == NOT_BRANDED
    # And staff cannot grant it again until the cover is back
    refused = await client.post(f"{LICENCES}/{licence['id']}/grant", json={}, headers=staff.headers)
    assert (refused.status_code, refused.json()["code"]) == (409, "certification_missing")


async def test_staff_list_licences_expiring_within_n_days(
    client: AsyncTestClient[Any], staff: Actor, seller: Seller
) -> None:
    # Given licences ending in 10, 40 and 400 days, and a revoked one ending in 5
    _, soon = await granted_licence(client, seller, staff, valid_to="2026-03-11")
    _, later = await granted_licence(client, seller, staff, valid_to="2026-04-10")
    await granted_licence(client, seller, staff, valid_to="2027-04-05")
    _, gone = await granted_licence(client, seller, staff, valid_to="2026-03-06")
    await decide(client, staff, gone["id"], "revoke", "撤销")

    async def expiring(days: int, **params: Any) -> dict[str, Any]:
        response = await client.get(
            LICENCES, params={"expiring_within_days": days, **params}, headers=staff.headers
        )
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    # Then 30 days finds the first, 60 the first two, soonest first, page by page
    assert [i["id"] for i in (await expiring(30))["items"]] == [soon["id"]]
    first = await expiring(60, limit=1)
    rest = await expiring(60, limit=1, cursor=first["next_cursor"])
    assert [i["id"] for i in first["items"] + rest["items"]] == [soon["id"], later["id"]]
    assert rest["next_cursor"] is None
    assert [i["id"] for i in (await expiring(0))["items"]] == []
    # And one not granted yet shows too (applications still count), but not the revoked one
    product = await certified_product(client, seller)
    pending = await apply(client, seller, [product["id"]], valid_to="2026-03-20")
    assert [i["id"] for i in (await expiring(30))["items"]] == [soon["id"], pending["id"]]
    assert [i["id"] for i in (await expiring(30, status="granted"))["items"]] == [soon["id"]]


async def test_who_sees_which_licences(
    client: AsyncTestClient[Any], db: Database, staff: Actor, seller: Seller
) -> None:
    # Given a licence of a cooperative in 凤凰街道 and one of a cooperative in 坊安街道
    _, mine = await granted_licence(client, seller, staff)
    other = await new_seller(client, staff, village_code="370704004201")
    _, theirs = await granted_licence(client, other, staff)
    street = await make_staff(client, db, role="street_staff", region_code="370704003")

    async def ids(actor: Actor) -> list[str]:
        response = await client.get(LICENCES, headers=actor.headers)
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()["items"]]

    # Then district staff see both, street staff their street's, each manager their own
    assert await ids(staff) == [theirs["id"], mine["id"]]
    assert await ids(street) == [mine["id"]]
    assert await ids(seller.manager) == [mine["id"]]
    assert await ids(other.manager) == [theirs["id"]]
    by_cooperative = await client.get(
        LICENCES, params={"cooperative_id": other.coop["id"]}, headers=staff.headers
    )
    assert [i["id"] for i in by_cooperative.json()["items"]] == [theirs["id"]]
    # And one licence is 404 to another cooperative's manager and street, 403 to a buyer
    assert (await client.get(f"{LICENCES}/{theirs['id']}", headers=seller.manager.headers)).status_code == 404
    assert (await client.get(f"{LICENCES}/{theirs['id']}", headers=street.headers)).status_code == 404
    buyer = await register_buyer(client)
    assert (await client.get(LICENCES, headers=buyer.headers)).json()["code"] == "forbidden_role"
    assert (await client.get(f"{LICENCES}/{mine['id']}", headers=buyer.headers)).status_code == 403


@pytest.mark.parametrize(
    ("body", "code", "fields"),
    [
        ({"valid_from": "2026-05-01", "valid_to": "2026-04-30"}, "invalid_licence_term", ["valid_to"]),
        ({"valid_from": "2025-01-01", "valid_to": "2026-02-28"}, "invalid_licence_term", ["valid_to"]),
        ({"valid_from": "2026-03-01", "valid_to": "2031-03-10"}, "invalid_licence_term", ["valid_to"]),
    ],
)
async def test_a_bad_term_is_refused(
    client: AsyncTestClient[Any],
    db: Database,
    seller: Seller,
    body: dict[str, str],
    code: str,
    fields: list[str],
) -> None:
    product = await certified_product(client, seller)
    response = await client.post(
        applications_url(seller),
        json={"product_ids": [product["id"]], **body},
        headers=seller.manager.headers,
    )
    assert (response.status_code, response.json()["code"]) == (422, code)
    assert [e["field"] for e in response.json()["errors"]] == fields
    assert await licence_count(db) == 0


async def test_only_the_cooperatives_active_products_can_be_named(
    client: AsyncTestClient[Any], db: Database, staff: Actor, seller: Seller
) -> None:
    own = await certified_product(client, seller)
    archived = await certified_product(client, seller)
    await client.post(f"{PRODUCTS}/{archived['id']}/archive", headers=seller.manager.headers)
    foreign = await certified_product(client, await new_seller(client, staff))
    response = await client.post(
        applications_url(seller),
        json={"product_ids": [own["id"], archived["id"], foreign["id"], own["id"], "nope"], **TERM},
        headers=seller.manager.headers,
    )
    assert (response.status_code, response.json()["code"]) == (422, "invalid_licence_products")
    assert response.json()["errors"] == [
        {"field": "product_ids[1]", "message": "not an active product of this cooperative"},
        {"field": "product_ids[2]", "message": "not an active product of this cooperative"},
        {"field": "product_ids[3]", "message": "listed twice"},
        {"field": "product_ids[4]", "message": "not an active product of this cooperative"},
    ]
    assert await licence_count(db) == 0
