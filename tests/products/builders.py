"""Builders for catalogue tests: sellers (an approved cooperative and its manager), hidden
cooperatives, and direct reads of the catalogue tables to prove what did or did not change."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from coopmarket.core import clock
from coopmarket.db import Database
from coopmarket.products.models import CertificationRevision, Product, ProductBatch, ProductCertification, Sku
from tests.factories import Actor, approved_cooperative, coop_payload, login, register_buyer

PRODUCTS = "/api/v1/products"


@dataclass
class Seller:
    manager: Actor
    coop: dict[str, Any]

    @property
    def products_url(self) -> str:
        return f"/api/v1/cooperatives/{self.coop['id']}/products"


async def new_seller(client: AsyncTestClient[Any], staff: Actor, **coop_overrides: Any) -> Seller:
    """A new user who registered a cooperative that ``staff`` approved."""
    manager, coop = await approved_cooperative(client, staff, **coop_overrides)
    return Seller(manager, coop)


async def pending_seller(client: AsyncTestClient[Any]) -> Seller:
    """A new user whose cooperative is registered but not yet approved."""
    user = await register_buyer(client, display_name="待审合作社理事长")
    response = await client.post("/api/v1/cooperatives", json=coop_payload(), headers=user.headers)
    assert response.status_code == 201, response.text
    return Seller(await login(client, user.phone, user.password), response.json())


async def suspend(client: AsyncTestClient[Any], staff: Actor, cooperative_id: str) -> None:
    response = await client.post(
        f"/api/v1/cooperatives/{cooperative_id}/suspend", json={"reason": "抽检不合格"}, headers=staff.headers
    )
    assert response.status_code == 200, response.text


async def insert_product(
    db: Database, cooperative_id: str, village_code: str, *, name: str = "直插产品"
) -> str:
    """A product written straight to the database (for a cooperative that may not list through the API)."""
    now = clock.now()
    async with db.session() as session:
        product = Product(
            cooperative_id=cooperative_id,
            name=name,
            category="fruit",
            description="",
            unit="box",
            origin_village_code=village_code,
            min_price_fen=1000,
            created_at=now,
            updated_at=now,
        )
        session.add(product)
        await session.flush()
        session.add(
            Sku(product_id=product.id, code="X-1", spec="一箱", price_fen=1000, stock=5, created_at=now)
        )
        await session.commit()
        return product.id


async def product_state(db: Database, product_id: str) -> dict[str, Any]:
    """The stored product and its SKUs, for asserting that a refused request changed nothing."""
    async with db.read() as conn:
        product = (
            await conn.execute(
                select(
                    Product.name,  # type: ignore[arg-type]
                    Product.category,
                    Product.description,
                    Product.unit,
                    Product.origin_village_code,
                    Product.status,
                    Product.min_price_fen,
                ).where(Product.id == product_id)  # type: ignore[arg-type]
            )
        ).one()
        skus = (
            await conn.execute(
                select(Sku.id, Sku.code, Sku.spec, Sku.price_fen, Sku.stock)  # type: ignore[call-overload]
                .where(Sku.product_id == product_id)
                .order_by(Sku.id)
            )
        ).all()
    return {**product._asdict(), "skus": [s._asdict() for s in skus]}


async def sku_stock(db: Database, sku_id: str) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(Sku.stock).where(Sku.id == sku_id))).scalar_one())  # type: ignore[arg-type]


async def product_count(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(Product))).scalar_one())


# --- certificates and batches ----------------------------------------------------------------

# A frozen "now" for provenance tests: 2026-03-01 10:00 in Asia/Shanghai.
NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
_certificate_numbers = itertools.count(1001)


def certificate_payload(kind: str = "compliance_certificate", **overrides: Any) -> dict[str, Any]:
    n = next(_certificate_numbers)
    numbers = {
        "compliance_certificate": f"HG-2026-{n:05d}",
        "green_food": f"LB-15-26030{n:05d}A",
        "organic": f"227OP26{n:05d}",
        "geographical_indication": f"AGI0{n:04d}",
    }
    payload: dict[str, Any] = {
        "kind": kind,
        "number": numbers[kind],
        "issuer": "潍坊市坊子区农业农村局" if kind != "compliance_certificate" else "本合作社",
        "valid_from": "2026-01-01",
        "valid_to": "2026-12-31",
    }
    payload.update(overrides)
    return payload


async def add_certificate(
    client: AsyncTestClient[Any], manager: Actor, product_id: str, **overrides: Any
) -> dict[str, Any]:
    response = await client.post(
        f"{PRODUCTS}/{product_id}/certifications",
        json=certificate_payload(**overrides),
        headers=manager.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def certification_state(db: Database, product_id: str) -> list[tuple[Any, ...]]:
    """Every certificate of a product with its version, and the number of recorded revisions."""
    async with db.read() as conn:
        certificates = (
            await conn.execute(
                select(
                    ProductCertification.id,
                    ProductCertification.kind,
                    ProductCertification.number,
                    ProductCertification.issuer,
                    ProductCertification.valid_from,
                    ProductCertification.valid_to,
                    ProductCertification.status,
                    ProductCertification.version,
                )
                .where(ProductCertification.product_id == product_id)
                .order_by(ProductCertification.id)
            )
        ).all()
        revisions = (await conn.execute(select(func.count()).select_from(CertificationRevision))).scalar_one()
    return [tuple(c) for c in certificates] + [("revisions", revisions)]


async def batch_count(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(ProductBatch))).scalar_one())
