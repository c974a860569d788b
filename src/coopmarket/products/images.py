"""Product photos: direct-upload targets, attaching a checked upload, order, cover, deletion, and
the URLs that product answers carry.

Attaching never trusts the client: the upload's key must have been issued for this product, and
the server reads the stored object itself (size, type from its first bytes, a full decode within
the pixel limit) before anything is recorded. A refused object is deleted. The checked bytes,
without personal metadata (``metadata.py``), are then stored under a new key that no upload
target can reach, with the list-size variant beside them, so nobody can swap the object after it
was checked (an S3 presigned POST stays usable until it expires). Storage I/O and decoding happen
between two units of work, never inside a write transaction (SQLite would hold its write lock
through them).

Positions are 1..n without gaps and exactly one image of a product with images is its cover; every
change locks the product row first (``FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite),
and the unique constraints on (product, position) and the partial unique cover index stand guard.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import anyio.to_thread
from sqlalchemy import FromClause, Join, and_, bindparam, case, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from coopmarket.core import clock
from coopmarket.core.errors import FieldError, PermissionDenied
from coopmarket.core.ids import new_id
from coopmarket.core.principal import COOP_MANAGER, Principal
from coopmarket.db import Database
from coopmarket.products import imaging
from coopmarket.products.errors import (
    ImageConflict,
    ImageNotFound,
    InvalidImage,
    InvalidImageChange,
    ProductNotFound,
)
from coopmarket.products.models import Product, ProductImage, ProductImageUpload
from coopmarket.products.schemas import (
    ImageAttachIn,
    ImagePatch,
    ImageUploadIn,
    ImageUploadOut,
    ProductImageOut,
    UploadTargetOut,
)
from coopmarket.settings import Settings
from coopmarket.storage.base import ObjectStorage, StorageError

log = logging.getLogger("coopmarket.products.images")

MAX_IMAGES_PER_PRODUCT = 20
MAX_PENDING_UPLOADS = 20
# An upload may still be attached this long after its target expired; then it is swept.
ATTACH_GRACE = timedelta(hours=1)

_image = ProductImage.metadata.tables["product_image"]
_upload = ProductImageUpload.metadata.tables["product_image_upload"]
_product = Product.metadata.tables["product"]
I = _image.c  # noqa: E741 - the table's columns, as P and S in service.py
U = _upload.c
P = _product.c

_IMAGE_COLUMNS = (I.id, I.key, I.thumb_key, I.is_cover, I.position, I.width, I.height)
# Above any position: renumbering moves every image out of the way first, so that the unique
# (product, position) constraint never sees two images on one position, even row by row.
_RENUMBER_OFFSET = 1_000_000


# --- keys --------------------------------------------------------------------------------------


def product_prefix(product_id: str) -> str:
    return f"products/{product_id}/"


def _upload_key(product_id: str, content_type: str) -> str:
    return (
        f"{product_prefix(product_id)}uploads/{secrets.token_hex(16)}.{imaging.ALLOWED_TYPES[content_type]}"
    )


def _image_keys(product_id: str, content_type: str, thumb_content_type: str) -> tuple[str, str]:
    token = secrets.token_hex(16)
    base = f"{product_prefix(product_id)}{token}"
    thumb_ext = imaging.ALLOWED_TYPES.get(thumb_content_type, "jpg")
    return f"{base}.{imaging.ALLOWED_TYPES[content_type]}", f"{base}.thumb.{thumb_ext}"


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


def _require_manager_role(principal: Principal) -> None:
    if principal.role != COOP_MANAGER:
        raise PermissionDenied("Only cooperative managers manage product photos.", code="forbidden_role")


async def _locked_product(session: AsyncSession, principal: Principal, product_id: str) -> None:
    """Lock the product row for this transaction; 404 unless the caller manages its cooperative."""
    _require_manager_role(principal)
    cooperative_id = (
        await session.execute(select(P.cooperative_id).where(P.id == product_id).with_for_update())
    ).scalar_one_or_none()
    if cooperative_id is None or not principal.manages(cooperative_id):
        raise ProductNotFound(f"No product {product_id}.")


async def _image_count(session: AsyncSession, product_id: str) -> int:
    return int((await session.execute(select(func.count()).where(I.product_id == product_id))).scalar_one())


# --- upload targets ----------------------------------------------------------------------------


async def issue_upload(
    session: AsyncSession,
    storage: ObjectStorage,
    settings: Settings,
    principal: Principal,
    product_id: str,
    data: ImageUploadIn,
) -> ImageUploadOut:
    """A signed, expiring direct-upload target for one photo of a product the caller manages."""
    await _locked_product(session, principal, product_id)
    content_type = data.content_type.strip().lower()
    if content_type not in imaging.ALLOWED_TYPES:
        raise InvalidImage(
            "Photos are JPEG, PNG or WebP.",
            code="image_type_not_allowed",
            errors=[FieldError("content_type", "one of image/jpeg, image/png, image/webp")],
        )
    if data.size > settings.image_max_bytes:
        raise InvalidImage(
            f"A photo is at most {settings.image_max_bytes} bytes.",
            code="image_too_large",
            errors=[FieldError("size", f"at most {settings.image_max_bytes} bytes")],
        )
    now = clock.now()
    if await _image_count(session, product_id) >= MAX_IMAGES_PER_PRODUCT:
        raise ImageConflict(
            f"A product has at most {MAX_IMAGES_PER_PRODUCT} photos; delete one first.",
            code="too_many_images",
        )
    pending = (
        await session.execute(
            select(func.count()).where(U.product_id == product_id, U.expires_at > now - ATTACH_GRACE)
        )
    ).scalar_one()
    if pending >= MAX_PENDING_UPLOADS:
        raise ImageConflict(
            "Too many uploads of this product are still open; attach them or wait for them to expire.",
            code="too_many_pending_uploads",
        )
    key = _upload_key(product_id, content_type)
    target = storage.upload_target(
        key,
        content_type=content_type,
        max_bytes=settings.image_max_bytes,
        expires_in=settings.image_upload_expiry_seconds,
    )
    await session.execute(
        insert(_upload).values(
            id=new_id(),
            product_id=product_id,
            key=key,
            content_type=content_type,
            issued_by=principal.id,
            expires_at=target.expires_at,
            created_at=now,
        )
    )
    await session.commit()
    return ImageUploadOut(
        key=key,
        upload=UploadTargetOut(
            method=target.method,
            url=target.url,
            fields=target.fields,
            headers=target.headers,
            expires_at=target.expires_at,
        ),
    )


# --- attaching ---------------------------------------------------------------------------------


async def _issued_upload(db: Database, principal: Principal, product_id: str, key: str) -> None:
    """Authorise and find the issued upload (read-only, no write lock)."""
    _require_manager_role(principal)
    async with db.read() as conn:
        cooperative_id = (
            await conn.execute(select(P.cooperative_id).where(P.id == product_id))
        ).scalar_one_or_none()
        if cooperative_id is None or not principal.manages(cooperative_id):
            raise ProductNotFound(f"No product {product_id}.")
        if not key.startswith(product_prefix(product_id)):
            raise InvalidImage(
                "This key does not belong to this product.",
                code="image_key_outside_product",
                errors=[FieldError("key", f"must start with {product_prefix(product_id)}")],
            )
        issued = (
            await conn.execute(select(U.id).where(U.key == key, U.product_id == product_id))
        ).scalar_one_or_none()
    if issued is None:
        raise InvalidImage(
            "No upload target was issued for this key (or it was already attached or refused).",
            code="image_key_not_issued",
            errors=[FieldError("key", "not an open upload of this product")],
        )


async def _withdraw_upload(db: Database, storage: ObjectStorage, key: str) -> None:
    """Forget a refused upload and delete its object."""
    async with db.session() as session:
        await session.execute(delete(_upload).where(U.key == key))
        await session.commit()
    await storage.delete(key)


async def _read_checked(
    db: Database, storage: ObjectStorage, settings: Settings, key: str
) -> imaging.CheckedImage:
    """The stored object, checked; a refused object is deleted (and its upload forgotten)."""
    head = await storage.head(key)
    if head is None:
        raise InvalidImage(
            "Nothing is stored under this key yet: upload the file first.", code="image_not_uploaded"
        )
    limit = settings.image_max_bytes

    async def refuse(code: str, detail: str) -> InvalidImage:
        await _withdraw_upload(db, storage, key)
        log.info("upload refused key=%s code=%s", key, code)
        return InvalidImage(detail + " The upload was deleted.", code=code)

    if head.size > limit:
        raise await refuse(
            "image_too_large", f"The stored file is {head.size} bytes; at most {limit} are accepted."
        )
    first = await storage.read(key, length=imaging.SNIFF_BYTES)
    if first is None:
        raise InvalidImage("Nothing is stored under this key yet.", code="image_not_uploaded")
    if imaging.sniff(first) is None:
        raise await refuse("image_type_not_allowed", "The stored file is not a JPEG, PNG or WebP image.")
    # One byte more than the limit tells whether the object grew since the HEAD.
    data = await storage.read(key, length=limit + 1)
    if data is None:
        raise InvalidImage("Nothing is stored under this key any more.", code="image_not_uploaded")
    if len(data) > limit:
        raise await refuse("image_too_large", f"The stored file is over {limit} bytes.")
    try:
        checked = await anyio.to_thread.run_sync(
            lambda: imaging.check_and_thumbnail(
                data,
                max_pixels=settings.image_max_pixels,
                thumb_width=settings.image_thumb_width,
                thumb_format=settings.image_thumb_format,
            )
        )
    except imaging.ImageRejected as exc:
        code = "image_too_many_pixels" if exc.reason == "too_many_pixels" else "image_undecodable"
        raise await refuse(code, exc.detail) from None
    return checked


async def attach_image(
    db: Database,
    storage: ObjectStorage,
    settings: Settings,
    principal: Principal,
    product_id: str,
    data: ImageAttachIn,
) -> ProductImageOut:
    """Check the object uploaded under an issued key and make it a photo of the product."""
    key = data.key
    await _issued_upload(db, principal, product_id, key)
    checked = await _read_checked(db, storage, settings, key)
    image_key, thumb_key = _image_keys(product_id, checked.content_type, checked.thumb_content_type)
    await storage.put(image_key, checked.original, checked.content_type)
    await storage.put(thumb_key, checked.thumb, checked.thumb_content_type)
    try:
        async with db.session() as session:
            await _locked_product(session, principal, product_id)
            count = await _image_count(session, product_id)
            if count >= MAX_IMAGES_PER_PRODUCT:
                raise ImageConflict(
                    f"A product has at most {MAX_IMAGES_PER_PRODUCT} photos; delete one first.",
                    code="too_many_images",
                )
            claimed = (
                await session.execute(delete(_upload).where(U.key == key, U.product_id == product_id))
            ).rowcount  # type: ignore[attr-defined]
            if claimed != 1:
                raise ImageConflict(
                    "This upload was attached (or withdrawn) meanwhile.", code="image_already_attached"
                )
            image_id, position, is_cover = new_id(), count + 1, count == 0
            image = {
                "id": image_id,
                "product_id": product_id,
                "key": image_key,
                "thumb_key": thumb_key,
                "content_type": checked.content_type,
                "size_bytes": len(checked.original),
                "width": checked.width,
                "height": checked.height,
                "position": position,
                "is_cover": is_cover,
                "created_by": principal.id,
                "created_at": clock.now(),
            }
            await session.execute(insert(_image).values(**image))
            await session.commit()
    except BaseException:
        # Nothing refers to the copies: remove them (the upload itself stays for a retry or the sweep).
        for orphan in (image_key, thumb_key):
            try:
                await storage.delete(orphan)
            except StorageError:
                log.warning("could not delete an unattached copy key=%s", orphan)
        raise
    try:
        await storage.delete(key)
    except StorageError:
        log.warning("could not delete an attached upload key=%s (the sweep will)", key)
    log.info("image attached product=%s image=%s by=%s", product_id, image_id, principal.id)
    return ProductImageOut(
        id=image_id,
        url=storage.url(image_key),
        thumb_url=storage.url(thumb_key),
        is_cover=is_cover,
        position=position,
        width=checked.width,
        height=checked.height,
    )


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
    await _locked_product(session, principal, product_id)
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
    await session.commit()
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
    async with db.session() as session:
        await _locked_product(session, principal, product_id)
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
        await session.commit()
    # After the commit: the row never points at a deleted object.
    for key in (target.key, target.thumb_key):
        try:
            await storage.delete(key)
        except StorageError:
            log.error("image %s deleted but its object %s could not be; remove it by hand", image_id, key)
    log.info("image deleted product=%s image=%s by=%s", product_id, image_id, principal.id)


# --- housekeeping ------------------------------------------------------------------------------


async def sweep_expired_uploads(db: Database, storage: ObjectStorage, *, batch: int = 200) -> int:
    """Forget uploads never attached (their targets expired more than the grace period ago) and
    delete whatever was uploaded under them. Safe on several workers at once."""
    cutoff = clock.now() - ATTACH_GRACE
    async with db.read() as conn:
        keys = list(
            (
                await conn.execute(
                    select(U.key).where(U.expires_at < cutoff).order_by(U.expires_at).limit(batch)
                )
            ).scalars()
        )
    swept = 0
    for key in keys:
        async with db.session() as session:
            gone = (
                await session.execute(delete(_upload).where(and_(U.key == key, U.expires_at < cutoff)))
            ).rowcount  # type: ignore[attr-defined]
            await session.commit()
        if gone == 1:
            await storage.delete(key)
            swept += 1
    if swept:
        log.info("swept %d expired image uploads", swept)
    return swept


__all__ = [
    "COVER_THUMB_KEY",
    "MAX_IMAGES_PER_PRODUCT",
    "attach_image",
    "cover_url",
    "delete_image",
    "images_out",
    "issue_upload",
    "sweep_expired_uploads",
    "update_image",
    "with_cover",
]
