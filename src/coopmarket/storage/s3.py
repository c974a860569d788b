"""S3 object storage through boto3: AWS S3 or any S3-compatible store (MinIO, Ceph, Alibaba OSS or
Tencent COS in S3 mode), chosen by ``COOPMARKET_S3_ENDPOINT_URL``.

boto3 is synchronous: every call that does I/O runs in a worker thread. Presigning is local
computation but costs about a quarter of a millisecond, too much for every photo of every list
answer, so GET URLs are cached per key and re-signed at most once per step (each served URL is
still valid for at least ``COOPMARKET_IMAGE_URL_EXPIRY_SECONDS``). With
``COOPMARKET_S3_PUBLIC_BASE_URL`` nothing is signed.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import anyio.to_thread
import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from coopmarket.core import clock
from coopmarket.settings import Settings
from coopmarket.storage.base import (
    StorageConfigurationError,
    StorageError,
    StoredObject,
    UploadTarget,
    check_key,
)

log = logging.getLogger("coopmarket.storage")

# Objects are written once under fresh keys and never changed: caches may keep them.
IMMUTABLE = "public, max-age=31536000, immutable"
URL_CACHE_SIZE = 50_000
MAX_URL_STEP_SECONDS = 3600
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4's limit
_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


class _UrlCache:
    """Presigned GET URLs by key: each is signed for ``ttl + step`` and served for ``step`` seconds,
    so whoever receives one has at least ``ttl`` seconds to use it. Bounded (least recently used out)."""

    def __init__(self, ttl: int, sign: Callable[[str, int], str], size: int = URL_CACHE_SIZE) -> None:
        self.step = max(1, min(MAX_URL_STEP_SECONDS, ttl // 4, MAX_PRESIGN_SECONDS - ttl))
        self.expires_in = ttl + self.step
        self._sign = sign
        self._size = size
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def get(self, key: str) -> str:
        # Real time, not core.clock: botocore signs with the real time too.
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            self._entries.move_to_end(key)
            return entry[1]
        url = self._sign(key, self.expires_in)
        self._entries[key] = (now + self.step, url)
        self._entries.move_to_end(key)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return url


class S3Storage:
    """One bucket of an S3-compatible store. The bucket is the operator's: it is never created."""

    name = "s3"

    def __init__(self, settings: Settings) -> None:
        assert settings.s3_bucket is not None  # Settings refuses s3 without a bucket
        self.bucket = settings.s3_bucket
        self.endpoint = settings.s3_endpoint_url or "AWS S3"
        self.public_base_url = (settings.s3_public_base_url or "").rstrip("/") or None
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": settings.s3_addressing_style},
            max_pool_connections=20,
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 3, "mode": "standard"},
        )
        secret = settings.s3_secret_access_key
        self.client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=secret.get_secret_value() if secret is not None else None,
            config=config,
        )
        self._urls = _UrlCache(settings.image_url_expiry_seconds, self._presign_get)

    async def _call(self, operation: str, **params: Any) -> Any:
        try:
            return await anyio.to_thread.run_sync(
                functools.partial(getattr(self.client, operation), **params)
            )
        except (BotoCoreError, OSError) as exc:
            log.error("S3 %s failed at %s: %s", operation, self.endpoint, type(exc).__name__)
            raise StorageError("The object store is unavailable.") from exc

    @staticmethod
    def _failed(operation: str, exc: ClientError) -> StorageError:
        log.error("S3 %s refused: %s (HTTP %s)", operation, _error_code(exc), _status(exc))
        return StorageError("The object store refused the request.")

    async def check(self) -> None:
        """``head_bucket``: the bucket exists and these credentials may use it."""
        where = f"S3 bucket {self.bucket!r} at {self.endpoint}"
        try:
            await anyio.to_thread.run_sync(functools.partial(self.client.head_bucket, Bucket=self.bucket))
        except ClientError as exc:
            status, code = _status(exc), _error_code(exc)
            if status == 404 or code in _MISSING:
                raise StorageConfigurationError(
                    f"{where} does not exist. Create it (coopmarket never creates buckets) or fix "
                    "COOPMARKET_S3_BUCKET / COOPMARKET_S3_ENDPOINT_URL."
                ) from None
            if status == 403:
                raise StorageConfigurationError(
                    f"{where} refused access (HTTP 403): check COOPMARKET_S3_ACCESS_KEY_ID, "
                    "COOPMARKET_S3_SECRET_ACCESS_KEY and the bucket policy."
                ) from None
            raise StorageConfigurationError(f"{where} answered {code or status}.") from None
        except NoCredentialsError:
            raise StorageConfigurationError(
                f"{where}: no credentials; set COOPMARKET_S3_ACCESS_KEY_ID and "
                "COOPMARKET_S3_SECRET_ACCESS_KEY."
            ) from None
        except (BotoCoreError, OSError) as exc:
            raise StorageConfigurationError(f"{where} is unreachable: {exc}") from None

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        check_key(key)
        try:
            await self._call(
                "put_object",
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                CacheControl=IMMUTABLE,
            )
        except ClientError as exc:
            raise self._failed("put_object", exc) from exc

    async def head(self, key: str) -> StoredObject | None:
        check_key(key)
        try:
            answer = await self._call("head_object", Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _status(exc) == 404 or _error_code(exc) in _MISSING:
                return None
            raise self._failed("head_object", exc) from exc
        return StoredObject(size=int(answer["ContentLength"]), content_type=answer.get("ContentType"))

    async def read(self, key: str, *, length: int, start: int = 0) -> bytes | None:
        check_key(key)
        if length <= 0:
            return b""

        def get() -> bytes:
            answer = self.client.get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes={start}-{start + length - 1}"
            )
            with answer["Body"] as body:
                data: bytes = body.read(length)
            return data

        try:
            return await anyio.to_thread.run_sync(get)
        except ClientError as exc:
            if _status(exc) == 404 or _error_code(exc) in _MISSING:
                return None
            if _status(exc) == 416 or _error_code(exc) == "InvalidRange":  # an empty object
                return b""
            raise self._failed("get_object", exc) from exc
        except (BotoCoreError, OSError) as exc:
            log.error("S3 get_object failed at %s: %s", self.endpoint, type(exc).__name__)
            raise StorageError("The object store is unavailable.") from exc

    async def delete(self, key: str) -> None:
        check_key(key)
        try:
            await self._call("delete_object", Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _status(exc) == 404 or _error_code(exc) in _MISSING:
                return
            raise self._failed("delete_object", exc) from exc

    def upload_target(self, key: str, *, content_type: str, max_bytes: int, expires_in: int) -> UploadTarget:
        """A presigned POST: exactly this key, this ``Content-Type``, 1 to ``max_bytes`` bytes.

        Stores (and fakes) that do not enforce the policy are no risk: an object is attached only
        after the server has checked it."""
        check_key(key)
        expires_at = clock.now() + timedelta(seconds=expires_in)
        try:
            post = self.client.generate_presigned_post(
                Bucket=self.bucket,
                Key=key,
                Fields={"Content-Type": content_type},
                Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
                ExpiresIn=expires_in,
            )
        except (BotoCoreError, ClientError) as exc:
            log.error("S3 presigned POST failed: %s", type(exc).__name__)
            raise StorageError("The object store cannot sign uploads.") from exc
        return UploadTarget(
            method="POST",
            url=post["url"],
            fields=dict(post["fields"]),
            expires_at=expires_at.replace(microsecond=0),
        )

    def url(self, key: str) -> str:
        if self.public_base_url is not None:
            return f"{self.public_base_url}/{quote(key)}"
        return self._urls.get(key)

    def _presign_get(self, key: str, expires_in: int) -> str:
        url: str = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
        )
        return url

    async def aclose(self) -> None:
        self.client.close()


__all__ = ["S3Storage"]
