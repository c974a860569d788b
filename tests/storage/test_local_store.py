"""The local store's own routes: the signed upload target (the multipart shape of an S3 presigned
POST) and signed file URLs. Each refusal stores nothing and leaves no temporary file behind."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.core import clock
from coopmarket.settings import Settings
from coopmarket.storage import signing
from coopmarket.storage.base import InvalidKey, StorageError, UploadTarget
from coopmarket.storage.local import LocalStorage

KEY = "products/01testproduct0000000000000/uploads/0123456789abcdef0123456789abcdef.png"
CONTENT = b"\x89PNG\r\n\x1a\n" + b"pretend pixels" * 10


@pytest.fixture
def local(settings: Settings) -> LocalStorage:
    return LocalStorage(settings)


def target(local: LocalStorage, *, max_bytes: int = 1000, expires_in: int = 600) -> UploadTarget:
    return local.upload_target(KEY, content_type="image/png", max_bytes=max_bytes, expires_in=expires_in)


async def send(
    client: AsyncTestClient[Any],
    upload: UploadTarget,
    content: bytes = CONTENT,
    *,
    fields: dict[str, str] | None = None,
) -> Any:
    return await client.post(
        upload.url,
        data=fields if fields is not None else upload.fields,
        files={"file": ("photo.png", content, "image/png")},
    )


def leftovers(local: LocalStorage) -> list[Path]:
    """Every file under the store's directory."""
    return sorted(p for p in local.root.rglob("*") if p.is_file()) if local.root.exists() else []


async def test_an_upload_is_stored_and_served_by_a_signed_url(
    client: AsyncTestClient[Any], local: LocalStorage
) -> None:
    # When a client sends the target's fields and then the file
    response = await send(client, target(local))

    # Then it is stored under the key, and only there (no temporary file left)
    assert response.status_code == 204, response.text
    assert leftovers(local) == [local.root / KEY]
    # And its signed URL serves it as an image that browsers must not sniff
    served = await client.get(local.url(KEY))
    assert served.status_code == 200
    assert served.content == CONTENT
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-disposition"].startswith("inline")


def _tampered(fields: dict[str, str], **changes: str) -> dict[str, str]:
    return {**fields, **changes}


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"signature": "0" * 64}, 403, "upload_signature_invalid"),
        ({"key": KEY.replace(".png", "x.png")}, 403, "upload_policy_violated"),
        ({"Content-Type": "text/html"}, 403, "upload_policy_violated"),
        ({"success_action_redirect": "https://evil.example"}, 403, "upload_policy_violated"),
    ],
    ids=["signature", "key", "content-type", "extra-field"],
)
async def test_a_form_that_breaks_the_signed_policy_is_refused(
    client: AsyncTestClient[Any], local: LocalStorage, change: dict[str, str], status: int, code: str
) -> None:
    upload = target(local)
    response = await send(client, upload, fields=_tampered(upload.fields, **change))
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert leftovers(local) == []


async def test_an_x_ignore_field_is_allowed_as_s3_allows_it(
    client: AsyncTestClient[Any], local: LocalStorage
) -> None:
    upload = target(local)
    response = await send(client, upload, fields={**upload.fields, "x-ignore-client": "mini-program"})
    assert response.status_code == 204, response.text


async def test_an_expired_target_is_refused(client: AsyncTestClient[Any], local: LocalStorage) -> None:
    upload = target(local, expires_in=600)
    clock.advance(timedelta(seconds=601))
    response = await send(client, upload)
    assert (response.status_code, response.json()["code"]) == (403, "upload_expired")
    assert leftovers(local) == []


async def test_a_file_over_the_policy_limit_is_refused_while_it_streams(
    client: AsyncTestClient[Any], local: LocalStorage
) -> None:
    response = await send(client, target(local, max_bytes=100), b"\x89PNG" + b"x" * 200)
    assert (response.status_code, response.json()["code"]) == (413, "upload_too_large")
    assert leftovers(local) == []


async def test_a_file_of_exactly_the_limit_is_accepted(
    client: AsyncTestClient[Any], local: LocalStorage
) -> None:
    response = await send(client, target(local, max_bytes=100), b"y" * 100)
    assert response.status_code == 204, response.text
    assert (local.root / KEY).read_bytes() == b"y" * 100


