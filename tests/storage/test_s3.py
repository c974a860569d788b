"""The S3 store against moto's server over HTTP: start-up checks, reads, URLs."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from coopmarket.app import create_app
from coopmarket.settings import Settings
from coopmarket.storage.base import StorageConfigurationError
from coopmarket.storage.s3 import S3Storage
from tests.conftest import _settings
from tests.s3 import s3_admin, s3_settings_for


async def _start_up_error(settings: Settings) -> StorageConfigurationError:
    """The error the app's start-up stopped with (the test client wraps it in exception groups)."""
    with pytest.raises(BaseException) as refused:
        async with AsyncTestClient(app=create_app(settings)):
            pass
    pending: list[BaseException] = [refused.value]
    while pending:
        error = pending.pop()
        if isinstance(error, StorageConfigurationError):
            return error
        if isinstance(error, BaseExceptionGroup):
            pending.extend(error.exceptions)
    raise AssertionError(f"start-up failed otherwise: {refused.value!r}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_the_app_refuses_to_start_when_the_bucket_is_missing(
    database_url: str, moto_endpoint: str
) -> None:
    # Given settings naming a bucket that does not exist on the S3 server
    settings = _settings(database_url, **s3_settings_for(moto_endpoint, "coopmarket-no-such-bucket"))

    # When the app starts, Then it stops with a message naming the bucket and the endpoint
    message = str(await _start_up_error(settings))
    assert "'coopmarket-no-such-bucket'" in message
    assert moto_endpoint in message
    assert "does not exist" in message
    # And it did not create the bucket
    names = [b["Name"] for b in s3_admin(moto_endpoint).list_buckets()["Buckets"]]
    assert "coopmarket-no-such-bucket" not in names


async def test_the_app_refuses_to_start_when_the_store_is_unreachable(database_url: str) -> None:
    endpoint = f"http://127.0.0.1:{_free_port()}"
    settings = _settings(database_url, **s3_settings_for(endpoint, "coopmarket-photos"))
    message = str(await _start_up_error(settings))
    assert "'coopmarket-photos'" in message
    assert endpoint in message
    assert "unreachable" in message


@pytest.fixture
def settings_overrides(s3_settings: dict[str, Any]) -> dict[str, Any]:
    return s3_settings


async def test_with_s3_the_local_routes_answer_not_found(client: AsyncTestClient[Any]) -> None:
    upload = await client.post("/api/v1/uploads/local", files={"file": ("a.png", b"x")})
    served = await client.get("/api/v1/files/products/a.png?expires=9999999999&signature=00")
    assert (upload.status_code, upload.json()["code"]) == (404, "not_found")
    assert (served.status_code, served.json()["code"]) == (404, "not_found")


async def test_objects_are_written_read_by_range_and_deleted(settings: Settings) -> None:
    store = S3Storage(settings)
    try:
        await store.put("products/p/a.webp", b"0123456789", "image/webp")
        head = await store.head("products/p/a.webp")
        assert head is not None
        assert (head.size, head.content_type) == (10, "image/webp")
        assert await store.read("products/p/a.webp", length=4) == b"0123"
        assert await store.read("products/p/a.webp", start=8, length=100) == b"89"
        await store.delete("products/p/a.webp")
        await store.delete("products/p/a.webp")  # deleting twice is fine
        assert await store.head("products/p/a.webp") is None
        assert await store.read("products/p/a.webp", length=4) is None
    finally:
        await store.aclose()


async def test_a_presigned_url_is_reused_within_its_step_and_serves_the_object(settings: Settings) -> None:
    store = S3Storage(settings)
    try:
        await store.put("products/p/b.png", b"png bytes", "image/png")
        first, second = store.url("products/p/b.png"), store.url("products/p/b.png")
        assert first == second  # signed once, not on every answer
        assert "X-Amz-Signature=" in first
        assert f"X-Amz-Expires={24 * 3600 + 3600}" in first  # the TTL plus one step
        async with httpx.AsyncClient() as http:
            served = await http.get(first)
        assert (served.status_code, served.content) == (200, b"png bytes")
        assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    finally:
        await store.aclose()


async def test_with_a_public_base_url_nothing_is_signed(settings: Settings) -> None:
    store = S3Storage(settings.model_copy(update={"s3_public_base_url": "https://img.example.cn/photos/"}))
    try:
        assert store.url("products/p/c.png") == "https://img.example.cn/photos/products/p/c.png"
    finally:
        await store.aclose()


async def test_presigned_urls_stay_within_sigv4s_seven_days(settings: Settings) -> None:
    longest = settings.model_copy(update={"image_url_expiry_seconds": 6 * 24 * 3600})
    store = S3Storage(longest)
    try:
        url = store.url("products/p/d.png")
        expires = int(url.split("X-Amz-Expires=")[1].split("&")[0])
        assert 6 * 24 * 3600 < expires <= 7 * 24 * 3600
    finally:
        await store.aclose()


def test_a_url_lifetime_over_six_days_is_refused() -> None:
    with pytest.raises(ValueError, match="image_url_expiry_seconds"):
        Settings(image_url_expiry_seconds=7 * 24 * 3600)
