"""Rate limiting of ``/api/v1/auth/*``: per client, proxy-aware, shared through Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
from litestar import Litestar, Request
from litestar.testing import AsyncTestClient

from coopmarket.app import Overrides, create_app
from coopmarket.core.ratelimit import client_address, identifier_for, parse_networks
from coopmarket.settings import Settings
from tests.redis_store import REDIS_URL

LIMIT = 3
PROXY = "10.0.0.2"
LOGIN = "/api/v1/auth/login"
# A body refused before any password hashing (422), so the tests stay quick; it still counts.
WRONG: dict[str, Any] = {}

TRUSTED = parse_networks([PROXY, "192.168.10.0/24", "fd00::/8"])


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"rate_limit_auth_per_minute": LIMIT, "trusted_proxies": [PROXY]}


# --- who the client is ---------------------------------------------------------------------


def test_without_trusted_proxies_forwarded_for_is_ignored() -> None:
    assert client_address("198.51.100.4", ["203.0.113.7"], ()) == "198.51.100.4"


def test_an_untrusted_peer_cannot_choose_its_address() -> None:
    assert client_address("198.51.100.4", ["203.0.113.7"], TRUSTED) == "198.51.100.4"


def test_behind_a_trusted_proxy_the_forwarded_client_counts() -> None:
    assert client_address(PROXY, ["203.0.113.7"], TRUSTED) == "203.0.113.7"


def test_addresses_the_client_wrote_itself_are_not_believed() -> None:
    # The client sent "X-Forwarded-For: 1.2.3.4"; the proxy appended the address it saw.
    assert client_address(PROXY, ["1.2.3.4, 203.0.113.7"], TRUSTED) == "203.0.113.7"


def test_a_chain_of_trusted_proxies_is_skipped() -> None:
    assert client_address(PROXY, ["203.0.113.7, 192.168.10.5"], TRUSTED) == "203.0.113.7"


def test_several_forwarded_for_headers_read_as_one_list() -> None:
    assert client_address(PROXY, ["1.2.3.4", "203.0.113.7, 192.168.10.5"], TRUSTED) == "203.0.113.7"


def test_ipv6_proxies_and_clients_work() -> None:
    assert client_address("fd00::1", ["2001:db8::42"], TRUSTED) == "2001:db8::42"


def test_a_trusted_peer_without_forwarded_for_counts_as_itself() -> None:
    assert client_address(PROXY, [], TRUSTED) == PROXY


def test_a_bad_trusted_proxy_entry_fails_at_start_up() -> None:
    with pytest.raises(ValueError):
        parse_networks(["not-an-ip"])


def test_the_identifier_reads_the_request_peer_and_headers() -> None:
    scope: Any = {
        "type": "http",
        "method": "POST",
        "path": LOGIN,
        "headers": [(b"x-forwarded-for", b"1.2.3.4, 203.0.113.7")],
        "client": (PROXY, 51234),
    }
    assert identifier_for(TRUSTED)(Request(scope)) == "203.0.113.7"


# --- over HTTP -----------------------------------------------------------------------------


async def test_over_the_limit_is_429_rate_limited_with_retry_after(client: AsyncTestClient[Any]) -> None:
    # Given a client that used up its sign-in attempts
    for _ in range(LIMIT):
        assert (await client.post(LOGIN, json=WRONG)).status_code == 422
    # When it tries again
    response = await client.post(LOGIN, json=WRONG)
    # Then it is told to wait, as a problem
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["code"]) == (429, "rate_limited")
    assert 1 <= int(response.headers["retry-after"]) <= 60


async def test_all_auth_endpoints_share_one_budget(client: AsyncTestClient[Any]) -> None:
    for _ in range(LIMIT):
        assert (await client.post(LOGIN, json=WRONG)).status_code == 422
    response = await client.post("/api/v1/auth/wechat", json={"code": "any"})
    assert response.status_code == 429


async def test_other_paths_are_not_limited(client: AsyncTestClient[Any]) -> None:
    # Given a client over its sign-in limit
    for _ in range(LIMIT + 1):
        await client.post(LOGIN, json=WRONG)
    # When it uses the rest of the API, more often than the limit
    answers = [(await client.get("/api/v1/regions/370704")).status_code for _ in range(LIMIT + 2)]
    me = await client.get("/api/v1/me")
    # Then nothing there is limited
    assert answers == [200] * (LIMIT + 2)
    assert me.status_code == 401
    assert "ratelimit-limit" not in me.headers


@asynccontextmanager
async def peer(app: Litestar, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """Requests to ``app`` (already started) arriving from ``address``."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def test_behind_the_trusted_proxy_each_client_has_its_own_budget(
    client: AsyncTestClient[Any],
) -> None:
    # Given requests arriving through the trusted proxy for client A, who used up its budget
    async with peer(client.app, PROXY) as proxy:
        a = {"X-Forwarded-For": "203.0.113.7"}
        for _ in range(LIMIT):
            assert (await proxy.post(LOGIN, json=WRONG, headers=a)).status_code == 422
        assert (await proxy.post(LOGIN, json=WRONG, headers=a)).status_code == 429
        # When client B signs in through the same proxy
        response = await proxy.post(LOGIN, json=WRONG, headers={"X-Forwarded-For": "203.0.113.8"})
    # Then B is not limited by A's attempts
    assert response.status_code == 422


