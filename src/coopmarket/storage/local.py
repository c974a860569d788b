"""Local-disk object storage (the embedded default).

Objects live under ``COOPMARKET_STORAGE_LOCAL_DIR`` at their key. Clients upload through the app's
own route (``POST /api/v1/uploads/local``, see ``storage/routes.py``) with an HMAC-signed, expiring
policy, the same multipart shape as an S3 presigned POST; objects are served by ``GET
/api/v1/files/{key}`` with a signed, expiring URL. Writes go to a temporary file first and are
renamed into place, so a reader never sees half an object. Disk I/O runs in worker threads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO, TypeVar
from urllib.parse import quote

import anyio.to_thread

from coopmarket.core import clock
from coopmarket.settings import Settings
from coopmarket.storage import signing
from coopmarket.storage.base import (
    StorageConfigurationError,
    StorageError,
    StoredObject,
    UploadTarget,
    check_key,
    is_valid_key,
)

log = logging.getLogger("coopmarket.storage")
T = TypeVar("T")

UPLOAD_PATH = "/api/v1/uploads/local"
FILES_PATH = "/api/v1/files"
# Not a valid key (keys never start with "."), so never served or overwritten through a key.
INCOMING_DIR = ".incoming"
CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}


def content_type_for(key: str) -> str:
    """The type a local object is served with: from the extension the app gave its key."""
    return CONTENT_TYPES.get(Path(key).suffix, "application/octet-stream")


class LocalStorage:
    """Objects as files under one directory."""

    name = "local"

    def __init__(self, settings: Settings) -> None:
        self.root = Path(settings.storage_local_dir).expanduser().resolve()
        self.base_url = (settings.storage_local_base_url or "").rstrip("/")
        self.url_ttl = settings.image_url_expiry_seconds
        secret = settings.jwt_secret.get_secret_value()
        self.upload_key = signing.derive_key(secret, signing.UPLOAD_LABEL)
        self.url_key = signing.derive_key(secret, signing.URL_LABEL)

    # --- paths -----------------------------------------------------------------------------

    def path_for(self, key: str) -> Path:
        """The file of ``key``; a key that could leave the root is refused."""
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root):  # a symlink pointing out of the root
            raise StorageError("a stored object resolves outside the storage directory")
        return path

    # --- the interface ---------------------------------------------------------------------

    async def check(self) -> None:
        """The directory exists and is writable, or can be made (it is made on first write)."""

        def probe() -> None:
            existing = self.root
            while not existing.exists() and existing != existing.parent:
                existing = existing.parent
            if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
                raise StorageConfigurationError(
                    f"COOPMARKET_STORAGE_LOCAL_DIR={self.root} is not a writable directory "
                    f"(checked {existing})."
                )

        await anyio.to_thread.run_sync(probe)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self.path_for(key)

        def write() -> None:
            with self.incoming_file() as (temp, handle):
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
                self.commit_incoming(temp, path)

        await self._run(write)

    async def head(self, key: str) -> StoredObject | None:
        path = self.path_for(key)

        def stat() -> StoredObject | None:
            try:
                size = path.stat().st_size
            except (FileNotFoundError, NotADirectoryError):
                return None
            return StoredObject(size=size, content_type=content_type_for(key)) if path.is_file() else None

        return await self._run(stat)

    async def read(self, key: str, *, length: int, start: int = 0) -> bytes | None:
        path = self.path_for(key)

        def read_range() -> bytes | None:
            try:
                with path.open("rb") as handle:
                    handle.seek(start)
                    return handle.read(length)
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                return None

        return await self._run(read_range)

    async def delete(self, key: str) -> None:
        path = self.path_for(key)
        await self._run(lambda: path.unlink(missing_ok=True))

    def upload_target(self, key: str, *, content_type: str, max_bytes: int, expires_in: int) -> UploadTarget:
        check_key(key)
        expires_at = clock.now() + timedelta(seconds=expires_in)
        policy, signature = signing.encode_policy(
            self.upload_key,
            signing.UploadPolicy(
                key=key, content_type=content_type, max_bytes=max_bytes, expires=int(expires_at.timestamp())
            ),
        )
        return UploadTarget(
            method="POST",
            url=f"{self.base_url}{UPLOAD_PATH}",
            fields={"key": key, "Content-Type": content_type, "policy": policy, "signature": signature},
            expires_at=expires_at.replace(microsecond=0),
        )

    def url(self, key: str) -> str:
        expires = signing.url_expiry(int(clock.now().timestamp()), self.url_ttl)
        signature = signing.sign_url(self.url_key, key, expires)
        return f"{self.base_url}{FILES_PATH}/{quote(key)}?expires={expires}&signature={signature}"

    async def aclose(self) -> None:
        return None

    # --- for the upload and file routes ----------------------------------------------------

    def upload_policy(self, encoded: str, signature: str) -> signing.UploadPolicy | None:
        """The signed policy, or ``None`` when the signature is not ours (expiry is the caller's)."""
        policy = signing.decode_policy(self.upload_key, encoded, signature)
        if policy is None or not is_valid_key(policy.key):
            return None
        return policy

    def url_is_valid(self, key: str, expires: int, signature: str, now: datetime) -> bool:
        return is_valid_key(key) and signing.url_signature_is_valid(
            self.url_key, key, expires, signature, int(now.timestamp())
        )

    @contextlib.contextmanager
    def incoming_file(self) -> Iterator[tuple[Path, BinaryIO]]:
        """A new temporary file inside the root (same file system: the final rename is atomic);
        removed on exit unless :meth:`commit_incoming` moved it into place."""
        incoming = self.root / INCOMING_DIR
        incoming.mkdir(parents=True, exist_ok=True)
        temp = incoming / f"{secrets.token_hex(16)}.part"
        try:
            with temp.open("xb") as handle:
                yield temp, handle
        finally:
            temp.unlink(missing_ok=True)

    @staticmethod
    def commit_incoming(temp: Path, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, path)

    @staticmethod
    async def _run(work: Callable[[], T]) -> T:
        try:
            return await anyio.to_thread.run_sync(work)
        except OSError as exc:
            log.error("local storage I/O failed: %s", exc)
            raise StorageError("The file store failed.") from exc


__all__ = ["FILES_PATH", "UPLOAD_PATH", "LocalStorage", "content_type_for"]
