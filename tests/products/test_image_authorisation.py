"""Who may act on a product's photos: only its cooperative's managers. Another cooperative's
manager gets 404 (ids cannot be probed), a buyer or staff 403 ``forbidden_role``, a stranger 401;
and each refusal leaves the photos, the open uploads and the stored objects as they were."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from coopmarket.storage.base import ObjectStorage
from tests.factories import Actor, create_product
from tests.products.builders import Seller, new_seller
from tests.products.image_builders import (
    image_bytes,
    image_rows,
    images_url,
    issue,
    open_upload_count,
    send_form,
    stored,
    upload_and_attach,
)
from tests.products.test_authorisation import REFUSALS, assert_refused, headers_for


async def _photos(db: Database, store: ObjectStorage, product_id: str) -> list[Any]:
    """The product's image rows with the bytes stored for each (original and variant)."""
    rows = await image_rows(db, product_id)
    return [(r, await stored(store, r["key"]), await stored(store, r["thumb_key"])) for r in rows]


@pytest.mark.parametrize("kind", list(REFUSALS))
async def test_only_its_manager_gets_an_upload_target(
    client: AsyncTestClient[Any], db: Database, staff: Actor, seller: Seller, kind: str
) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    headers = await headers_for(kind, client, staff)
    response = await client.post(
        f"{images_url(product['id'])}/uploads",
        json={"filename": "a.png", "content_type": "image/png", "size": 1000},
        headers=headers,
    )
    assert_refused(response, kind)
    assert await open_upload_count(db) == 0


@pytest.mark.parametrize("kind", list(REFUSALS))
async def test_only_its_manager_attaches_an_upload(
    client: AsyncTestClient[Any], db: Database, store: ObjectStorage, staff: Actor, seller: Seller, kind: str
) -> None:
    # Given a photo uploaded by the product's manager, not yet attached
    product = await create_product(client, seller.manager, seller.coop["id"])
    photo = image_bytes()
    issued = await issue(client, seller.manager, product["id"])
    assert (await send_form(client, issued["upload"], photo)).status_code == 204

    # When someone else attaches its key
    headers = await headers_for(kind, client, staff)
    response = await client.post(images_url(product["id"]), json={"key": issued["key"]}, headers=headers)

    # Then it is refused, nothing is recorded, and the upload is still there for its manager
    assert_refused(response, kind)
    assert await image_rows(db, product["id"]) == []
    assert await open_upload_count(db) == 1
    assert await stored(store, issued["key"]) == photo


async def test_another_manager_cannot_attach_an_upload_to_their_own_product(
    client: AsyncTestClient[Any], db: Database, store: ObjectStorage, staff: Actor, seller: Seller
) -> None:
    # Given a photo uploaded for seller's product, and another cooperative's manager with a product
    product = await create_product(client, seller.manager, seller.coop["id"])
    photo = image_bytes()
    issued = await issue(client, seller.manager, product["id"])
    assert (await send_form(client, issued["upload"], photo)).status_code == 204
    other = await new_seller(client, staff)
    their_product = await create_product(client, other.manager, other.coop["id"])

    # When they attach seller's key to their own product
    response = await client.post(
        images_url(their_product["id"]), json={"key": issued["key"]}, headers=other.manager.headers
    )

    # Then it is refused as outside their product, and seller's upload is neither taken nor deleted
    assert (response.status_code, response.json()["code"]) == (422, "image_key_outside_product")
    assert await image_rows(db, their_product["id"]) == []
    assert await stored(store, issued["key"]) == photo
    assert await open_upload_count(db) == 1


@pytest.mark.parametrize("kind", list(REFUSALS))
async def test_only_its_manager_moves_a_photo_or_sets_the_cover(
    client: AsyncTestClient[Any], db: Database, store: ObjectStorage, staff: Actor, seller: Seller, kind: str
) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    await upload_and_attach(client, seller.manager, product["id"])
    second = await upload_and_attach(client, seller.manager, product["id"])
    before = await _photos(db, store, product["id"])
    headers = await headers_for(kind, client, staff)
    response = await client.patch(
        f"{images_url(product['id'])}/{second['id']}", json={"position": 1, "is_cover": True}, headers=headers
    )
    assert_refused(response, kind)
    assert await _photos(db, store, product["id"]) == before


@pytest.mark.parametrize("kind", list(REFUSALS))
async def test_only_its_manager_deletes_a_photo(
    client: AsyncTestClient[Any], db: Database, store: ObjectStorage, staff: Actor, seller: Seller, kind: str
) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    image = await upload_and_attach(client, seller.manager, product["id"])
    before = await _photos(db, store, product["id"])
    headers = await headers_for(kind, client, staff)
    response = await client.delete(f"{images_url(product['id'])}/{image['id']}", headers=headers)
    assert_refused(response, kind)
    after = await _photos(db, store, product["id"])
    assert after == before
    assert after[0][1] is not None and after[0][2] is not None


async def test_a_photo_of_another_product_is_not_found(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    # Given two products of one manager, the first with a photo
    first = await create_product(client, seller.manager, seller.coop["id"])
    second = await create_product(client, seller.manager, seller.coop["id"])
    image = await upload_and_attach(client, seller.manager, first["id"])

    # When the photo is changed or deleted through the second product, Then it is not found there
    moved = await client.patch(
        f"{images_url(second['id'])}/{image['id']}", json={"position": 1}, headers=seller.manager.headers
    )
    deleted = await client.delete(f"{images_url(second['id'])}/{image['id']}", headers=seller.manager.headers)
    assert (moved.status_code, moved.json()["code"]) == (404, "image_not_found")
    assert (deleted.status_code, deleted.json()["code"]) == (404, "image_not_found")
    assert [r["id"] for r in await image_rows(db, first["id"])] == [image["id"]]
