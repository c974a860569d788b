"""HTTP routes of the local store: the direct-upload target and signed file URLs.

With ``COOPMARKET_STORAGE=s3`` clients talk to the bucket instead, and these answer 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)
from litestar.params import FromPath, QueryParameter
from litestar.response import File

from coopmarket.core import clock
from coopmarket.core.openapi import NO_TOKEN_NEEDED, problems
from coopmarket.storage import local_upload
from coopmarket.storage.base import ObjectStorage, is_valid_key
from coopmarket.storage.deps import Storage
from coopmarket.storage.errors import FileNotFound, FileSignatureInvalid
from coopmarket.storage.local import FILES_PATH, UPLOAD_PATH, LocalStorage, content_type_for


def _local(storage: ObjectStorage) -> LocalStorage:
    if not isinstance(storage, LocalStorage):
        raise FileNotFound("This server keeps files in S3, not on its own disk.", code="not_found")
    return storage


_FORM_FIELD = Schema(type=OpenAPIType.STRING, max_length=2048)


@dataclass
class _UploadOperation(Operation):
    """The form the route reads itself (streamed to disk), documented as a required body."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description="The upload target's `fields`, in order, then the file in `file`.",
            content={
                "multipart/form-data": OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.OBJECT,
                        properties={
                            "key": _FORM_FIELD,
                            "Content-Type": _FORM_FIELD,
                            "policy": _FORM_FIELD,
                            "signature": _FORM_FIELD,
                            "file": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY),
                        },
                        required=["key", "Content-Type", "policy", "signature", "file"],
                    )
                )
            },
        )


@post(
    UPLOAD_PATH,
    operation_class=_UploadOperation,
    status_code=204,
    tags=["storage"],
    summary="Direct upload into the local store (multipart form of an upload target)",
    description=(
        "The `upload.url` of `POST /api/v1/products/{product_id}/images/uploads` when photos are kept "
        "on the server's disk. Send `multipart/form-data`: every entry of `upload.fields` (`key`, "
        "`Content-Type`, `policy`, `signature`), then the file in the field `file` (as for an S3 "
        "presigned POST, and as `wx.uploadFile` sends it with `formData` and `name: 'file'`). No "
        "bearer token: the signed policy authorises exactly one key, type and size limit until it "
        "expires. Answers 204."
    ),
    security=NO_TOKEN_NEEDED,
    request_max_body_size=None,  # the signed policy sets the limit, checked while streaming
    responses=problems(
        400,
        codes={
            400: ["upload_malformed"],
            403: ["upload_signature_invalid", "upload_expired", "upload_policy_violated"],
            404: ["not_found"],
            413: ["upload_too_large"],
            415: ["unsupported_media_type"],
            422: ["upload_incomplete"],
            503: ["storage_unavailable"],
        },
    ),
)
async def upload_local(request: Request[Any, Any, Any], storage: Storage) -> None:
    """Store one file under the key of a signed upload target (what ``wx.uploadFile`` sends)."""
    await local_upload.receive(
        _local(storage), request.headers.get("content-type", ""), request.stream(), clock.now()
    )


@get(
    f"{FILES_PATH}/{{key:path}}",
    tags=["storage"],
    summary="A stored file, by a signed URL from a product answer",
    security=NO_TOKEN_NEEDED,
    media_type="application/octet-stream",
    responses=problems(
        400, codes={403: ["file_signature_invalid"], 404: ["file_not_found", "not_found"], 422: []}
    ),
)
async def get_file(
    key: FromPath[str],
    storage: Storage,
    # A Unix time; the bound (9999-12-31) is exact in the document's floating-point numbers too.
    expires: Annotated[int, QueryParameter(name="expires", ge=0, le=253_402_300_799)],
    signature: Annotated[str, QueryParameter(name="signature", max_length=128)],
) -> File:
    """A photo of the local store; the URL's signature and expiry are checked."""
    local = _local(storage)
    key = key.lstrip("/")
    now = clock.now()
    if not local.url_is_valid(key, expires, signature, now):
        raise FileSignatureInvalid("This file URL is not valid or has expired.")
    path = local.path_for(key) if is_valid_key(key) else None
    if path is None or not path.is_file():
        raise FileNotFound("No such file.")
    max_age = max(0, expires - int(now.timestamp()))
    return File(
        path=path,
        media_type=content_type_for(key),
        content_disposition_type="inline",
        filename=path.name,
        headers={"Cache-Control": f"private, max-age={max_age}", "X-Content-Type-Options": "nosniff"},
    )


routes = [upload_local, get_file]
