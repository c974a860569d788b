"""Every kind of failure comes back as an RFC 9457 problem with a stable ``code``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import get
from litestar.testing import AsyncTestClient

from coopmarket.app import Overrides, create_app
from coopmarket.settings import Settings

PROBLEM = "application/problem+json"
MAX_BODY = 512
LEAKED = "internals: dsn=postgresql://admin:hunter2@db"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"request_max_body_bytes": MAX_BODY}


@get("/test-only/boom", sync_to_thread=False, include_in_schema=False)
def boom() -> None:
    """A route that fails the way a bug would."""
    raise RuntimeError(LEAKED)


@pytest.fixture
async def boom_client(settings: Settings, overrides: Overrides) -> AsyncIterator[AsyncTestClient[Any]]:
    """The real app plus one test-only route that raises an unexpected exception."""
    app = create_app(settings, overrides)
    app.register(boom)
    async with AsyncTestClient(app=app, raise_server_exceptions=False) as test_client:
        yield test_client


async def test_a_domain_error_is_a_problem_with_its_code(client: AsyncTestClient[Any]) -> None:
    response = await client.get("/api/v1/regions/370704999999")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json() == {
        "type": "about:blank",
        "title": "Not found",
        "status": 404,
        "detail": "No region with code 370704999999.",
        "code": "region_not_found",
    }


async def test_a_validation_error_lists_the_fields(client: AsyncTestClient[Any]) -> None:
    response = await client.post(
        "/api/v1/auth/register", json={"phone": "13812345678", "password": "short", "display_name": "x"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert (body["status"], body["code"]) == (422, "validation_error")
    assert [error["field"] for error in body["errors"]] == ["password"]
    assert body["errors"][0]["message"]


async def test_a_missing_body_field_is_named(client: AsyncTestClient[Any]) -> None:
    response = await client.post("/api/v1/auth/login", json={"phone": "13812345678"})
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert "password" in response.json()["errors"][0]["message"]


async def test_malformed_json_is_400_bad_request(client: AsyncTestClient[Any]) -> None:
    response = await client.post(
        "/api/v1/auth/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "bad_request"


async def test_an_unexpected_exception_is_500_with_a_request_id_and_no_internals(
    boom_client: AsyncTestClient[Any], caplog: pytest.LogCaptureFixture
) -> None:
    # Given a route that fails unexpectedly
    caplog.set_level(logging.ERROR, logger="coopmarket")
    # When it is called
    response = await boom_client.get("/test-only/boom")
    # Then the caller gets a problem with a request id and nothing of the failure itself
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    request_id = body.pop("request_id")
    assert len(request_id) == 26
    assert body == {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "Something went wrong on our side.",
        "code": "internal_error",
    }
    for internal in ("hunter2", "RuntimeError", "Traceback", "boom"):
        assert internal not in response.text
    # And the log has the traceback under the same request id, for the operator
    [record] = [r for r in caplog.records if r.name == "coopmarket" and r.levelno == logging.ERROR]
    assert request_id in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError


async def test_a_wrong_method_is_405_with_allow(client: AsyncTestClient[Any]) -> None:
    response = await client.delete("/api/v1/regions")
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM
    assert {method.strip() for method in response.headers["allow"].split(",")} == {"GET", "OPTIONS"}
    assert response.json()["code"] == "method_not_allowed"


async def test_an_over_size_body_is_413(client: AsyncTestClient[Any]) -> None:
    # Given the limit is MAX_BODY bytes
    body = {"phone": "13812345678", "password": "x" * MAX_BODY, "display_name": "王小花"}
    # When a larger body is sent
    response = await client.post("/api/v1/auth/register", json=body)
    # Then it is refused before it is read
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "payload_too_large"


async def test_an_unknown_path_is_404_not_found(client: AsyncTestClient[Any]) -> None:
    response = await client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "not_found"