async def test_a_direct_client_cannot_dodge_the_limit_with_forwarded_for(
    client: AsyncTestClient[Any],
) -> None:
    # Given a client that is not a trusted proxy, inventing a new X-Forwarded-For each time
    async with peer(client.app, "198.51.100.4") as direct:
        answers = [
            (await direct.post(LOGIN, json=WRONG, headers={"X-Forwarded-For": f"203.0.113.{n}"})).status_code
            for n in range(LIMIT + 1)
        ]
    # Then its own address is what counts
    assert answers == [422] * LIMIT + [429]


# --- shared through Redis ------------------------------------------------------------------



async def test_two_app_instances_share_counts_through_redis(
    settings: Settings, overrides: Overrides, redis_namespace: str
) -> None:
    # Given two workers configured with the same Redis
    shared = settings.model_copy(update={"redis_url": REDIS_URL, "rate_limit_namespace": redis_namespace})
    first, second = create_app(shared, overrides), create_app(shared, overrides)
    async with (
        AsyncTestClient(app=first, raise_server_exceptions=False) as one,
        AsyncTestClient(app=second, raise_server_exceptions=False) as two,
    ):
        # When one client's attempts are spread over both
        answers = [(await one.post(LOGIN, json=WRONG)).status_code for _ in range(LIMIT - 1)]
        answers.append((await two.post(LOGIN, json=WRONG)).status_code)
        over_on_first = await one.post(LOGIN, json=WRONG)
        over_on_second = await two.post(LOGIN, json=WRONG)
    # Then both count against one budget
    assert answers == [422] * LIMIT
    assert over_on_first.status_code == over_on_second.status_code == 429
    assert over_on_second.json()["code"] == "rate_limited"


async def test_the_counts_live_under_the_configured_namespace(
    settings: Settings, overrides: Overrides, redis_namespace: str
) -> None:
    shared = settings.model_copy(update={"redis_url": REDIS_URL, "rate_limit_namespace": redis_namespace})
    async with AsyncTestClient(app=create_app(shared, overrides), raise_server_exceptions=False) as one:
        await one.post(LOGIN, json=WRONG)
    connection = redis.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in connection.scan_iter(match=f"{redis_namespace}:*")]
    finally:
        await connection.aclose()
    assert len(keys) == 1


async def test_concurrent_attempts_over_all_auth_routes_never_exceed_the_limit(
    client: AsyncTestClient[Any],
) -> None:
    # Given 30 sign-in attempts at once, spread over the three auth routes
    paths = [LOGIN, "/api/v1/auth/register", "/api/v1/auth/wechat"]
    responses = await asyncio.gather(*(client.post(paths[n % 3], json={}) for n in range(30)))
    # Then exactly the limit gets through (each answered 422 for its empty body); the rest are 429
    statuses = [r.status_code for r in responses]
    assert statuses.count(429) == 30 - LIMIT
    assert all(status == 422 for status in statuses if status != 429)


async def test_concurrent_attempts_on_two_workers_share_one_exact_budget(
    settings: Settings, overrides: Overrides, redis_namespace: str
) -> None:
    shared = settings.model_copy(update={"redis_url": REDIS_URL, "rate_limit_namespace": redis_namespace})
    async with (
        AsyncTestClient(app=create_app(shared, overrides), raise_server_exceptions=False) as one,
        AsyncTestClient(app=create_app(shared, overrides), raise_server_exceptions=False) as two,
    ):
        responses = await asyncio.gather(
            *((one if n % 2 else two).post(LOGIN, json=WRONG) for n in range(20))
        )
    statuses = [r.status_code for r in responses]
    assert statuses.count(429) == 20 - LIMIT
