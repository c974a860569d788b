"""A granted brand licence is announced in the outbox, in the grant's transaction."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from coopmarket.events.outbox import EventKind
from tests.brand.builders import granted_licence
from tests.events.builders import events
from tests.factories import Actor
from tests.products.builders import Seller


async def test_granting_a_licence_writes_an_event(
    client: AsyncTestClient[Any], db: Database, staff: Actor, seller: Seller
) -> None:
    product, licence = await granted_licence(client, seller, staff)
    [granted] = await events(db, EventKind.LICENCE_GRANTED)
    assert (granted["entity"], granted["entity_id"]) == ("brand_licence", licence["id"])
    assert granted["payload"]["number"] == licence["number"]
    assert granted["payload"]["product_ids"] == [product["id"]]
