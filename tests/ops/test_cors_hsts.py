"""HSTS and the CORS allow-list, as configured."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"hsts_max_age_seconds": 31_536_000, "cors_allow_origins": ["https://shop.yanfeng.example"]}


async def test_hsts_when_configured(client: AsyncTestClient[Any]) -> None:
    response = await client.get("/health")
    assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


async def test_the_web_shop_origin_may_call_the_api_and_others_may_not(client: AsyncTestClient[Any]) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, idempotency-key, content-type",
    }
    allowed = await client.options(
        "/api/v1/orders", headers={"Origin": "https://shop.yanfeng.example", **preflight}
    )
    assert allowed.status_code in (200, 204)
    assert allowed.headers["access-control-allow-origin"] == "https://shop.yanfeng.example"
    assert "idempotency-key" in allowed.headers["access-control-allow-headers"].lower()
    refused = await client.options("/api/v1/orders", headers={"Origin": "https://evil.example", **preflight})
    assert refused.headers.get("access-control-allow-origin") != "https://evil.example"
    simple = await client.get("/api/v1/products", headers={"Origin": "https://shop.yanfeng.example"})
    assert simple.headers["access-control-allow-origin"] == "https://shop.yanfeng.example"
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
    other = await client.get("/api/v1/products", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
