"""Who may change a product: its cooperative's managers (shared by the slice's entity modules)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from coopmarket.core.errors import PermissionDenied
from coopmarket.core.principal import COOP_MANAGER, Principal
from coopmarket.products.errors import ProductNotFound
from coopmarket.products.models import Product

P = Product.metadata.tables["product"].c


def require_manager_role(principal: Principal) -> None:
    """Only cooperative managers touch the catalogue; which cooperative is checked per object."""
    if principal.role != COOP_MANAGER:
        raise PermissionDenied("Only cooperative managers manage products.", code="forbidden_role")


async def managed_product_for_update(session: AsyncSession, principal: Principal, product_id: str) -> Product:
    """The product, locked for this transaction; 404 unless the caller manages its cooperative.

    Certificate changes, batches and the catalogue's own writes take this lock, and a brand licence
    grant takes the same product locks before it checks certificates, so the two never interleave.
    """
    require_manager_role(principal)
    product = (
        await session.execute(select(Product).where(P.id == product_id).with_for_update())
    ).scalar_one_or_none()
    if product is None or not principal.manages(product.cooperative_id):
        raise ProductNotFound(f"No product {product_id}.")
    return product
