"""The sign-in limit also counts per phone number: wrong passwords for one number from many client
addresses (through a trusted proxy) are refused with 429 once the number's budget is spent, in one
process and across workers sharing Redis. Registration attempts count against the same budget."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
from litestar.testing import AsyncTestClient

from coopmarket.app import Overrides, create_app
from coopmarket.core.errors import TooManyRequests, UpstreamUnavailable
from coopmarket.core.ratelimit import MemoryCounter, PhoneAttempts
from coopmarket.settings import Settings
from tests.factories import unique_phone
from tests.redis_store import REDIS_URL

PER_PHONE = 3
PROXY = "10.0.0.2"
LOGIN = "/api/v1/auth/login"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # The per-address limit is high: only the per-phone count can refuse these requests.
    return {"rate_limit_auth_per_minute": 1000, "rate_limit_per_phone": PER_PHONE, "trusted_proxies": [PROXY]}


@asynccontextmanager
async def through_proxy(settings: Settings, overrides: Overrides) -> AsyncIterator[httpx.AsyncClient]:
    """Requests arriving through the trusted proxy. The app runs on this test's own event loop
    (its lifespan entered here), so its database connections and the requests share one loop."""
    app = create_app(settings, overrides)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app, client=(PROXY, 40000))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


def _from(n: int) -> dict[str, str]:
    return {"X-Forwarded-For": f"203.0.113.{n}"}


def _login(phone: str, password: str) -> dict[str, str]:
    return {"phone": phone, "password": password}


async def test_wrong_passwords_for_one_phone_from_many_addresses_get_429(settings: Settings, overrides: Overrides) -> None:
    async with through_proxy(settings, overrides) as proxy:
        phone, password = unique_phone(), "correct horse battery"
        registered = await proxy.post(
            "/api/v1/auth/register",
            json={"phone": phone, "password": password, "display_name": "买家"},
            headers=_from(200),
        )  # one attempt of the budget
        assert registered.status_code == 201
        statuses = [
            (await proxy.post(LOGIN, json=_login(phone, f"wrong {n}"), headers=_from(n))).status_code
            for n in range(PER_PHONE - 1)
        ]
        over = await proxy.post(LOGIN, json=_login(phone, "wrong again"), headers=_from(99))
        # Even the right password is refused while the number's budget is spent.
        right = await proxy.post(LOGIN, json=_login(phone, password), headers=_from(98))
        # Another number from the same addresses is not affected.
        other = await proxy.post(LOGIN, json=_login(unique_phone(), "whatever 1"), headers=_from(1))
        assert statuses == [401] * (PER_PHONE - 1)
        assert over.status_code == 429
        assert over.json()["code"] == "rate_limited"
        assert 1 <= int(over.headers["retry-after"]) <= 900
        assert right.status_code == 429
        assert other.status_code == 401


async def test_an_unknown_number_is_limited_exactly_like_a_registered_one(settings: Settings, overrides: Overrides) -> None:
    async with through_proxy(settings, overrides) as proxy:
        phone = unique_phone()
        statuses = [
            (await proxy.post(LOGIN, json=_login(phone, "wrong pw"), headers=_from(n))).status_code
            for n in range(PER_PHONE + 1)
        ]
        assert statuses == [401] * PER_PHONE + [429]


async def test_registration_attempts_count_per_phone(settings: Settings, overrides: Overrides) -> None:
    async with through_proxy(settings, overrides) as proxy:
        body = {"phone": unique_phone(), "password": "correct horse battery", "display_name": "买家"}
        statuses = [
            (await proxy.post("/api/v1/auth/register", json=body, headers=_from(n))).status_code
            for n in range(PER_PHONE + 1)
        ]
        assert statuses == [201] + [409] * (PER_PHONE - 1) + [429]



async def test_two_workers_share_the_phone_budget_through_redis(
    settings: Settings, overrides: Overrides, redis_namespace: str
) -> None:
    shared = settings.model_copy(update={"redis_url": REDIS_URL, "rate_limit_namespace": redis_namespace})
    phone = unique_phone()
    first, second = create_app(shared, overrides), create_app(shared, overrides)
    # (The per-address limit is far away: only the phone's count can refuse these.)
    async with (
        AsyncTestClient(app=first, raise_server_exceptions=False) as one,
        AsyncTestClient(app=second, raise_server_exceptions=False) as two,
    ):
        statuses = [
            (
                await (one if n % 2 else two).post(LOGIN, json={"phone": phone, "password": "wrong pw"})
            ).status_code
            for n in range(PER_PHONE + 1)
        ]
    assert statuses == [401] * PER_PHONE + [429]
    connection = redis.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in connection.scan_iter(match=f"{redis_namespace}:phone:*")]
    finally:
        await connection.aclose()
    # One key for the number, and it is not the number itself.
    assert len(keys) == 1
    assert phone.encode() not in keys[0]


class _StoreDown:
    async def hit(self, key: str) -> tuple[int, int]:
        raise ConnectionError("down")

    async def aclose(self) -> None:
        return None


async def test_a_store_that_is_down_fails_open_or_closed_as_configured() -> None:
    await PhoneAttempts(_StoreDown(), limit=1, key_secret=b"k").hit("13912345678")  # open: not counted
    with pytest.raises(UpstreamUnavailable) as refused:
        await PhoneAttempts(_StoreDown(), limit=1, key_secret=b"k", fail_closed=True).hit("13912345678")
    assert refused.value.code == "rate_limit_unavailable"


async def test_the_memory_count_is_keyed_by_an_hmac_of_the_number() -> None:
    counter = MemoryCounter(60)
    attempts = PhoneAttempts(counter, limit=1, key_secret=b"k")
    await attempts.hit("13912345678")
    with pytest.raises(TooManyRequests):
        await attempts.hit("13912345678")
    assert all("13912345678" not in key and "5678" not in key for key in counter._counts)