@pytest.mark.parametrize(
    ("build", "status", "code"),
    [
        (lambda t: {"json": {"key": KEY}}, 415, "unsupported_media_type"),
        (lambda t: {"data": t.fields}, 415, "unsupported_media_type"),  # url-encoded
        (lambda t: {"data": t.fields, "files": {"photo": ("a.png", b"z")}}, 422, "upload_incomplete"),
        (
            lambda t: {
                "data": {k: v for k, v in t.fields.items() if k != "policy"},
                "files": {"file": ("a", b"z")},
            },
            422,
            "upload_incomplete",
        ),
        (
            lambda t: {"data": t.fields, "files": {"file": ("a.png", b"", "image/png")}},
            422,
            "upload_incomplete",
        ),
        (
            lambda t: {
                "content": b'--b\r\nContent-Disposition: form-data; name="key"\r\n\r\nunterminated',
                "headers": {"content-type": "multipart/form-data; boundary=b"},
            },
            400,
            "upload_malformed",
        ),
    ],
    ids=["json", "urlencoded", "no-file-field", "no-policy", "empty-file", "truncated"],
)
async def test_a_malformed_upload_is_refused(
    client: AsyncTestClient[Any], local: LocalStorage, build: Any, status: int, code: str
) -> None:
    response = await client.post(target(local).url, **build(target(local)))
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert leftovers(local) == []


async def test_a_file_sent_before_the_fields_is_refused(
    client: AsyncTestClient[Any], local: LocalStorage
) -> None:
    # S3 wants the file last; so does this route (the policy is checked before the file's bytes)
    upload = target(local)
    boundary = "XyZ"
    parts = [("file", "photo.png", CONTENT)] + [
        (name, None, value.encode()) for name, value in upload.fields.items()
    ]
    body = b""
    for name, filename, value in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    response = await client.post(
        upload.url, content=body, headers={"content-type": f"multipart/form-data; boundary={boundary}"}
    )
    assert (response.status_code, response.json()["code"]) == (422, "upload_incomplete")
    assert leftovers(local) == []


async def test_a_file_url_needs_a_valid_unexpired_signature(
    client: AsyncTestClient[Any], local: LocalStorage
) -> None:
    # Given a stored file and its signed URL
    assert (await send(client, target(local))).status_code == 204
    url = local.url(KEY)
    path, _, query = url.partition("?")
    params = dict(item.split("=") for item in query.split("&"))

    # When the signature, the expiry or the key is changed, or the URL has expired
    forged = await client.get(f"{path}?expires={params['expires']}&signature={'0' * 64}")
    longer = await client.get(
        f"{path}?expires={int(params['expires']) + 3600}&signature={params['signature']}"
    )
    other = await client.get(f"{path.replace('.png', 'x.png')}?{query}")
    unsigned = await client.get(path)
    clock.advance(timedelta(days=8))
    expired = await client.get(url)

    # Then each is refused
    for response in (forged, longer, other, expired):
        assert (response.status_code, response.json()["code"]) == (403, "file_signature_invalid")
    assert unsigned.status_code in (400, 422)


async def test_a_signed_url_of_a_missing_file_is_not_found(
    client: AsyncTestClient[Any], local: LocalStorage
) -> None:
    response = await client.get(local.url(KEY))
    assert (response.status_code, response.json()["code"]) == (404, "file_not_found")


@pytest.mark.parametrize(
    "key",
    [
        "../secret.png",
        "products/../../etc/passwd",
        "/etc/passwd",
        "products//a.png",
        "products/./a.png",
        "a\\b",
        ".incoming/x",
    ],
)
def test_a_key_that_could_leave_the_directory_is_refused(local: LocalStorage, key: str) -> None:
    with pytest.raises(InvalidKey):
        local.path_for(key)


async def test_a_traversal_url_serves_nothing(
    client: AsyncTestClient[Any], local: LocalStorage, tmp_path: Path
) -> None:
    # Given a secret file next to the store, and a URL signed for a traversal key by someone with the secret
    (tmp_path / "secret.png").write_bytes(b"secret")
    expires = 4_000_000_000
    signature = signing.sign_url(local.url_key, "../secret.png", expires)
    response = await client.get(f"/api/v1/files/..%2Fsecret.png?expires={expires}&signature={signature}")
    assert response.status_code in (403, 404)
    assert b"secret" not in response.content


def test_a_symlink_out_of_the_directory_is_refused(local: LocalStorage, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (local.root / "products").mkdir(parents=True)
    (local.root / "products" / "link").symlink_to(outside)
    with pytest.raises(StorageError):
        local.path_for("products/link/a.png")


@pytest.mark.parametrize("settings_overrides", [{"storage_local_base_url": "https://shop.example.cn/"}])
def test_urls_start_with_the_configured_base_url(local: LocalStorage) -> None:
    assert target(local).url == "https://shop.example.cn/api/v1/uploads/local"
    assert local.url(KEY).startswith(f"https://shop.example.cn/api/v1/files/{KEY}?expires=")
