"""Certificates of a product: recorded by its manager, shown on the product with ``is_valid`` on the
request's date in Asia/Shanghai, corrected or withdrawn with the history kept."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.core import clock
from coopmarket.db import Database
from tests.factories import Actor, create_product, make_staff
from tests.products.builders import (
    NOW,
    PRODUCTS,
    Seller,
    add_certificate,
    certificate_payload,
    certification_state,
)
from tests.products.test_authorisation import REFUSALS, assert_refused, headers_for

CERTIFICATIONS = "/api/v1/certifications"


@pytest.fixture(autouse=True)
def _frozen_clock() -> None:
    clock.set_now(NOW)  # 2026-03-01 10:00 in Shanghai


async def _product(client: AsyncTestClient[Any], seller: Seller) -> dict[str, Any]:
    return await create_product(client, seller.manager, seller.coop["id"])


async def _public_certifications(client: AsyncTestClient[Any], product_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"{PRODUCTS}/{product_id}")
    assert response.status_code == 200, response.text
    return response.json()["certifications"]  # type: ignore[no-any-return]


async def test_manager_records_a_certificate_and_the_product_shows_it(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    # Given a product
    product = await _product(client, seller)
    # When its manager records a green food certificate typed with full-width characters
    response = await client.post(
        f"{PRODUCTS}/{product['id']}/certifications",
        json={
            "kind": "green_food",
            "number": "ｌｂ－１５－１８１１０３０３９１ａ",
            "issuer": " 中国绿色食品发展中心 ",
            "valid_from": "2025-06-01",
            "valid_to": "2028-05-31",
        },
        headers=seller.manager.headers,
    )
    # Then it is stored normalised, valid today, with its first version in the history
    assert response.status_code == 201, response.text
    body = response.json()
    assert {
        k: body[k] for k in ("kind", "number", "issuer", "valid_from", "valid_to", "is_valid", "status")
    } == {
        "kind": "green_food",
        "number": "LB-15-1811030391A",
        "issuer": "中国绿色食品发展中心",
        "valid_from": "2025-06-01",
        "valid_to": "2028-05-31",
        "is_valid": True,
        "status": "active",
    }
    assert [(h["version"], h["action"], h["actor_id"]) for h in body["history"]] == [
        (1, "created", seller.manager.id)
    ]
    # And anyone sees it on the product
    assert await _public_certifications(client, product["id"]) == [
        {
            "id": body["id"],
            "kind": "green_food",
            "number": "LB-15-1811030391A",
            "issuer": "中国绿色食品发展中心",
            "valid_from": "2025-06-01",
            "valid_to": "2028-05-31",
            "is_valid": True,
        }
    ]


async def test_an_expired_certificate_is_never_shown_as_valid(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    # Given a certificate valid until 31 March 2026
    product = await _product(client, seller)
    await add_certificate(
        client, seller.manager, product["id"], valid_from="2026-01-01", valid_to="2026-03-31"
    )
    # When it is 23:59 on 31 March in Shanghai, it is valid
    clock.set_now(datetime(2026, 3, 31, 15, 59, tzinfo=UTC))
    assert [c["is_valid"] for c in await _public_certifications(client, product["id"])] == [True]
    # When it is midnight in Shanghai (still 31 March in UTC), it has expired
    clock.set_now(datetime(2026, 3, 31, 16, 0, tzinfo=UTC))
    assert [c["is_valid"] for c in await _public_certifications(client, product["id"])] == [False]
    # And a year later it is still shown, never as valid
    clock.set_now(datetime(2027, 3, 1, tzinfo=UTC))
    assert [c["is_valid"] for c in await _public_certifications(client, product["id"])] == [False]


async def test_a_certificate_not_yet_valid_is_not_valid(client: AsyncTestClient[Any], seller: Seller) -> None:
    # Given a certificate that starts tomorrow (Shanghai time)
    product = await _product(client, seller)
    await add_certificate(
        client, seller.manager, product["id"], valid_from="2026-03-02", valid_to="2027-03-01"
    )
    assert [c["is_valid"] for c in await _public_certifications(client, product["id"])] == [False]
    # When the day comes in Shanghai (16:00 UTC the day before), it is valid
    clock.set_now(datetime(2026, 3, 1, 16, 0, tzinfo=UTC))
    assert [c["is_valid"] for c in await _public_certifications(client, product["id"])] == [True]


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        ({"kind": "green_food", "number": "AGI01459"}, "invalid_certification_number", "number"),
        (
            {"kind": "geographical_indication", "number": "LB-15-1811030391A"},
            "invalid_certification_number",
            "number",
        ),
        ({"valid_from": "2026-05-01", "valid_to": "2026-04-30"}, "invalid_certification_dates", "valid_to"),
        (
            {
                "kind": "organic",
                "number": "227OP2600001",
                "valid_from": "2026-01-01",
                "valid_to": "2027-01-01",
            },
            "invalid_certification_dates",
            "valid_to",
        ),
        ({"issuer": "   "}, "invalid_certification", "issuer"),
    ],
)
async def test_a_bad_certificate_is_refused_and_nothing_is_stored(
    client: AsyncTestClient[Any], db: Database, seller: Seller, payload: dict[str, Any], code: str, field: str
) -> None:
    product = await _product(client, seller)
    response = await client.post(
        f"{PRODUCTS}/{product['id']}/certifications",
        json=certificate_payload(**payload),
        headers=seller.manager.headers,
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert await certification_state(db, product["id"]) == [("revisions", 0)]


async def test_an_unknown_kind_is_refused(client: AsyncTestClient[Any], db: Database, seller: Seller) -> None:
    product = await _product(client, seller)
    response = await client.post(
        f"{PRODUCTS}/{product['id']}/certifications",
        json=certificate_payload() | {"kind": "iso9001"},
        headers=seller.manager.headers,
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert await certification_state(db, product["id"]) == [("revisions", 0)]


async def test_the_same_certificate_twice_is_a_conflict(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    product = await _product(client, seller)
    payload = certificate_payload("geographical_indication", number="AGI01459")
    first = await client.post(
        f"{PRODUCTS}/{product['id']}/certifications", json=payload, headers=seller.manager.headers
    )
    assert first.status_code == 201
    before = await certification_state(db, product["id"])
    again = await client.post(
        f"{PRODUCTS}/{product['id']}/certifications",
        json=payload | {"number": "agi-01459".replace("-", "")},
        headers=seller.manager.headers,
    )
    assert again.status_code == 409
    assert again.json()["code"] == "certification_exists"
    assert await certification_state(db, product["id"]) == before


async def test_a_correction_keeps_every_version(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    # Given a certificate recorded with a wrong end date
    product = await _product(client, seller)
    cert = await add_certificate(client, seller.manager, product["id"], valid_to="2026-06-30")
    # When its manager corrects the date and the issuer, with a reason
    clock.set_now(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    response = await client.patch(
        f"{CERTIFICATIONS}/{cert['id']}",
        json={"valid_to": "2026-12-31", "issuer": "坊子区农业农村局", "reason": "录入错误，按原件更正"},
        headers=seller.manager.headers,
    )
    # Then the certificate is at version 2 and its history holds both versions, with who and why
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["version"], body["valid_to"], body["issuer"], body["suspended_licence_ids"]) == (
        2,
        "2026-12-31",
        "坊子区农业农村局",
        [],
    )
    assert [
        (h["version"], h["action"], h["valid_to"], h["issuer"], h["reason"]) for h in body["history"]
    ] == [
        (1, "created", "2026-06-30", "本合作社", None),
        (2, "corrected", "2026-12-31", "坊子区农业农村局", "录入错误，按原件更正"),
    ]
    assert body["history"][1]["at"] == "2026-03-02T01:00:00Z"
    # And the product shows the corrected certificate; the manager's list shows the same history
    assert [c["valid_to"] for c in await _public_certifications(client, product["id"])] == ["2026-12-31"]
    listed = await client.get(f"{PRODUCTS}/{product['id']}/certifications", headers=seller.manager.headers)
    assert listed.status_code == 200
    assert listed.json()["items"][0]["history"] == body["history"]


async def test_a_correction_that_changes_nothing_is_refused(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    product = await _product(client, seller)
    cert = await add_certificate(client, seller.manager, product["id"])
    before = await certification_state(db, product["id"])
    response = await client.patch(
        f"{CERTIFICATIONS}/{cert['id']}",
        json={"number": cert["number"].lower(), "reason": "无"},
        headers=seller.manager.headers,
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_certification"
    assert await certification_state(db, product["id"]) == before


async def test_a_withdrawn_certificate_leaves_the_product_and_stays_on_record(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    # Given a certificate
    product = await _product(client, seller)
    cert = await add_certificate(client, seller.manager, product["id"])
    # When its manager withdraws it
    response = await client.post(
        f"{CERTIFICATIONS}/{cert['id']}/withdraw",
        json={"reason": "证书被发证机关注销"},
        headers=seller.manager.headers,
    )
    # Then it is withdrawn, never valid, and no longer on the public product
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["is_valid"], body["version"]) == ("withdrawn", False, 2)
    assert [h["action"] for h in body["history"]] == ["created", "withdrawn"]
    assert await _public_certifications(client, product["id"]) == []
    listed = (
        await client.get(f"{PRODUCTS}/{product['id']}/certifications", headers=seller.manager.headers)
    ).json()
    assert [(c["id"], c["status"]) for c in listed["items"]] == [(cert["id"], "withdrawn")]
    # And it cannot be corrected or withdrawn again
    before = await certification_state(db, product["id"])
    again = await client.post(
        f"{CERTIFICATIONS}/{cert['id']}/withdraw", json={"reason": "x"}, headers=seller.manager.headers
    )
    fix = await client.patch(
        f"{CERTIFICATIONS}/{cert['id']}",
        json={"valid_to": "2026-11-30", "reason": "x"},
        headers=seller.manager.headers,
    )
    assert (again.status_code, again.json()["code"]) == (409, "certification_withdrawn")
    assert (fix.status_code, fix.json()["code"]) == (409, "certification_withdrawn")
    assert await certification_state(db, product["id"]) == before
    # But the same number may be recorded again (a reissued certificate)
    await add_certificate(client, seller.manager, product["id"], number=cert["number"])


async def test_staff_in_scope_read_the_history_and_other_staff_do_not(
    client: AsyncTestClient[Any], db: Database, staff: Actor, seller: Seller
) -> None:
    product = await _product(client, seller)
    await add_certificate(client, seller.manager, product["id"])
    street = await make_staff(client, db, role="street_staff", region_code="370704003")
    other_street = await make_staff(client, db, role="street_staff", region_code="370704004")
    url = f"{PRODUCTS}/{product['id']}/certifications"
    assert (await client.get(url, headers=staff.headers)).status_code == 200
    assert (await client.get(url, headers=street.headers)).status_code == 200
    refused = await client.get(url, headers=other_street.headers)
    assert (refused.status_code, refused.json()["code"]) == (404, "product_not_found")


# --- authorisation: every refusal changes nothing -----------------------------------------------


@pytest.mark.parametrize("kind", list(REFUSALS))
async def test_only_its_manager_records_a_certificate(
    client: AsyncTestClient[Any], db: Database, staff: Actor, seller: Seller, kind: str
) -> None:
    product = await _product(client, seller)
    headers = await headers_for(kind, client, staff)
    response = await client.post(
        f"{PRODUCTS}/{product['id']}/certifications", json=certificate_payload(), headers=headers
    )
    assert_refused(response, kind)
    assert await certification_state(db, product["id"]) == [("revisions", 0)]


@pytest.mark.parametrize("kind", list(REFUSALS))
@pytest.mark.parametrize("change", ["correct", "withdraw"])
async def test_only_its_manager_corrects_or_withdraws_a_certificate(
    client: AsyncTestClient[Any], db: Database, staff: Actor, seller: Seller, kind: str, change: str
) -> None:
    product = await _product(client, seller)
    cert = await add_certificate(client, seller.manager, product["id"])
    before = await certification_state(db, product["id"])
    headers = await headers_for(kind, client, staff)
    if change == "correct":
        response = await client.patch(
            f"{CERTIFICATIONS}/{cert['id']}", json={"valid_to": "2029-12-31", "reason": "x"}, headers=headers
        )
    else:
        response = await client.post(
            f"{CERTIFICATIONS}/{cert['id']}/withdraw", json={"reason": "x"}, headers=headers
        )
    status, _code = REFUSALS[kind]
    assert response.status_code == status, response.text
    if status == 404:
        assert response.json()["code"] == "certification_not_found"
    assert_refused(response, kind)
    assert await certification_state(db, product["id"]) == before


@pytest.mark.parametrize("kind", ["other_manager", "buyer", "stranger", "bad_token"])
async def test_who_may_not_read_a_certificate_history(
    client: AsyncTestClient[Any], staff: Actor, seller: Seller, kind: str
) -> None:
    product = await _product(client, seller)
    await add_certificate(client, seller.manager, product["id"])
    response = await client.get(
        f"{PRODUCTS}/{product['id']}/certifications", headers=await headers_for(kind, client, staff)
    )
    assert_refused(response, kind)
