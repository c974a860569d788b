"""Product photos: their order and cover, deletion, and the URLs that product answers carry.

Positions are 1..n without gaps and exactly one image of a product with images is its cover; every
change locks the product row first (``FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite),
and the unique constraints on (product, position) and the partial unique cover index stand guard.
Uploading and attaching photos is ``image_uploads.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import FromClause, Join, and_, bindparam, case, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from coopmarket.core.errors import FieldError, PermissionDenied
from coopmarket.core.principal import COOP_MANAGER, Principal
from coopmarket.db import Database
from coopmarket.products.errors import ImageNotFound, InvalidImageChange, ProductNotFound
from coopmarket.products.models import Product, ProductImage
from coopmarket.products.schemas import ImagePatch, ProductImageOut
from coopmarket.storage.base import ObjectStorage, StorageError

log = logging.getLogger("coopmarket.products.images")

MAX_IMAGES_PER_PRODUCT = 20

_image = ProductImage.metadata.tables["product_image"]
_product = Product.metadata.tables["product"]
I = _image.c  # noqa: E741 - the table's columns, as P and S in service.py
P = _product.c

_IMAGE_COLUMNS = (I.id, I.key, I.thumb_key, I.is_cover, I.position, I.width, I.height)
# Above any position: renumbering moves every image out of the way first, so that the unique
# (product, position) constraint never sees two images on one position, even row by row.
_RENUMBER_OFFSET = 1_000_000


# --- keys --------------------------------------------------------------------------------------


def product_prefix(product_id: str) -> str:
    return f"products/{product_id}/"


# --- reads (join the caller's connection) ------------------------------------------------------


def _image_out(row: Any, storage: ObjectStorage) -> ProductImageOut:
    return ProductImageOut(
        id=row.id,
        url=storage.url(row.key),
        thumb_url=storage.url(row.thumb_key),
        is_cover=row.is_cover,
        position=row.position,
        width=row.width,
        height=row.height,
    )


_IMAGES_OF_PRODUCT = (
    select(*_IMAGE_COLUMNS).where(I.product_id == bindparam("product_id")).order_by(I.position)
)


async def images_out(
    conn: AsyncConnection | AsyncSession, storage: ObjectStorage, product_id: str
) -> list[ProductImageOut]:
    """A product's images in order, with ready-to-use URLs. Joins the caller's transaction."""
    rows = (await conn.execute(_IMAGES_OF_PRODUCT, {"product_id": product_id})).all()
    return [_image_out(r, storage) for r in rows]


# The cover for list answers, in the list's own query (no extra round trip): an outer join on the
# product's cover (at most one: the partial unique index) and its variant's key as the last column.
COVER_THUMB_KEY = I.thumb_key.label("cover_thumb_key")


def with_cover(products: FromClause) -> Join:
    """``products`` (a FROM holding the product table) joined with each product's cover image, if any."""
    return products.outerjoin(_image, and_(I.product_id == P.id, I.is_cover.is_(True)))


def cover_url(storage: ObjectStorage, cover_thumb_key: str | None) -> str | None:
    """The URL of a list item's cover (its list-size variant), from ``COVER_THUMB_KEY``."""
    return storage.url(cover_thumb_key) if cover_thumb_key is not None else None


# --- authorisation -----------------------------------------------------------------------------


def require_manager_role(principal: Principal) -> None:
    if principal.role != COOP_MANAGER:
        raise PermissionDenied("Only cooperative managers manage product photos.", code="forbidden_role")


async def locked_product(session: AsyncSession, principal: Principal, product_id: str) -> None:
    """Lock the product row for this transaction; 404 unless the caller manages its cooperative.
    (For the photo modules of this slice; joins the caller's transaction.)"""
    require_manager_role(principal)
    cooperative_id = (
        await session.execute(select(P.cooperative_id).where(P.id == product_id).with_for_update())
    ).scalar_one_or_none()
    if cooperative_id is None or not principal.manages(cooperative_id):
        raise ProductNotFound(f"No product {product_id}.")


async def image_count(session: AsyncSession, product_id: str) -> int:
    return int((await session.execute(select(func.count()).where(I.product_id == product_id))).scalar_one())


