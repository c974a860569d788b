"""Logs are JSON lines (or text) with the request id, and never carry tokens, passwords or phones."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.ops.context import begin_request
from coopmarket.ops.logging import JsonFormatter, TextFormatter, logging_config, scrub
from coopmarket.settings import Settings
from tests.factories import register_buyer

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIwMUoifQ.c2lnbmF0dXJlLXRoYXQtaXMtbG9uZw"


@pytest.mark.parametrize(
    ("raw", "scrubbed"),
    [
        ("buyer 13912345678 paid", "buyer 139****5678 paid"),
        ("phone=+8613912345678", "phone=+86139****5678"),
        (f"token {TOKEN} seen", "token [token] seen"),
        ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer [redacted]"),
        ("password=hunter22 user=x", "password=[redacted] user=x"),
        ('{"password": "hunter22", "x": 1}', '{"password": "[redacted]", "x": 1}'),
        ("app secret: s3cr3t-value", "app secret: [redacted]"),
        ("appsecret=abcdef&js_code=1", "appsecret=[redacted]&js_code=1"),
        ("session_key=AbC+/x==", "session_key=[redacted]"),
        ("key sk_live_51AbCdEf and whsec_9xYz", "key [redacted] and [redacted]"),
        ("order 20261203 total 3990 fen", "order 20261203 total 3990 fen"),
        ("id 01JDX3F9Q8V6", "id 01JDX3F9Q8V6"),
    ],
)
def test_the_scrubber_removes_secrets_and_masks_phones(raw: str, scrubbed: str) -> None:
    assert scrub(raw) == scrubbed


def _record(message: str, *args: Any, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("coopmarket.test", logging.WARNING, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_a_json_line_carries_time_level_logger_message_request_id_and_extras() -> None:
    # Given a request in progress
    request_id = begin_request("req-0123456789")
    # When a record with an extra field is formatted
    line = JsonFormatter().format(_record("paid %s fen by %s", 3990, "13912345678", order_id="o1"))
    # Then it is one JSON object with the request id, the extra field and the phone masked
    entry = json.loads(line)
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "coopmarket.test"
    assert entry["message"] == "paid 3990 fen by 139****5678"
    assert entry["request_id"] == request_id == "req-0123456789"
    assert entry["order_id"] == "o1"
    assert entry["time"].endswith("+00:00")


def test_a_traceback_is_scrubbed_too() -> None:
    try:
        raise ValueError(f"login failed for 13800001111 with password=hunter22 token {TOKEN}")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert "ValueError" in entry["exception"]
    for secret in ("13800001111", "hunter22", TOKEN):
        assert secret not in line


def test_text_lines_carry_the_request_id_and_are_scrubbed() -> None:
    begin_request("req-abcdefgh")
    line = TextFormatter().format(_record("call from 13912345678"))
    assert "[req-abcdefgh] call from 139****5678" in line


def test_json_is_the_default_outside_development() -> None:
    assert Settings(environment="production", jwt_secret="x" * 40).logs_as_json
    assert not Settings(environment="development").logs_as_json
    assert Settings(environment="development", log_format="json").logs_as_json
    config = logging_config(Settings(environment="production", jwt_secret="x" * 40))
    assert config["formatters"]["default"]["()"] == "coopmarket.ops.logging.JsonFormatter"
    assert config["loggers"]["uvicorn.access"]["propagate"] is False


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Everything logged during the test, as the server would write it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


async def test_a_day_of_requests_leaves_no_secret_in_the_log(
    client: AsyncTestClient[Any], json_log: io.StringIO
) -> None:
    # Given a buyer who registers and signs in (phone, password, token all cross the wire)
    buyer = await register_buyer(client)
    await client.post("/api/v1/auth/login", json={"phone": buyer.phone, "password": "wrong password 1"})
    await client.get("/api/v1/me", headers=buyer.headers)
    await client.get("/api/v1/me", headers={"Authorization": f"Bearer {buyer.token}x"})
    # Then every log line is JSON, access lines name route templates, and no secret appears
    text = json_log.getvalue()
    entries = [json.loads(line) for line in text.splitlines()]
    access = [e for e in entries if e["logger"] == "coopmarket.access"]
    assert {(e["method"], e["route"], e["status"]) for e in access} >= {
        ("POST", "/api/v1/auth/register", 201),
        ("POST", "/api/v1/auth/login", 401),
        ("GET", "/api/v1/me", 200),
        ("GET", "/api/v1/me", 401),
    }
    assert all(e["request_id"] for e in access)
    for secret in (buyer.phone, buyer.password, "wrong password 1", buyer.token):
        assert secret not in text
