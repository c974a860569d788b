"""HTTP routes of product photos: upload targets, attaching, order and cover, deletion."""

from __future__ import annotations

from litestar import Controller, delete, patch, post
from litestar.params import FromPath, JSONBody

from coopmarket.core.http import AppSettings, Caller, Db, Session
from coopmarket.core.openapi import problems
from coopmarket.products import image_uploads, images
from coopmarket.products.schemas import (
    ImageAttachIn,
    ImagePatch,
    ImageUploadIn,
    ImageUploadOut,
    ProductImageOut,
)
from coopmarket.storage.deps import Storage

_ATTACH_REFUSALS = [
    "image_key_outside_product",
    "image_key_not_issued",
    "image_not_uploaded",
    "image_too_large",
    "image_type_not_allowed",
    "image_undecodable",
    "image_too_many_pixels",
]


class ProductImageController(Controller):
    path = "/api/v1/products/{product_id:str}/images"
    tags = ["catalogue"]

    @post(
        "/uploads",
        status_code=201,
        summary="Get a direct-upload target for a product photo (its manager)",
        responses=problems(
            400,
            401,
            413,
            codes={
                403: ["forbidden_role"],
                404: ["product_not_found"],
                409: ["too_many_images", "too_many_pending_uploads"],
                422: ["image_type_not_allowed", "image_too_large"],
                503: ["storage_unavailable"],
            },
        ),
    )
    async def issue_upload(
        self,
        product_id: FromPath[str],
        data: JSONBody[ImageUploadIn],
        session: Session,
        storage: Storage,
        settings: AppSettings,
        principal: Caller,
    ) -> ImageUploadOut:
        """A signed, expiring upload target: send its `fields`, then the file in `file`."""
        return await image_uploads.issue_upload(session, storage, settings, principal, product_id, data)

    @post(
        "/",
        status_code=201,
        summary="Attach an uploaded photo once the server has checked it (its manager)",
        responses=problems(
            400,
            401,
            413,
            codes={
                403: ["forbidden_role"],
                404: ["product_not_found"],
                409: ["too_many_images", "image_already_attached"],
                422: _ATTACH_REFUSALS,
                503: ["storage_unavailable"],
            },
        ),
    )
    async def attach_image(
        self,
        product_id: FromPath[str],
        data: JSONBody[ImageAttachIn],
        db: Db,
        storage: Storage,
        settings: AppSettings,
        principal: Caller,
    ) -> ProductImageOut:
        """Check the stored object (size, type from its bytes, decodes within the pixel limit)."""
        return await image_uploads.attach_image(db, storage, settings, principal, product_id, data)

    @patch(
        "/{image_id:str}",
        summary="Move a photo or make it the cover (its manager)",
        responses=problems(
            400,
            401,
            413,
            codes={
                403: ["forbidden_role"],
                404: ["product_not_found", "image_not_found"],
                422: ["invalid_position", "cover_required"],
            },
        ),
    )
    async def update_image(
        self,
        product_id: FromPath[str],
        image_id: FromPath[str],
        data: JSONBody[ImagePatch],
        session: Session,
        storage: Storage,
        principal: Caller,
    ) -> ProductImageOut:
        """`position` moves the photo (1 is first); `is_cover: true` makes it the cover."""
        return await images.update_image(session, storage, principal, product_id, image_id, data)

    @delete(
        "/{image_id:str}",
        status_code=204,
        summary="Delete a photo and its stored files (its manager)",
        responses=problems(
            400, 401, codes={403: ["forbidden_role"], 404: ["product_not_found", "image_not_found"]}
        ),
    )
    async def delete_image(
        self, product_id: FromPath[str], image_id: FromPath[str], db: Db, storage: Storage, principal: Caller
    ) -> None:
        """Remove the photo; the next one becomes the cover if it was the cover."""
        await images.delete_image(db, storage, principal, product_id, image_id)


routes = [ProductImageController]
