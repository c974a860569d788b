"""Request ids, security headers, CORS and the sign-in limiter's behaviour when Redis is down."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from litestar import get
from litestar.testing import AsyncTestClient

from coopmarket.app import create_app
from coopmarket.settings import Settings
from tests.factories import register_buyer


async def test_every_answer_carries_a_request_id(client: AsyncTestClient[Any]) -> None:
    first = await client.get("/health")
    second = await client.get("/health")
    assert first.headers["x-request-id"] and second.headers["x-request-id"]
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_a_plain_incoming_request_id_is_kept_and_anything_else_replaced(
    client: AsyncTestClient[Any],
) -> None:
    kept = await client.get("/health", headers={"X-Request-ID": "lb-7f3a9c21e4"})
    assert kept.headers["x-request-id"] == "lb-7f3a9c21e4"
    replaced = await client.get("/health", headers={"X-Request-ID": "bad id\r\nX-Evil: 1"})
    assert replaced.headers["x-request-id"] != "bad id\r\nX-Evil: 1"
    assert "x-evil" not in replaced.headers
    too_long = await client.get("/health", headers={"X-Request-ID": "a" * 65})
    assert too_long.headers["x-request-id"] != "a" * 65


async def test_a_500_names_the_request_id_it_was_logged_under(settings: Settings) -> None:
    @get("/boom", sync_to_thread=False)
    def boom() -> None:
        raise RuntimeError("kaput")

    app = create_app(settings)
    app.register(boom)
    async with AsyncTestClient(app=app, raise_server_exceptions=False) as client:
        response = await client.get("/boom", headers={"X-Request-ID": "trace-000111222"})
    assert response.status_code == 500
    assert response.json()["request_id"] == "trace-000111222"
    assert response.headers["x-request-id"] == "trace-000111222"
    assert "kaput" not in response.text


async def test_security_headers_on_data_answers_and_on_unknown_paths(client: AsyncTestClient[Any]) -> None:
    for response in (await client.get("/api/v1/products"), await client.get("/no/such/path")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
        assert "strict-transport-security" not in response.headers


async def test_the_api_docs_page_keeps_its_scripts(client: AsyncTestClient[Any]) -> None:
    response = await client.get("/schema/swagger")
    assert response.status_code == 200
    assert "content-security-policy" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_signed_in_answers_are_not_stored_by_shared_caches(client: AsyncTestClient[Any]) -> None:
    buyer = await register_buyer(client)
    assert (await client.get("/api/v1/me", headers=buyer.headers)).headers["cache-control"] == "no-store"
    assert "cache-control" not in (await client.get("/health")).headers


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(("mode", "expected"), [("open", 401), ("closed", 503)])
async def test_with_redis_down_sign_in_fails_open_or_closed_as_configured(
    settings: Settings, mode: str, expected: int
) -> None:
    # Given the rate-limit store is unreachable
    down = settings.model_copy(
        update={
            "redis_url": f"redis://127.0.0.1:{_closed_port()}/0",
            "rate_limit_auth_per_minute": 5,
            "rate_limit_on_redis_error": mode,
        }
    )
    async with AsyncTestClient(app=create_app(down), raise_server_exceptions=False) as client:
        # When someone signs in
        response = await client.post(
            "/api/v1/auth/login", json={"phone": "13912345678", "password": "not the password"}
        )
    # Then open: the request is answered as usual (401 here); closed: 503 with Retry-After
    assert response.status_code == expected
    if mode == "closed":
        assert response.json()["code"] == "rate_limit_unavailable"
        assert response.headers["retry-after"] == "5"


async def test_metrics_are_off_without_a_configured_token(client: AsyncTestClient[Any]) -> None:
    response = await client.get("/metrics", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
