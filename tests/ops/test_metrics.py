"""GET /metrics: off without a token, refused with a wrong one, and the figures an operator reads."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.app import create_app
from coopmarket.core import clock
from coopmarket.db import Database
from coopmarket.settings import Settings
from tests.orders.builders import build_market, place

TOKEN = "metrics-token-for-the-suite-0001"
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}


def _value(text: str, name: str, **labels: str) -> float | None:
    """The value of one series in Prometheus text, or None when absent."""
    for line in text.splitlines():
        match = re.fullmatch(rf"{re.escape(name)}(?:\{{(.*)\}})? (\S+)", line)
        if match is None:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(2))
    return None


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"metrics_token": TOKEN}


async def test_a_scrape_without_the_token_is_refused(client: AsyncTestClient[Any]) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = await client.get("/metrics", headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
        assert "coopmarket_http" not in response.text


async def test_requests_are_counted_per_route_template_and_status(client: AsyncTestClient[Any]) -> None:
    before = (await client.get("/metrics", headers=SCRAPE)).text
    route = "/api/v1/products/{product_id}"
    seen = _value(before, "coopmarket_http_requests_total", method="GET", route=route, status="404") or 0
    # When two products that do not exist are asked for
    await client.get("/api/v1/products/01NOSUCHPRODUCT00000000000")
    await client.get("/api/v1/products/01NOSUCHPRODUCT00000000001")
    after = await client.get("/metrics", headers=SCRAPE)
    # Then they count under the template, not the raw paths, with their latency
    assert after.status_code == 200
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text
    assert _value(text, "coopmarket_http_requests_total", method="GET", route=route, status="404") == seen + 2
    assert "01NOSUCHPRODUCT" not in text
    count = _value(text, "coopmarket_http_request_duration_seconds_count", method="GET", route=route)
    assert count is not None and count >= 2
    assert _value(text, "coopmarket_db_pool_size") is not None
    assert _value(text, "coopmarket_db_pool_connections", state="checked_out") is not None
    assert _value(text, "coopmarket_db_pool_connections", state="kept") is not None


async def test_job_backlogs_and_payments_by_status(client: AsyncTestClient[Any], db: Database) -> None:
    # Given two unpaid orders, one of them paid offline
    market = await build_market(client, db)
    first = (await place(client, market.buyer, [(market.sku_a["id"], 1)])).json()
    await place(client, market.buyer, [(market.sku_b["id"], 1)])
    paid = await client.post(
        f"/api/v1/orders/{first['id']}/offline-payments",
        json={"reference": "银行转账 0001", "amount_fen": first["total_fen"]},
        headers=market.staff.headers,
    )
    assert paid.status_code == 201, paid.text
    text = (await client.get("/metrics", headers=SCRAPE)).text
    assert _value(text, "coopmarket_payments", provider="offline", status="succeeded") == 1
    assert _value(text, "coopmarket_jobs_waiting", job="expire_unpaid_orders") == 0
    # When the clock passes the other order's expiry (background jobs are off in tests)
    clock.advance(timedelta(hours=2))
    text = (await client.get("/metrics", headers=SCRAPE)).text
    # Then it waits for the expiry job
    assert _value(text, "coopmarket_jobs_waiting", job="expire_unpaid_orders") == 1
    assert _value(text, "coopmarket_jobs_waiting", job="receive_long_shipped_parts") == 0
    assert _value(text, "coopmarket_jobs_waiting", job="send_provider_refunds") == 0


async def test_server_errors_are_counted(settings: Settings) -> None:
    from litestar import get

    @get("/explode", sync_to_thread=False)
    def explode() -> None:
        raise RuntimeError("no")

    app = create_app(settings)
    app.register(explode)
    async with AsyncTestClient(app=app, raise_server_exceptions=False) as client:
        before = (
            _value(
                (await client.get("/metrics", headers=SCRAPE)).text,
                "coopmarket_http_server_errors_total",
                method="GET",
                route="/explode",
            )
            or 0
        )
        assert (await client.get("/explode")).status_code == 500
        text = (await client.get("/metrics", headers=SCRAPE)).text
    assert _value(text, "coopmarket_http_server_errors_total", method="GET", route="/explode") == before + 1
    assert (
        _value(text, "coopmarket_http_requests_total", method="GET", route="/explode", status="500")
        is not None
    )
