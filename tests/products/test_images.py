"""Product photos end to end, on both stores: local disk through the app's own upload route, and
S3 through moto's server over HTTP (the presigned POST sent as a client sends it).

An upload is attached only after the server read the stored object itself; a refused object is
deleted; the answers carry URLs that serve the photo and its list-size variant."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from PIL import Image

from coopmarket.core import clock
from coopmarket.core.principal import COOP_MANAGER, Principal
from coopmarket.db import Database
from coopmarket.products import image_uploads, images
from coopmarket.products.errors import ImageConflict
from coopmarket.products.image_uploads import ATTACH_GRACE
from coopmarket.products.schemas import ImageAttachIn
from coopmarket.settings import Settings
from coopmarket.storage.base import ObjectStorage
from coopmarket.storage.local import LocalStorage
from tests.factories import create_product
from tests.products.builders import PRODUCTS, Seller
from tests.products.image_builders import (
    fetch,
    image_bytes,
    image_rows,
    images_url,
    issue,
    open_upload_count,
    request_upload,
    send_form,
    stored,
    upload_and_attach,
)
from tests.s3 import s3_admin

MAX_BYTES = 200_000


@pytest.fixture
def settings_overrides(backend: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    overrides: dict[str, Any] = {"image_max_bytes": MAX_BYTES, "image_max_pixels": 4_000_000}
    if backend == "s3":
        overrides.update(request.getfixturevalue("s3_settings"))
    return overrides


async def test_an_uploaded_photo_is_attached_and_served_back(
    client: AsyncTestClient[Any], db: Database, store: ObjectStorage, seller: Seller, backend: str
) -> None:
    # Given a product and an upload target for a PNG photo
    product = await create_product(client, seller.manager, seller.coop["id"])
    photo = image_bytes("PNG", (1200, 800))
    issued = await issue(client, seller.manager, product["id"])
    assert issued["key"].startswith(f"products/{product['id']}/uploads/")
    assert issued["key"].endswith(".png")
    target = issued["upload"]
    assert target["method"] == "POST"
    assert target["fields"]["Content-Type"] == "image/png"
    assert target["fields"]["key"] == issued["key"]
    assert target["headers"] == {}
    assert (
        target["url"].startswith("http://127.0.0.1:")
        if backend == "s3"
        else target["url"] == ("/api/v1/uploads/local")
    )

    # When the client uploads the file to the target and attaches the key
    sent = await send_form(client, target, photo)
    assert sent.status_code == 204, sent.text
    response = await client.post(
        images_url(product["id"]), json={"key": issued["key"]}, headers=seller.manager.headers
    )

    # Then the photo is the product's first image and its cover, with its size as displayed
    assert response.status_code == 201, response.text
    image = response.json()
    assert (image["position"], image["is_cover"], image["width"], image["height"]) == (1, True, 1200, 800)
    # And the product answer carries URLs that serve the photo as uploaded and a 400 px variant
    detail = (await client.get(f"{PRODUCTS}/{product['id']}")).json()
    assert [(i["id"], i["position"], i["is_cover"]) for i in detail["images"]] == [(image["id"], 1, True)]
    served = await fetch(client, detail["images"][0]["url"])
    assert served.status_code == 200
    assert served.content == photo
    assert served.headers["content-type"] == "image/png"
    thumb = await fetch(client, detail["images"][0]["thumb_url"])
    assert thumb.status_code == 200
    assert thumb.headers["content-type"] == "image/webp"
    assert Image.open(io.BytesIO(thumb.content)).size == (400, 267)
    # And the list item carries the cover's small variant
    items = (await client.get(PRODUCTS)).json()["items"]
    cover = await fetch(client, next(i for i in items if i["id"] == product["id"])["cover_image_url"])
    assert cover.content == thumb.content
    # And the upload itself is gone: the photo lives under a key no upload target reaches
    rows = await image_rows(db, product["id"])
    assert await stored(store, issued["key"]) is None
    assert await stored(store, rows[0]["key"]) == photo
    assert await open_upload_count(db) == 0


async def test_a_jpeg_with_a_misleading_name_is_typed_by_its_bytes(
    client: AsyncTestClient[Any], db: Database, store: ObjectStorage, seller: Seller
) -> None:
    # Given a JPEG sent as "image/png" named photo.png (the type a target was issued for)
    product = await create_product(client, seller.manager, seller.coop["id"])
    photo = image_bytes("JPEG", (600, 600), quality=90)
    issued = await issue(client, seller.manager, product["id"])
    assert (await send_form(client, issued["upload"], photo)).status_code == 204

    # When it is attached
    response = await client.post(
        images_url(product["id"]), json={"key": issued["key"]}, headers=seller.manager.headers
    )

    # Then it is kept as what its first bytes say: a JPEG, stored and served as image/jpeg
    assert response.status_code == 201, response.text
    key = (await image_rows(db, product["id"]))[0]["key"]
    assert key.endswith(".jpg")
    served = await fetch(client, response.json()["url"])
    assert (served.headers["content-type"], served.content) == ("image/jpeg", photo)


@pytest.mark.parametrize(
    ("content", "code"),
    [
        pytest.param(b"hello, I am a text file, not a photo\n" * 20, "image_type_not_allowed", id="text"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + b"\x00" * 500, "image_undecodable", id="png-magic-garbage"),
        pytest.param(image_bytes("JPEG", (300, 300))[:700], "image_undecodable", id="truncated-jpeg"),
        pytest.param(image_bytes("PNG", (2500, 2000)), "image_too_many_pixels", id="over-pixel-limit"),
        pytest.param(image_bytes("GIF", (50, 50)), "image_type_not_allowed", id="gif"),
    ],
)
async def test_a_stored_object_that_is_not_an_acceptable_photo_is_refused_and_deleted(
    client: AsyncTestClient[Any],
    db: Database,
    store: ObjectStorage,
    seller: Seller,
    content: bytes,
    code: str,
) -> None:
    # Given an upload of something named photo.png, declared image/png
    product = await create_product(client, seller.manager, seller.coop["id"])
    issued = await issue(client, seller.manager, product["id"])
    assert (await send_form(client, issued["upload"], content)).status_code == 204
    assert await stored(store, issued["key"]) == content

    # When it is attached
    response = await client.post(
        images_url(product["id"]), json={"key": issued["key"]}, headers=seller.manager.headers
    )

    # Then it is refused with the reason, the object is deleted and nothing is recorded
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    assert await stored(store, issued["key"]) is None
    assert await image_rows(db, product["id"]) == []
    assert await open_upload_count(db) == 0
    # And the key cannot be tried again
    again = await client.post(
        images_url(product["id"]), json={"key": issued["key"]}, headers=seller.manager.headers
    )
    assert again.json()["code"] == "image_key_not_issued"


async def test_a_decompression_bomb_is_refused_and_deleted(
    client: AsyncTestClient[Any], db: Database, store: ObjectStorage, seller: Seller
) -> None:
    # Given a 50 KB PNG that decodes to 20000 × 20000 pixels
    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, format="PNG", optimize=True)
    bomb = out.getvalue()
    assert len(bomb) < MAX_BYTES
    product = await create_product(client, seller.manager, seller.coop["id"])
    issued = await issue(client, seller.manager, product["id"])
    assert (await send_form(client, issued["upload"], bomb)).status_code == 204

    # When it is attached, Then it is refused before its pixels are decoded, and deleted
    response = await client.post(
        images_url(product["id"]), json={"key": issued["key"]}, headers=seller.manager.headers
    )
    assert (response.status_code, response.json()["code"]) == (422, "image_too_many_pixels")
    assert await stored(store, issued["key"]) is None
    assert await image_rows(db, product["id"]) == []


async def test_an_oversize_object_in_the_store_is_refused_and_deleted(
    client: AsyncTestClient[Any], db: Database, store: ObjectStorage, seller: Seller
) -> None:
    # Given an object over the limit under an issued key (a store that does not enforce the
    # policy's content-length-range, as moto and some S3-compatible stores do not)
    product = await create_product(client, seller.manager, seller.coop["id"])
    issued = await issue(client, seller.manager, product["id"])
    oversize = image_bytes("PNG", (1000, 1000), compress_level=0)
    assert len(oversize) > MAX_BYTES
    await store.put(issued["key"], oversize, "image/png")

    # When it is attached
    response = await client.post(
        images_url(product["id"]), json={"key": issued["key"]}, headers=seller.manager.headers
    )

    # Then it is refused as too large and deleted
    assert (response.status_code, response.json()["code"]) == (422, "image_too_large")
    assert await stored(store, issued["key"]) is None
    assert await image_rows(db, product["id"]) == []


async def test_an_upload_target_is_refused_for_an_oversize_or_non_image_file(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    product = await create_product(client, seller.manager, seller.coop["id"])
    # When a target is asked for a file over the limit, or of a type that is not a photo
    too_big = await request_upload(client, seller.manager, product["id"], size=MAX_BYTES + 1)
    wrong_type = await request_upload(
        client, seller.manager, product["id"], content_type="text/plain", filename="photo.png"
    )
    gif = await request_upload(client, seller.manager, product["id"], content_type="image/gif")
    # Then each is refused with its reason, and no target is recorded
    assert (too_big.status_code, too_big.json()["code"]) == (422, "image_too_large")
    assert (wrong_type.status_code, wrong_type.json()["code"]) == (422, "image_type_not_allowed")
    assert (gif.status_code, gif.json()["code"]) == (422, "image_type_not_allowed")
    assert await open_upload_count(db) == 0


async def test_a_key_outside_the_product_is_refused_and_its_object_kept(
    client: AsyncTestClient[Any], db: Database, store: ObjectStorage, seller: Seller
) -> None:
    # Given two products of one manager and a photo uploaded for the first
    first = await create_product(client, seller.manager, seller.coop["id"])
    second = await create_product(client, seller.manager, seller.coop["id"])
    photo = image_bytes()
    issued = await issue(client, seller.manager, first["id"])
    assert (await send_form(client, issued["upload"], photo)).status_code == 204

    # When its key is attached to the second product
    response = await client.post(
        images_url(second["id"]), json={"key": issued["key"]}, headers=seller.manager.headers
    )

    # Then it is refused, the object stays (it is the first product's) and still attaches there
    assert (response.status_code, response.json()["code"]) == (422, "image_key_outside_product")
    assert await image_rows(db, second["id"]) == []
    assert await stored(store, issued["key"]) == photo
    attached = await client.post(
        images_url(first["id"]), json={"key": issued["key"]}, headers=seller.manager.headers
    )
    assert attached.status_code == 201, attached.text


async def test_a_key_never_issued_is_refused(
    client: AsyncTestClient[Any], db: Database, store: ObjectStorage, seller: Seller
) -> None:
    # Given an object a client put under the product's prefix without a target
    product = await create_product(client, seller.manager, seller.coop["id"])
    key = f"products/{product['id']}/uploads/{'0' * 32}.png"
    await store.put(key, image_bytes(), "image/png")

    # When it is attached, Then it is refused
    response = await client.post(images_url(product["id"]), json={"key": key}, headers=seller.manager.headers)
    assert (response.status_code, response.json()["code"]) == (422, "image_key_not_issued")
    assert await image_rows(db, product["id"]) == []


async def test_attaching_before_the_upload_is_refused_and_can_be_retried(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    # Given an issued target nothing was uploaded to yet
    product = await create_product(client, seller.manager, seller.coop["id"])
    issued = await issue(client, seller.manager, product["id"])

    # When the key is attached, Then it is refused as not uploaded, and the target stays open
    early = await client.post(
        images_url(product["id"]), json={"key": issued["key"]}, headers=seller.manager.headers
    )
    assert (early.status_code, early.json()["code"]) == (422, "image_not_uploaded")
    assert await open_upload_count(db) == 1
    # And once uploaded it attaches
    assert (await send_form(client, issued["upload"], image_bytes())).status_code == 204
    late = await client.post(
        images_url(product["id"]), json={"key": issued["key"]}, headers=seller.manager.headers
    )
    assert late.status_code == 201, late.text


async def test_photos_are_ordered_and_one_is_the_cover(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    # Given three photos attached in turn
    product = await create_product(client, seller.manager, seller.coop["id"])
    first, second, third = [await upload_and_attach(client, seller.manager, product["id"]) for _ in range(3)]
    assert [(i["position"], i["is_cover"]) for i in (first, second, third)] == [
        (1, True),
        (2, False),
        (3, False),
    ]
    url = images_url(product["id"])

    # When the third moves to the front
    moved = await client.patch(f"{url}/{third['id']}", json={"position": 1}, headers=seller.manager.headers)

    # Then the others keep their order behind it, and the cover is unchanged
    assert moved.status_code == 200, moved.text
    assert (moved.json()["position"], moved.json()["is_cover"]) == (1, False)
    rows = await image_rows(db, product["id"])
    assert [(r["id"], r["position"], r["is_cover"]) for r in rows] == [
        (third["id"], 1, False),
        (first["id"], 2, True),
        (second["id"], 3, False),
    ]

    # When the second becomes the cover
    covered = await client.patch(
        f"{url}/{second['id']}", json={"is_cover": True}, headers=seller.manager.headers
    )

    # Then it is the only cover, and the list shows its small variant
    assert covered.status_code == 200
    assert covered.json()["is_cover"] is True
    assert [r["id"] for r in await image_rows(db, product["id"]) if r["is_cover"]] == [second["id"]]
    detail = (await client.get(f"{PRODUCTS}/{product['id']}")).json()
    assert [i["id"] for i in detail["images"]] == [third["id"], first["id"], second["id"]]
    items = (await client.get(PRODUCTS)).json()["items"]
    listed = next(i for i in items if i["id"] == product["id"])["cover_image_url"]
    cover = next(i for i in detail["images"] if i["is_cover"])
    assert (await fetch(client, listed)).content == (await fetch(client, cover["thumb_url"])).content


async def test_order_and_cover_changes_that_break_the_rules_are_refused(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    # Given two photos
    product = await create_product(client, seller.manager, seller.coop["id"])
    first = await upload_and_attach(client, seller.manager, product["id"])
    await upload_and_attach(client, seller.manager, product["id"])
    url = images_url(product["id"])
    before = await image_rows(db, product["id"])

    # When the cover is un-made, a photo is moved past the end, or an unknown photo is changed
    uncover = await client.patch(
        f"{url}/{first['id']}", json={"is_cover": False}, headers=seller.manager.headers
    )
    too_far = await client.patch(f"{url}/{first['id']}", json={"position": 3}, headers=seller.manager.headers)
    zero = await client.patch(f"{url}/{first['id']}", json={"position": 0}, headers=seller.manager.headers)
    unknown = await client.patch(
        f"{url}/01aaaaaaaaaaaaaaaaaaaaaaaa", json={"position": 1}, headers=seller.manager.headers
    )

    # Then each is refused with its reason and nothing changed
    assert (uncover.status_code, uncover.json()["code"]) == (422, "cover_required")
    assert (too_far.status_code, too_far.json()["code"]) == (422, "invalid_position")
    assert (zero.status_code, zero.json()["code"]) == (422, "validation_error")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "image_not_found")
    assert await image_rows(db, product["id"]) == before


async def test_deleting_the_cover_promotes_the_next_and_removes_both_objects(
    client: AsyncTestClient[Any], db: Database, store: ObjectStorage, seller: Seller
) -> None:
    # Given three photos, the first being the cover
    product = await create_product(client, seller.manager, seller.coop["id"])
    first, second, third = [await upload_and_attach(client, seller.manager, product["id"]) for _ in range(3)]
    doomed = (await image_rows(db, product["id"]))[0]
    assert await stored(store, doomed["key"]) is not None
    assert await stored(store, doomed["thumb_key"]) is not None

    # When the cover is deleted
    response = await client.delete(
        f"{images_url(product['id'])}/{first['id']}", headers=seller.manager.headers
    )

    # Then the next photo is the cover, positions close up, and the original and variant are gone
    assert response.status_code == 204, response.text
    rows = await image_rows(db, product["id"])
    assert [(r["id"], r["position"], r["is_cover"]) for r in rows] == [
        (second["id"], 1, True),
        (third["id"], 2, False),
    ]
    assert await stored(store, doomed["key"]) is None
    assert await stored(store, doomed["thumb_key"]) is None
    # And deleting the rest leaves a product without photos or a cover URL
    for image in (second, third):
        gone = await client.delete(
            f"{images_url(product['id'])}/{image['id']}", headers=seller.manager.headers
        )
        assert gone.status_code == 204
    assert (await client.get(f"{PRODUCTS}/{product['id']}")).json()["images"] == []
    items = (await client.get(PRODUCTS)).json()["items"]
    assert next(i for i in items if i["id"] == product["id"])["cover_image_url"] is None


async def test_edits_and_archiving_answer_with_the_photos(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    # Given a product with a photo
    product = await create_product(client, seller.manager, seller.coop["id"])
    image = await upload_and_attach(client, seller.manager, product["id"])

    # When it is edited, then archived, Then both answers still carry its photo
    edited = await client.patch(
        f"{PRODUCTS}/{product['id']}", json={"name": "改名烟薯"}, headers=seller.manager.headers
    )
    archived = await client.post(f"{PRODUCTS}/{product['id']}/archive", headers=seller.manager.headers)
    assert [i["id"] for i in edited.json()["images"]] == [image["id"]]
    assert [i["id"] for i in archived.json()["images"]] == [image["id"]]


async def _all_keys(store: ObjectStorage, settings: Settings, backend: str) -> set[str]:
    """Every key in the store (to prove that no copy was left behind)."""
    if backend == "s3":
        listing = s3_admin(settings.s3_endpoint_url or "").list_objects_v2(Bucket=settings.s3_bucket)
        return {item["Key"] for item in listing.get("Contents", [])}
    assert isinstance(store, LocalStorage)
    return {
        str(p.relative_to(store.root))
        for p in store.root.rglob("*")
        if p.is_file() and not p.relative_to(store.root).parts[0].startswith(".")
    }


async def test_two_attaches_of_one_upload_record_one_photo_and_leave_no_copies(
    client: AsyncTestClient[Any],
    db: Database,
    store: ObjectStorage,
    settings: Settings,
    seller: Seller,
    backend: str,
) -> None:
    # Given an uploaded photo
    product = await create_product(client, seller.manager, seller.coop["id"])
    issued = await issue(client, seller.manager, product["id"])
    assert (await send_form(client, issued["upload"], image_bytes())).status_code == 204

    # When its key is attached twice at once
    answers = await asyncio.gather(
        *[
            client.post(
                images_url(product["id"]), json={"key": issued["key"]}, headers=seller.manager.headers
            )
            for _ in range(2)
        ]
    )

    # Then one attach wins, the other is refused, and the store holds exactly the photo and its variant
    statuses = sorted(a.status_code for a in answers)
    assert statuses[0] == 201, [a.text for a in answers]
    assert statuses[1] in (409, 422), [a.text for a in answers]
    rows = await image_rows(db, product["id"])
    assert len(rows) == 1
    assert await _all_keys(store, settings, backend) == {rows[0]["key"], rows[0]["thumb_key"]}


async def test_uploads_never_attached_are_swept_with_their_objects(
    client: AsyncTestClient[Any], db: Database, store: ObjectStorage, seller: Seller
) -> None:
    # Given an upload nobody attached, and a fresh one
    product = await create_product(client, seller.manager, seller.coop["id"])
    stale = await issue(client, seller.manager, product["id"])
    assert (await send_form(client, stale["upload"], image_bytes())).status_code == 204
    clock.advance(timedelta(seconds=600) + ATTACH_GRACE + timedelta(seconds=1))
    fresh = await issue(client, seller.manager, product["id"])

    # When the sweep runs
    swept = await image_uploads.sweep_expired_uploads(db, store)

    # Then the stale upload and its object are gone, the fresh one stays
    assert swept == 1
    assert await stored(store, stale["key"]) is None
    assert await open_upload_count(db) == 1
    late = await client.post(
        images_url(product["id"]), json={"key": stale["key"]}, headers=seller.manager.headers
    )
    assert late.json()["code"] == "image_key_not_issued"
    assert fresh["key"] != stale["key"]


async def test_a_product_has_a_limited_number_of_photos_and_open_uploads(
    client: AsyncTestClient[Any], db: Database, seller: Seller, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(images, "MAX_IMAGES_PER_PRODUCT", 2)
    monkeypatch.setattr(image_uploads, "MAX_PENDING_UPLOADS", 3)
    product = await create_product(client, seller.manager, seller.coop["id"])
    # Given a photo attached and one more uploaded but not yet attached
    await upload_and_attach(client, seller.manager, product["id"])
    waiting = await issue(client, seller.manager, product["id"])
    assert (await send_form(client, waiting["upload"], image_bytes())).status_code == 204
    # And another attached meanwhile, reaching the limit
    await upload_and_attach(client, seller.manager, product["id"])

    # When the waiting upload is attached, or another target asked for
    late = await client.post(
        images_url(product["id"]), json={"key": waiting["key"]}, headers=seller.manager.headers
    )
    more = await request_upload(client, seller.manager, product["id"])

    # Then both are refused: the product has its photos
    assert (late.status_code, late.json()["code"]) == (409, "too_many_images")
    assert (more.status_code, more.json()["code"]) == (409, "too_many_images")
    assert len(await image_rows(db, product["id"])) == 2


async def test_open_uploads_of_a_product_are_limited(
    client: AsyncTestClient[Any], db: Database, seller: Seller, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(image_uploads, "MAX_PENDING_UPLOADS", 3)
    product = await create_product(client, seller.manager, seller.coop["id"])
    for _ in range(3):
        await issue(client, seller.manager, product["id"])
    refused = await request_upload(client, seller.manager, product["id"])
    assert (refused.status_code, refused.json()["code"]) == (409, "too_many_pending_uploads")
    assert await open_upload_count(db) == 3


async def test_when_both_attaches_pass_the_checks_the_database_lets_one_win(
    client: AsyncTestClient[Any],
    db: Database,
    store: ObjectStorage,
    settings: Settings,
    seller: Seller,
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given an uploaded photo, and two attaches held until both have read and checked it
    product = await create_product(client, seller.manager, seller.coop["id"])
    issued = await issue(client, seller.manager, product["id"])
    assert (await send_form(client, issued["upload"], image_bytes())).status_code == 204
    original_read_checked = image_uploads._read_checked
    arrived: list[int] = []
    both_checked = asyncio.Event()

    async def read_checked_then_wait(*args: Any, **kwargs: Any) -> Any:
        result = await original_read_checked(*args, **kwargs)
        arrived.append(1)
        if len(arrived) == 2:
            both_checked.set()
        await asyncio.wait_for(both_checked.wait(), timeout=30)
        return result

    monkeypatch.setattr(image_uploads, "_read_checked", read_checked_then_wait)
    manager = Principal(
        id=seller.manager.id,
        role=COOP_MANAGER,
        display_name="理事长",
        cooperative_ids=frozenset({seller.coop["id"]}),
    )

    # When both go on to record it
    results = await asyncio.gather(
        *[
            image_uploads.attach_image(db, store, settings, manager, product["id"], ImageAttachIn(key=issued["key"]))
            for _ in range(2)
        ],
        return_exceptions=True,
    )

    # Then one is recorded, the other refused as already attached, and its copies are removed
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1
    assert isinstance(errors[0], ImageConflict)
    assert errors[0].code == "image_already_attached"
    rows = await image_rows(db, product["id"])
    assert len(rows) == 1
    assert await _all_keys(store, settings, backend) == {rows[0]["key"], rows[0]["thumb_key"]}


async def test_a_phone_photo_is_served_without_its_gps_position(
    client: AsyncTestClient[Any], seller: Seller
) -> None:
    # Given a phone photo whose EXIF holds where it was taken
    exif = Image.Exif()
    exif[0x010F] = "FarmPhone X"
    exif[0x8825] = {1: "N", 2: (36.0, 42.0, 30.0), 3: "E", 4: (119.0, 10.0, 0.0)}
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (90, 160, 60)).save(out, format="JPEG", quality=92, exif=exif)
    photo = out.getvalue()
    product = await create_product(client, seller.manager, seller.coop["id"])

    # When it is uploaded and attached
    image = await upload_and_attach(client, seller.manager, product["id"], photo)

    # Then the photo served has the same pixels but no EXIF left
    served = (await fetch(client, image["url"])).content
    assert b"FarmPhone" not in served
    with Image.open(io.BytesIO(served)) as after, Image.open(io.BytesIO(photo)) as before:
        assert dict(after.getexif()) == {}
        assert after.tobytes() == before.tobytes()
