"""Messages on a public disclosure are limited per client address and per disclosure: in memory,
and in Redis when it is configured (shared by every worker)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from coopmarket.app import Overrides, create_app
from coopmarket.core import clock
from coopmarket.db import Database
from coopmarket.settings import Settings
from tests.factories import VILLAGE, make_staff
from tests.redis_store import REDIS_URL
from tests.reports.test_disclosures import NOW

PROXY = "10.0.0.2"
PER_CLIENT = 3
PER_DISCLOSURE = 4


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "rate_limit_disclosure_messages_per_client": PER_CLIENT,
        "rate_limit_disclosure_messages_per_disclosure": PER_DISCLOSURE,
        "trusted_proxies": [PROXY],
    }


@asynccontextmanager
async def through_proxy(settings: Settings, overrides: Overrides) -> AsyncIterator[httpx.AsyncClient]:
    """Requests arriving through the trusted proxy, on this test's event loop."""
    app = create_app(settings, overrides)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app, client=(PROXY, 40000))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def _scenario(http: httpx.AsyncClient, db: Database) -> None:
    clock.set_now(NOW)
    staff = await make_staff(http, db, role="village_staff", region_code=VILLAGE)  # type: ignore[arg-type]
    ids = []
    for period in ("2026-09", "2026-10"):
        response = await http.post(
            "/api/v1/disclosures", json={"village_code": VILLAGE, "period": period}, headers=staff.headers
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    first, second = ids

    async def post(disclosure_id: str, address: str) -> httpx.Response:
        return await http.post(
            f"/api/v1/public/disclosures/{disclosure_id}/messages",
            json={"author_name": "村民", "text": "留言"},
            headers={"X-Forwarded-For": address},
        )

    # One address: its budget is spent after PER_CLIENT messages, whichever disclosure
    for _ in range(PER_CLIENT):
        assert (await post(first, "203.0.113.1")).status_code == 202
    refused = await post(second, "203.0.113.1")
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    # Another address may still post, until the disclosure's own budget is spent
    assert (await post(first, "203.0.113.2")).status_code == 202
    refused = await post(first, "203.0.113.3")
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    # ... which does not touch another disclosure's
    assert (await post(second, "203.0.113.3")).status_code == 202


async def test_messages_are_limited_per_address_and_per_disclosure(settings: Settings, overrides: Overrides, db: Database) -> None:
    async with through_proxy(settings, overrides) as http:
        await _scenario(http, db)


async def test_the_limits_are_shared_through_redis(
    settings: Settings, overrides: Overrides, db: Database, redis_namespace: str
) -> None:
    shared = settings.model_copy(update={"redis_url": REDIS_URL, "rate_limit_namespace": redis_namespace})
    async with through_proxy(shared, overrides) as http:
        await _scenario(http, db)
