"""Uploading product photos: direct-upload targets, attaching a checked upload, sweeping the rest.

Attaching never trusts the client: the upload's key must have been issued for this product, and
the server reads the stored object itself (size, type from its first bytes, a full decode within
the pixel limit) before anything is recorded. A refused object is deleted. The checked bytes,
without personal metadata (``metadata.py``), are then stored under a new key that no upload
target can reach, with the list-size variant beside them, so nobody can swap the object after it
was checked (an S3 presigned POST stays usable until it expires). Storage I/O and decoding happen
between two units of work, never inside a write transaction (SQLite would hold its write lock
through them).
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

import anyio.to_thread
from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from coopmarket.core import clock
from coopmarket.core.errors import FieldError
from coopmarket.core.ids import new_id
from coopmarket.core.principal import Principal
from coopmarket.db import Database
from coopmarket.products import images, imaging
from coopmarket.products.errors import ImageConflict, InvalidImage, ProductNotFound
from coopmarket.products.models import Product, ProductImage, ProductImageUpload
from coopmarket.products.schemas import (
    ImageAttachIn,
    ImageUploadIn,
    ImageUploadOut,
    ProductImageOut,
    UploadTargetOut,
)
from coopmarket.settings import Settings
from coopmarket.storage.base import ObjectStorage, StorageError

log = logging.getLogger("coopmarket.products.images")

MAX_PENDING_UPLOADS = 20
# An upload may still be attached this long after its target expired; then it is swept.
ATTACH_GRACE = timedelta(hours=1)

_image = ProductImage.metadata.tables["product_image"]
_upload = ProductImageUpload.metadata.tables["product_image_upload"]
_product = Product.metadata.tables["product"]
U = _upload.c
P = _product.c


# --- keys --------------------------------------------------------------------------------------


def _upload_key(product_id: str, content_type: str) -> str:
    return f"{images.product_prefix(product_id)}uploads/{secrets.token_hex(16)}.{imaging.ALLOWED_TYPES[content_type]}"


def _image_keys(product_id: str, content_type: str, thumb_content_type: str) -> tuple[str, str]:
    token = secrets.token_hex(16)
    base = f"{images.product_prefix(product_id)}{token}"
    thumb_ext = imaging.ALLOWED_TYPES.get(thumb_content_type, "jpg")
    return f"{base}.{imaging.ALLOWED_TYPES[content_type]}", f"{base}.thumb.{thumb_ext}"


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
    await images.locked_product(session, principal, product_id)
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
    if await images.image_count(session, product_id) >= images.MAX_IMAGES_PER_PRODUCT:
        raise ImageConflict(
            f"A product has at most {images.MAX_IMAGES_PER_PRODUCT} photos; delete one first.",
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
    images.require_manager_role(principal)
    async with db.read() as conn:
        cooperative_id = (
            await conn.execute(select(P.cooperative_id).where(P.id == product_id))
        ).scalar_one_or_none()
        if cooperative_id is None or not principal.manages(cooperative_id):
            raise ProductNotFound(f"No product {product_id}.")
        if not key.startswith(images.product_prefix(product_id)):
            raise InvalidImage(
                "This key does not belong to this product.",
                code="image_key_outside_product",
                errors=[FieldError("key", f"must start with {images.product_prefix(product_id)}")],
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
    async with db.unit_of_work() as session:
        await session.execute(delete(_upload).where(U.key == key))
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
        async with db.unit_of_work() as session:
            await images.locked_product(session, principal, product_id)
            count = await images.image_count(session, product_id)
            if count >= images.MAX_IMAGES_PER_PRODUCT:
                raise ImageConflict(
                    f"A product has at most {images.MAX_IMAGES_PER_PRODUCT} photos; delete one first.",
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
        async with db.unit_of_work() as session:
            gone = (
                await session.execute(delete(_upload).where(and_(U.key == key, U.expires_at < cutoff)))
            ).rowcount  # type: ignore[attr-defined]
        if gone == 1:
            await storage.delete(key)
            swept += 1
    if swept:
        log.info("swept %d expired image uploads", swept)
    return swept


__all__ = ["ATTACH_GRACE", "MAX_PENDING_UPLOADS", "attach_image", "issue_upload", "sweep_expired_uploads"]
