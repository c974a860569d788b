"""Builders for photo tests: images made on the spot (unique colours), the upload a client sends
(the multipart form of an upload target, over real HTTP when the target is S3), and direct reads
of the image tables and the store to prove what did or did not change."""

from __future__ import annotations

import io
import itertools
from typing import Any

import httpx
from litestar.testing import AsyncTestClient
from PIL import Image
from sqlalchemy import func, select

from coopmarket.db import Database
from coopmarket.products.models import ProductImage, ProductImageUpload
from coopmarket.storage.base import ObjectStorage
from tests.factories import Actor

_colours = itertools.count(1)


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (1200, 800), **save: Any) -> bytes:
    """A real image in ``fmt`` with a colour no other call returned."""
    n = next(_colours)
    colour = ((n * 37) % 256, (n * 91) % 256, (n * 53) % 256)
    image = Image.new("RGB", size, colour)
    image.paste((255 - colour[0], 10, 10), (0, 0, size[0] // 3, size[1] // 3))  # not one flat colour
    out = io.BytesIO()
    image.save(out, format=fmt, **save)
    return out.getvalue()


def images_url(product_id: str) -> str:
    return f"/api/v1/products/{product_id}/images"


async def request_upload(
    client: AsyncTestClient[Any],
    actor: Actor,
    product_id: str,
    *,
    content_type: str = "image/png",
    size: int = 50_000,
    filename: str = "photo.png",
) -> httpx.Response:
    return await client.post(
        f"{images_url(product_id)}/uploads",
        json={"filename": filename, "content_type": content_type, "size": size},
        headers=actor.headers,
    )


async def issue(
    client: AsyncTestClient[Any], actor: Actor, product_id: str, content_type: str = "image/png"
) -> dict[str, Any]:
    response = await request_upload(client, actor, product_id, content_type=content_type)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def send_form(
    client: AsyncTestClient[Any],
    target: dict[str, Any],
    content: bytes,
    *,
    filename: str = "photo.png",
    content_type: str = "image/png",
    fields: dict[str, str] | None = None,
) -> httpx.Response:
    """What ``wx.uploadFile`` or a browser sends: every field of the target, then the file in ``file``.
    A relative URL is the app itself (local store); an absolute one is the S3 server, over HTTP."""
    data = fields if fields is not None else target["fields"]
    files = {"file": (filename, content, content_type)}
    if target["url"].startswith("/"):
        return await client.post(target["url"], data=data, files=files)
    async with httpx.AsyncClient() as http:
        return await http.post(target["url"], data=data, files=files, headers=target["headers"])


async def fetch(client: AsyncTestClient[Any], url: str) -> httpx.Response:
    """GET a URL from a product answer, as a mini-program would."""
    if url.startswith("/"):
        return await client.get(url)
    async with httpx.AsyncClient() as http:
        return await http.get(url)


async def upload_and_attach(
    client: AsyncTestClient[Any], actor: Actor, product_id: str, content: bytes | None = None
) -> dict[str, Any]:
    """A photo uploaded and attached the way a client does it; the attach answer."""
    issued = await issue(client, actor, product_id)
    sent = await send_form(client, issued["upload"], content or image_bytes())
    assert sent.status_code in (200, 201, 204), sent.text
    response = await client.post(images_url(product_id), json={"key": issued["key"]}, headers=actor.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def image_rows(db: Database, product_id: str) -> list[dict[str, Any]]:
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(
                    ProductImage.id,  # type: ignore[call-overload]
                    ProductImage.key,
                    ProductImage.thumb_key,
                    ProductImage.position,
                    ProductImage.is_cover,
                )
                .where(ProductImage.product_id == product_id)
                .order_by(ProductImage.position)
            )
        ).all()
    return [r._asdict() for r in rows]


async def open_upload_count(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(ProductImageUpload))).scalar_one())


async def stored(store: ObjectStorage, key: str) -> bytes | None:
    """The whole object under ``key`` in the store, or ``None``."""
    head = await store.head(key)
    if head is None:
        return None
    return await store.read(key, length=head.size)
