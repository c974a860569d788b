"""Who may act on brand licences. Applying is for the cooperative's managers; granting, suspending
and revoking for district staff only (API.md); every refusal leaves the data as it was."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from tests.brand.builders import (
    LICENCES,
    TERM,
    applications_url,
    apply,
    certified_product,
    granted_licence,
    licence_count,
    licence_state,
)
from tests.factories import Actor, make_staff, register_buyer
from tests.products.builders import Seller, new_seller

# caller kind → (status, code) when applying for the seller's cooperative
APPLY_REFUSALS = {
    "other_manager": (404, "cooperative_not_found"),
    "buyer": (403, "forbidden_role"),
    "district_staff": (403, "forbidden_role"),
    "stranger": (401, "not_authenticated"),
    "bad_token": (401, "invalid_token"),
}
# caller kind → (status, code) for grant, suspend and revoke
DECISION_REFUSALS = {
    "its_manager": (403, "forbidden_role"),
    "buyer": (403, "forbidden_role"),
    "street_staff": (403, "forbidden_role"),
    "village_staff": (403, "forbidden_role"),
    "stranger": (401, "not_authenticated"),
    "bad_token": (401, "invalid_token"),
}


async def headers_for(
    kind: str, client: AsyncTestClient[Any], db: Database, staff: Actor, seller: Seller
) -> dict[str, str]:
    if kind == "other_manager":
        return (await new_seller(client, staff)).manager.headers
    if kind == "its_manager":
        return seller.manager.headers
    if kind == "buyer":
        return (await register_buyer(client)).headers
    if kind == "district_staff":
        return staff.headers
    if kind == "street_staff":
        return (await make_staff(client, db, role="street_staff", region_code="370704003")).headers
    if kind == "village_staff":
        return (await make_staff(client, db, role="village_staff", region_code="370704003200")).headers
    if kind == "bad_token":
        return {"Authorization": "Bearer not-a-token"}
    return {}


def assert_refused(response: Any, expected: tuple[int, str]) -> None:
    assert response.status_code == expected[0], response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == expected[1]


@pytest.mark.parametrize("kind", list(APPLY_REFUSALS))
async def test_only_its_manager_applies(
    client: AsyncTestClient[Any], db: Database, staff: Actor, seller: Seller, kind: str
) -> None:
    product = await certified_product(client, seller)
    response = await client.post(
        applications_url(seller),
        json={"product_ids": [product["id"]], **TERM},
        headers=await headers_for(kind, client, db, staff, seller),
    )
    assert_refused(response, APPLY_REFUSALS[kind])
    assert await licence_count(db) == 0


async def test_a_cooperative_that_is_not_approved_cannot_apply(
    client: AsyncTestClient[Any], db: Database, staff: Actor, seller: Seller
) -> None:
    product = await certified_product(client, seller)
    suspended = await client.post(
        f"/api/v1/cooperatives/{seller.coop['id']}/suspend", json={"reason": "整改"}, headers=staff.headers
    )
    assert suspended.status_code == 200
    response = await client.post(
        applications_url(seller),
        json={"product_ids": [product["id"]], **TERM},
        headers=seller.manager.headers,
    )
    assert_refused(response, (409, "cooperative_not_approved"))
    assert await licence_count(db) == 0


@pytest.mark.parametrize("kind", list(DECISION_REFUSALS))
@pytest.mark.parametrize("action", ["grant", "suspend", "revoke"])
async def test_only_district_staff_decide(
    client: AsyncTestClient[Any], db: Database, staff: Actor, seller: Seller, kind: str, action: str
) -> None:
    # Given an application (to grant) or a granted licence (to suspend or revoke)
    if action == "grant":
        licence = await apply(client, seller, [(await certified_product(client, seller))["id"]])
    else:
        _, licence = await granted_licence(client, seller, staff)
    before = await licence_state(db, licence["id"])
    # When someone who is not district staff decides
    response = await client.post(
        f"{LICENCES}/{licence['id']}/{action}",
        json={"reason": "越权"},
        headers=await headers_for(kind, client, db, staff, seller),
    )
    # Then they are refused and the licence did not change
    assert_refused(response, DECISION_REFUSALS[kind])
    assert await licence_state(db, licence["id"]) == before


async def test_an_unknown_licence_is_404_to_district_staff(
    client: AsyncTestClient[Any], staff: Actor
) -> None:
    for action in ("grant", "suspend", "revoke"):
        response = await client.post(
            f"{LICENCES}/01aaaaaaaaaaaaaaaaaaaaaaaa/{action}", json={}, headers=staff.headers
        )
        assert_refused(response, (404, "licence_not_found"))


@pytest.mark.parametrize(("kind", "expected"), [("stranger", 401), ("bad_token", 401), ("buyer", 403)])
async def test_listing_needs_staff_or_a_manager(
    client: AsyncTestClient[Any], db: Database, staff: Actor, seller: Seller, kind: str, expected: int
) -> None:
    await granted_licence(client, seller, staff)
    response = await client.get(LICENCES, headers=await headers_for(kind, client, db, staff, seller))
    assert response.status_code == expected
