"""``conditional.EncodedJSON``: pre-encoded public answers sent as they are, and through Litestar's
own response when something only Litestar knows how to add (a cookie, a background task) comes in."""

from __future__ import annotations

from typing import Any

from litestar.background_tasks import BackgroundTask
from litestar.datastructures import Cookie

from coopmarket.core.conditional import EncodedJSON

BODY = b'{"items":[],"next_cursor":null}'


async def _sent(answer: EncodedJSON, **kwargs: Any) -> tuple[int, dict[bytes, list[bytes]], bytes]:
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        messages.append(message)

    asgi = answer.to_asgi_response(None, None, **kwargs)  # type: ignore[arg-type]
    await asgi({"type": "http", "method": "GET", "headers": []}, receive, send)  # type: ignore[arg-type]
    start = messages[0]
    headers: dict[bytes, list[bytes]] = {}
    for name, value in start["headers"]:
        headers.setdefault(name.lower(), []).append(value)
    return start["status"], headers, b"".join(m.get("body", b"") for m in messages[1:])


async def test_the_answer_goes_out_as_encoded_with_the_layers_headers() -> None:
    answer = EncodedJSON(BODY, [(b"etag", b'"abc"'), (b"cache-control", b"public, no-cache")])
    status, headers, body = await _sent(answer, headers={"X-Layer": "yes"})
    assert (status, body) == (200, BODY)
    assert headers[b"etag"] == [b'"abc"']
    assert headers[b"cache-control"] == [b"public, no-cache"]
    assert headers[b"x-layer"] == [b"yes"]
    assert headers[b"content-type"] == [b"application/json"]
    assert headers[b"content-length"] == [str(len(BODY)).encode()]


async def test_a_304_carries_no_body_and_no_content_headers() -> None:
    status, headers, body = await _sent(EncodedJSON(b"", [(b"etag", b'"abc"')], status_code=304))
    assert (status, body) == (304, b"")
    assert headers[b"etag"] == [b'"abc"']
    assert b"content-type" not in headers and b"content-length" not in headers


async def test_a_cookie_or_a_background_task_goes_through_litestars_own_response() -> None:
    ran: list[str] = []
    answer = EncodedJSON(BODY, [(b"etag", b'"abc"')])
    status, headers, body = await _sent(
        answer,
        cookies=[Cookie(key="seen", value="1")],
        background=BackgroundTask(lambda: ran.append("done")),
    )
    assert (status, body) == (200, BODY)
    assert headers[b"etag"] == [b'"abc"']
    assert any(value.startswith(b"seen=1") for value in headers[b"set-cookie"])
    assert ran == ["done"]
