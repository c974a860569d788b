"""Builders and database look-ups for the brand licence tests."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from coopmarket.coops.models import BrandLicence, BrandLicenceDecision
from coopmarket.db import Database
from tests.factories import Actor, create_product
from tests.products.builders import PRODUCTS, Seller, add_certificate

LICENCES = "/api/v1/brand-licences"
TERM = {"valid_from": "2026-03-01", "valid_to": "2027-02-28"}


def applications_url(seller: Seller) -> str:
    return f"/api/v1/cooperatives/{seller.coop['id']}/brand-licences"


async def certified_product(
    client: AsyncTestClient[Any],
    seller: Seller,
    *,
    valid_from: str = "2026-01-01",
    valid_to: str = "2027-12-31",
) -> dict[str, Any]:
    """A product with a compliance certificate covering the default licence term."""
    product = await create_product(client, seller.manager, seller.coop["id"])
    await add_certificate(client, seller.manager, product["id"], valid_from=valid_from, valid_to=valid_to)
    return product


async def apply(
    client: AsyncTestClient[Any], seller: Seller, product_ids: list[str], **term: str
) -> dict[str, Any]:
    response = await client.post(
        applications_url(seller),
        json={"product_ids": product_ids, **(TERM | term)},
        headers=seller.manager.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def decide(
    client: AsyncTestClient[Any], staff: Actor, licence_id: str, action: str, reason: str | None = "检查"
) -> dict[str, Any]:
    response = await client.post(
        f"{LICENCES}/{licence_id}/{action}", json={"reason": reason}, headers=staff.headers
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def granted_licence(
    client: AsyncTestClient[Any], seller: Seller, staff: Actor, **term: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A certified product and a granted licence naming it: (product, licence)."""
    product = await certified_product(client, seller)
    licence = await apply(client, seller, [product["id"]], **term)
    return product, await decide(client, staff, licence["id"], "grant", "材料齐全")


async def is_branded(client: AsyncTestClient[Any], product_id: str) -> tuple[bool, bool, bool]:
    """(detail says branded, the list item says branded, branded=true lists it)."""
    detail = (await client.get(f"{PRODUCTS}/{product_id}")).json()["is_branded"]
    items = (await client.get(PRODUCTS, params={"limit": 100})).json()["items"]
    listed = next(i["is_branded"] for i in items if i["id"] == product_id)
    filtered = (await client.get(PRODUCTS, params={"branded": "true", "limit": 100})).json()["items"]
    return detail, listed, product_id in {i["id"] for i in filtered}


async def licence_state(db: Database, licence_id: str) -> tuple[Any, ...]:
    """The stored licence row and its decisions, for asserting that a refusal changed nothing."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(
                    BrandLicence.status,
                    BrandLicence.number,
                    BrandLicence.status_reason,
                    BrandLicence.updated_at,
                ).where(BrandLicence.id == licence_id)
            )
        ).one()
        decisions = (
            await conn.execute(
                select(func.count())
                .select_from(BrandLicenceDecision)
                .where(BrandLicenceDecision.licence_id == licence_id)
            )
        ).scalar_one()
    return (*row, decisions)


async def licence_count(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(BrandLicence))).scalar_one())
