"""Object storage answering 503 while a photo is attached: the manager is told to retry (503
``storage_unavailable``), nothing is recorded, the upload stays open, and the retry attaches it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from tests.factories import create_product, make_staff
from tests.faults.flaky_proxy import FlakyProxy
from tests.products.builders import Seller, new_seller
from tests.products.image_builders import (
    image_bytes,
    image_rows,
    images_url,
    issue,
    open_upload_count,
    send_form,
)
from tests.s3 import moto_endpoint, s3_bucket, s3_settings_for

__all__ = ["moto_endpoint", "s3_bucket"]


@pytest.fixture
def s3_proxy(moto_endpoint: str) -> Iterator[FlakyProxy]:
    proxy = FlakyProxy(moto_endpoint).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def settings_overrides(s3_proxy: FlakyProxy, s3_bucket: str) -> dict[str, Any]:
    """The app's S3 endpoint is the proxy, which forwards to moto until told to fail."""
    return s3_settings_for(s3_proxy.url, s3_bucket)


async def test_storage_answering_503_at_attach_records_nothing_and_the_retry_works(
    client: AsyncTestClient[Any], db: Database, s3_proxy: FlakyProxy
) -> None:
    # Given a photo uploaded to its target
    staff = await make_staff(client, db)
    seller: Seller = await new_seller(client, staff)
    product = await create_product(client, seller.manager, seller.coop["id"])
    issued = await issue(client, seller.manager, product["id"])
    sent = await send_form(client, issued["upload"], image_bytes("PNG", (800, 600)))
    assert sent.status_code == 204, sent.text

    # When the store answers 503 to everything while the manager attaches it
    s3_proxy.failing = True
    refused = await client.post(
        images_url(product["id"]), json={"key": issued["key"]}, headers=seller.manager.headers
    )

    # Then the manager is told to retry later, no photo is recorded, and the upload is still open
    assert s3_proxy.failed > 0
    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "storage_unavailable"
    assert await image_rows(db, product["id"]) == []
    assert await open_upload_count(db) == 1

    # And once the store is back, the same key attaches
    s3_proxy.failing = False
    attached = await client.post(
        images_url(product["id"]), json={"key": issued["key"]}, headers=seller.manager.headers
    )
    assert attached.status_code == 201, attached.text
    assert [row["key"] for row in await image_rows(db, product["id"])] != []
    assert await open_upload_count(db) == 0
