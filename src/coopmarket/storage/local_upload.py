"""Receiving a direct upload into the local store: the same multipart form as an S3 presigned POST.

The form's fields come first (``key``, ``Content-Type``, ``policy``, ``signature``), then the file
in the field ``file``. The stream is parsed as it arrives: the signed policy is checked before a
byte of the file is accepted, the file goes to a temporary file on the store's disk (never whole
into memory) and is renamed into place only when it ended within the policy's size limit.
Like S3, fields after the file are ignored and a field the policy does not cover is refused
(``x-ignore-*`` fields excepted).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from datetime import datetime
from typing import BinaryIO

import anyio.to_thread
from litestar._multipart import parse_content_header
from multipart import MultipartError, MultipartSegment, PushMultipartParser

from coopmarket.storage.errors import (
    UploadExpired,
    UploadIncomplete,
    UploadMalformed,
    UploadPolicyViolated,
    UploadSignatureInvalid,
    UploadTooLarge,
    UploadUnsupportedMediaType,
)
from coopmarket.storage.local import LocalStorage
from coopmarket.storage.signing import UploadPolicy

log = logging.getLogger("coopmarket.storage")

FILE_FIELD = "file"
POLICY_FIELDS = ("key", "Content-Type", "policy", "signature")
MAX_FIELDS_BYTES = 16 * 1024  # all fields before the file together
MAX_SEGMENTS = 16


def _boundary(content_type_header: str) -> str:
    media_type, options = parse_content_header(content_type_header)
    if media_type != "multipart/form-data" or not options.get("boundary"):
        raise UploadUnsupportedMediaType("Send multipart/form-data: the target's fields, then the file.")
    return options["boundary"]


def _policy_for(storage: LocalStorage, fields: dict[str, str], now: datetime) -> UploadPolicy:
    missing = [name for name in POLICY_FIELDS if name not in fields]
    if missing:
        raise UploadIncomplete(f"The form lacks {', '.join(missing)} before the file.")
    extra = [n for n in fields if n not in POLICY_FIELDS and not n.lower().startswith("x-ignore-")]
    if extra:
        raise UploadPolicyViolated(f"The policy does not allow the field(s) {', '.join(sorted(extra))}.")
    policy = storage.upload_policy(fields["policy"], fields["signature"])
    if policy is None:
        raise UploadSignatureInvalid("The upload policy's signature is not valid.")
    if now.timestamp() >= policy.expires:
        raise UploadExpired("The upload target has expired; ask for a new one.")
    if fields["key"] != policy.key or fields["Content-Type"] != policy.content_type:
        raise UploadPolicyViolated("The key or Content-Type differs from the signed policy.")
    return policy


async def receive(
    storage: LocalStorage, content_type_header: str, stream: AsyncIterator[bytes], now: datetime
) -> str:
    """Store the upload the form carries; returns its key. Raises the refusals of ``storage.errors``."""
    boundary = _boundary(content_type_header)
    fields: dict[str, str] = {}
    fields_bytes = 0
    policy: UploadPolicy | None = None
    phase = "fields"  # then "file", then "after" (ignored)
    name = ""
    value = bytearray()
    size = 0
    with storage.incoming_file() as (temp, handle):
        try:
            with PushMultipartParser(boundary, max_segment_count=MAX_SEGMENTS) as parser:
                async for chunk in stream:
                    for event in parser.parse(chunk):
                        if isinstance(event, MultipartSegment):
                            name = event.name
                            if phase == "fields" and name == FILE_FIELD:
                                policy = _policy_for(storage, fields, now)
                                phase = "file"
                            elif phase == "fields" and name in fields:
                                raise UploadIncomplete(f"The field {name} is sent twice.")
                        elif event:  # a piece of the current segment's body
                            if phase == "file":
                                assert policy is not None
                                size += len(event)
                                if size > policy.max_bytes:
                                    raise UploadTooLarge(f"The file is over {policy.max_bytes} bytes.")
                                await _write(handle, bytes(event))
                            elif phase == "fields":
                                fields_bytes += len(event)
                                if fields_bytes > MAX_FIELDS_BYTES:
                                    raise UploadIncomplete("The form's fields are too long.")
                                value.extend(event)
                        elif phase == "fields":  # the end of a field
                            try:
                                fields[name] = value.decode()
                            except UnicodeDecodeError:
                                raise UploadMalformed(f"The field {name} is not UTF-8.") from None
                            value = bytearray()
                        elif phase == "file":  # the end of the file; what follows is ignored (as S3 does)
                            phase = "after"
                    if parser.closed:
                        break
        except MultipartError as exc:
            raise UploadMalformed(f"The multipart form is malformed: {exc}") from None
        if policy is None or phase != "after":
            raise UploadIncomplete("The form has no complete file (send it last, in the field 'file').")
        if size == 0:
            raise UploadIncomplete("The file is empty.")
        path = storage.path_for(policy.key)

        def commit() -> None:
            handle.flush()
            os.fsync(handle.fileno())
            storage.commit_incoming(temp, path)

        await anyio.to_thread.run_sync(commit)
    log.info("local upload stored key=%s bytes=%d", policy.key, size)
    return policy.key


async def _write(handle: BinaryIO, data: bytes) -> None:
    await anyio.to_thread.run_sync(handle.write, data)


__all__ = ["receive"]