# --- order, cover, deletion --------------------------------------------------------------------


async def _renumber(session: AsyncSession, product_id: str, ordered_ids: Sequence[str]) -> None:
    """Give ``ordered_ids`` (all of the product's images) positions 1..n in that order."""
    if not ordered_ids:
        return
    await session.execute(
        update(_image).where(I.product_id == product_id).values(position=I.position + _RENUMBER_OFFSET)
    )
    await session.execute(
        update(_image)
        .where(I.product_id == product_id)
        .values(position=case({image_id: n for n, image_id in enumerate(ordered_ids, start=1)}, value=I.id))
    )


async def _set_cover(session: AsyncSession, product_id: str, image_id: str) -> None:
    await session.execute(
        update(_image).where(I.product_id == product_id, I.is_cover.is_(True)).values(is_cover=False)
    )
    await session.execute(update(_image).where(I.id == image_id).values(is_cover=True))


async def update_image(
    session: AsyncSession,
    storage: ObjectStorage,
    principal: Principal,
    product_id: str,
    image_id: str,
    data: ImagePatch,
) -> ProductImageOut:
    """Move an image to ``position`` (the others keep their order) and/or make it the cover."""
    await locked_product(session, principal, product_id)
    rows = (await session.execute(_IMAGES_OF_PRODUCT, {"product_id": product_id})).all()
    target = next((r for r in rows if r.id == image_id), None)
    if target is None:
        raise ImageNotFound(f"No image {image_id} of product {product_id}.")
    if data.position is not None and data.position > len(rows):
        raise InvalidImageChange(
            f"This product has {len(rows)} photos: position is 1 to {len(rows)}.",
            code="invalid_position",
            errors=[FieldError("position", f"at most {len(rows)}")],
        )
    if data.is_cover is False and target.is_cover:
        raise InvalidImageChange(
            "A product with photos has a cover: make another photo the cover instead.",
            code="cover_required",
            errors=[FieldError("is_cover", "choose another cover instead")],
        )
    position = target.position
    if data.position is not None and data.position != target.position:
        order = [r.id for r in rows if r.id != image_id]
        order.insert(data.position - 1, image_id)
        await _renumber(session, product_id, order)
        position = data.position
    is_cover = target.is_cover
    if data.is_cover and not target.is_cover:
        await _set_cover(session, product_id, image_id)
        is_cover = True
    return ProductImageOut(
        id=target.id,
        url=storage.url(target.key),
        thumb_url=storage.url(target.thumb_key),
        is_cover=is_cover,
        position=position,
        width=target.width,
        height=target.height,
    )


async def delete_image(
    db: Database, storage: ObjectStorage, principal: Principal, product_id: str, image_id: str
) -> None:
    """Remove an image and its stored objects; the next image becomes the cover if it was one."""
    async with db.unit_of_work() as session:
        await locked_product(session, principal, product_id)
        rows = (await session.execute(_IMAGES_OF_PRODUCT, {"product_id": product_id})).all()
        target = next((r for r in rows if r.id == image_id), None)
        if target is None:
            raise ImageNotFound(f"No image {image_id} of product {product_id}.")
        await session.execute(delete(_image).where(I.id == image_id))
        remaining = [r.id for r in rows if r.id != image_id]
        if target.position != len(rows):
            await _renumber(session, product_id, remaining)
        if target.is_cover and remaining:
            await _set_cover(session, product_id, remaining[0])
    # After the commit: the row never points at a deleted object.
    for key in (target.key, target.thumb_key):
        try:
            await storage.delete(key)
        except StorageError:
            log.error("image %s deleted but its object %s could not be; remove it by hand", image_id, key)
    log.info("image deleted product=%s image=%s by=%s", product_id, image_id, principal.id)


__all__ = [
    "COVER_THUMB_KEY",
    "MAX_IMAGES_PER_PRODUCT",
    "cover_url",
    "delete_image",
    "image_count",
    "images_out",
    "locked_product",
    "product_prefix",
    "require_manager_role",
    "update_image",
    "with_cover",
]
