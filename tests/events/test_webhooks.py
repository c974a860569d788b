"""Signed outgoing webhooks: subscriptions (district staff), delivery at least once through an
outage, per-entity order, dead letters and their replay."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from coopmarket.core.principal import STREET_STAFF
from coopmarket.db import Database
from coopmarket.events import delivery, signing
from coopmarket.events.outbox import EventKind, record_event
from coopmarket.settings import Settings
from tests.events.subscriber import Subscriber
from tests.factories import STREET, Actor, make_staff, register_buyer
from tests.orders.builders import build_market, place

HOOKS = "/api/v1/webhook-subscriptions"
ALL_EVENTS = [k.value for k in EventKind]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "webhook_backoff_base_seconds": 0.02,
        "webhook_backoff_max_seconds": 0.1,
        "webhook_max_attempts": 4,
        "webhook_timeout_seconds": 2.0,
    }


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    sub = Subscriber()
    sub.start()
    yield sub
    sub.stop()


@pytest.fixture
async def staff(client: AsyncTestClient[Any], db: Database) -> Actor:
    return await make_staff(client, db)


async def subscribe(
    client: AsyncTestClient[Any], staff: Actor, url: str, events: list[str] | None = None
) -> dict[str, Any]:
    response = await client.post(
        HOOKS, json={"url": url, "events": events or ALL_EVENTS}, headers=staff.headers
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def emit(db: Database, entity_id: str, n: int) -> None:
    async with db.unit_of_work() as session:
        await record_event(session, EventKind.ORDER_PAID, "order", entity_id, {"order_id": entity_id, "n": n})


async def drain(db: Database, settings: Settings, *, until: int, seconds: float = 10.0) -> None:
    """Delivery passes (as the periodic job runs them) until ``until`` deliveries are delivered."""
    deadline = time.monotonic() + seconds
    while await delivered(db) < until:
        assert time.monotonic() < deadline, f"only {await delivered(db)} of {until} delivered"
        await delivery.deliver_due(db, settings)
        await asyncio.sleep(0.03)


async def delivered(db: Database, status: str = "delivered") -> int:
    async with db.read() as conn:
        return int(
            await conn.scalar(text("SELECT count(*) FROM webhook_delivery WHERE status = :s"), {"s": status})
            or 0
        )


async def test_a_delivery_is_signed_so_the_subscriber_can_verify_it(
    client: AsyncTestClient[Any], db: Database, settings: Settings, staff: Actor, subscriber: Subscriber
) -> None:
    created = await subscribe(client, staff, subscriber.url)
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 30
    listed = (await client.get(HOOKS, headers=staff.headers)).json()["items"]
    assert [s["id"] for s in listed] == [created["id"]] and "secret" not in listed[0]
    async with db.read() as conn:
        stored = await conn.scalar(text("SELECT secret_sealed FROM webhook_subscription"))
    assert created["secret"] not in stored  # sealed at rest

    await emit(db, "order-1", 1)
    await drain(db, settings, until=1)

    [got] = subscriber.received
    assert got.event["kind"] == "order.paid" and got.event["entity_id"] == "order-1"
    assert got.headers["coopmarket-event-id"] == got.event["id"]
    header = got.headers["coopmarket-signature"]
    assert signing.verify(created["secret"], header, got.body, now=time.time())
    assert not signing.verify(created["secret"], header, got.body + b" ", now=time.time())
    assert not signing.verify("whsec_wrong", header, got.body, now=time.time())
    assert not signing.verify(created["secret"], header, got.body, now=time.time() + 600)  # too old


async def test_an_outage_loses_nothing_and_each_entity_arrives_in_order(
    client: AsyncTestClient[Any], db: Database, settings: Settings, staff: Actor
) -> None:
    subscriber = Subscriber()  # not started: connection refused
    await subscribe(client, staff, subscriber.url)
    for n in range(3):
        await emit(db, "order-a", n)
        await emit(db, "order-b", n)

    await delivery.deliver_due(db, settings)  # refused
    subscriber.answer = 500
    subscriber.start()
    try:
        await asyncio.sleep(0.15)
        await delivery.deliver_due(db, settings)  # answered 500
        assert await delivered(db) == 0 and subscriber.received
        subscriber.answer = 200
        await drain(db, settings, until=6)
    finally:
        subscriber.stop()

    ok = [r.event for r in subscriber.received if r is not None]
    for entity in ("order-a", "order-b"):
        firsts: list[int] = []
        for event in ok:
            if event["entity_id"] == entity and event["data"]["n"] not in firsts:
                firsts.append(event["data"]["n"])
        assert firsts == [0, 1, 2], entity  # each at least once, first arrivals in order
    assert await delivered(db, "dead") == 0


async def test_a_delivery_failing_every_attempt_is_a_dead_letter_that_staff_replay(
    client: AsyncTestClient[Any], db: Database, settings: Settings, staff: Actor, subscriber: Subscriber
) -> None:
    subscriber.answer = 500
    created = await subscribe(client, staff, subscriber.url)
    await emit(db, "order-x", 1)
    deadline = time.monotonic() + 10
    while await delivered(db, "dead") < 1:
        assert time.monotonic() < deadline
        await delivery.deliver_due(db, settings)
        await asyncio.sleep(0.05)
    assert len(subscriber.received) == settings.webhook_max_attempts

    dead = await client.get(f"{HOOKS}/{created['id']}/dead-letters", headers=staff.headers)
    assert dead.status_code == 200, dead.text
    [letter] = dead.json()["items"]
    assert (letter["entity_id"], letter["attempts"], letter["last_status_code"]) == ("order-x", 4, 500)

    subscriber.answer = 200
    replayed = await client.post(f"{HOOKS}/{created['id']}/replay", headers=staff.headers)
    assert replayed.status_code == 200 and replayed.json() == {"replayed": 1}
    await drain(db, settings, until=1)
    assert subscriber.received[-1].event["entity_id"] == "order-x"
    assert (await client.get(f"{HOOKS}/{created['id']}/dead-letters", headers=staff.headers)).json()[
        "items"
    ] == []


async def test_only_subscribed_kinds_go_out_and_a_deleted_subscription_gets_nothing(
    client: AsyncTestClient[Any], db: Database, settings: Settings, staff: Actor, subscriber: Subscriber
) -> None:
    market = await build_market(client, db)
    placed_only = await subscribe(client, staff, subscriber.url, ["order.placed"])
    gone = await subscribe(client, staff, subscriber.url + "/gone")
    assert (await client.delete(f"{HOOKS}/{gone['id']}", headers=staff.headers)).status_code == 204

    order = (await place(client, market.buyer, [(market.sku_a["id"], 1)])).json()
    await emit(db, order["id"], 9)  # order.paid: not subscribed
    await drain(db, settings, until=1)
    await delivery.deliver_due(db, settings)

    assert [(r.event["kind"], r.event["entity_id"]) for r in subscriber.received] == [
        ("order.placed", order["id"])
    ]
    listed = (await client.get(HOOKS, headers=staff.headers)).json()["items"]
    assert [s["id"] for s in listed] == [placed_only["id"]]


async def test_a_url_that_is_not_http_is_refused(client: AsyncTestClient[Any], staff: Actor) -> None:
    for url in ("ftp://example.com/x", "http://user:pw@example.com/x", "not a url at all"):
        response = await client.post(
            HOOKS, json={"url": url, "events": ["order.paid"]}, headers=staff.headers
        )
        assert response.status_code == 422, url


async def test_only_district_staff_manage_subscriptions(
    client: AsyncTestClient[Any], db: Database, staff: Actor, subscriber: Subscriber
) -> None:
    created = await subscribe(client, staff, subscriber.url)
    buyer = await register_buyer(client)
    street = await make_staff(client, db, role=STREET_STAFF, region_code=STREET)
    body = {"url": subscriber.url, "events": ["order.paid"]}
    calls = [
        ("POST", HOOKS, body),
        ("GET", HOOKS, None),
        ("DELETE", f"{HOOKS}/{created['id']}", None),
        ("GET", f"{HOOKS}/{created['id']}/dead-letters", None),
        ("POST", f"{HOOKS}/{created['id']}/replay", None),
    ]
    for method, url, json_body in calls:
        anonymous = await client.request(method, url, json=json_body)
        assert anonymous.status_code == 401, (method, url)
        for actor in (buyer, street):
            refused = await client.request(method, url, json=json_body, headers=actor.headers)
            assert refused.status_code == 403, (method, url, actor.role)
            assert refused.json()["code"] == "forbidden_role"
    for method, url in (
        ("DELETE", f"{HOOKS}/nope"),
        ("POST", f"{HOOKS}/nope/replay"),
        ("GET", f"{HOOKS}/nope/dead-letters"),
    ):
        missing = await client.request(method, url, headers=staff.headers)
        assert missing.status_code == 404 and missing.json()["code"] == "webhook_subscription_not_found"
    # The subscription is still there.
    assert len((await client.get(HOOKS, headers=staff.headers)).json()["items"]) == 1
