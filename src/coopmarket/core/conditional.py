"""Validators and cache headers for public answers that can change at any commit (the catalogue).

The ``ETag`` is a strong hash of the encoded body, so it changes exactly when the answer does
(price, stock, suspension, a licence or certificate that starts or ends today). ``Cache-Control:
no-cache`` lets browsers and proxies keep the body but makes them ask again every time; the
conditional GET (``If-None-Match``) answers 304 with no body when nothing changed. So a buyer
never sees a stale price after a change is committed, and a repeat look costs no body.
"""

from __future__ import annotations

import hashlib
from typing import Any

from litestar import MediaType, Request, Response
from litestar.serialization import encode_json
from litestar.types import ASGIApp, Receive, Scope, Send

# Stored by any cache, but revalidated before each use.
PUBLIC_REVALIDATE = "public, no-cache"


def encode(value: Any) -> bytes:
    """The JSON body Litestar itself would send for ``value`` (the app has no custom type encoders)."""
    return encode_json(value)


def strong_etag(body: bytes) -> str:
    return f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'


def none_match(header: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2: ``*`` or any listed tag equal to ``etag`` (weak comparison)."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    for tag in header.split(","):
        tag = tag.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == etag:
            return True
    return False


def _if_none_match(request: Request[Any, Any, Any]) -> str | None:
    """Every ``If-None-Match`` line of the request, joined (a list may span several lines), read
    from the raw ASGI headers: ``request.headers`` decodes every header of the request first, about
    3% of a public list's CPU."""
    lines = [value for name, value in request.scope["headers"] if name == b"if-none-match"]
    if not lines:
        return None
    return ", ".join(line.decode("latin-1") for line in lines)


def json_answer(
    request: Request[Any, Any, Any], body: bytes, *, cache_control: str | None = PUBLIC_REVALIDATE
) -> Response[Any]:
    """``body`` with its ``ETag`` (and ``Cache-Control`` unless None), or 304 when the client has it."""
    etag = strong_etag(body)
    headers = [(b"etag", etag.encode("ascii"))]
    if cache_control:
        headers.append((b"cache-control", cache_control.encode("ascii")))
    if none_match(_if_none_match(request), etag):
        return EncodedJSON(b"", headers, status_code=304)
    return EncodedJSON(body, headers)


class EncodedJSON(Response[Any]):
    """A JSON body already encoded, with its headers already as bytes: sent as it is.

    Litestar's ``Response`` normalises its headers into a ``MutableScopeHeaders`` twice (the
    response, then the ASGI response: a lower-cased scan per ``setdefault``) and renders its
    content again; for the public catalogue's answers, which are bytes by the time they exist, that
    was a measurable part of a list request. Headers given by the route's layers are added; cookies
    and background tasks (none on these routes) go through Litestar's own response."""

    def __init__(self, body: bytes, headers: list[tuple[bytes, bytes]], *, status_code: int = 200) -> None:
        # Response.__init__'s attributes, set directly: its normalisation of cookies and headers
        # (two isinstance checks against typing.Mapping) has nothing to do here.
        self.content = body
        self.background = None
        self.cookies = []
        self.encoding = "utf-8"
        self.headers = {}
        self.media_type = MediaType.JSON
        self.status_code = status_code
        self.response_type_encoders = {}
        self._raw_headers = headers

    def to_asgi_response(  # type: ignore[override]
        self,
        app: Any,
        request: Request[Any, Any, Any],
        *,
        background: Any = None,
        cookies: Any = None,
        encoded_headers: Any = None,
        headers: dict[str, str] | None = None,
        is_head_response: bool = False,
        media_type: Any = None,
        status_code: int | None = None,
        type_encoders: Any = None,
    ) -> ASGIApp:
        if background is not None or self.background is not None or self.cookies or cookies or encoded_headers:
            for raw_name, raw_value in self._raw_headers:
                self.headers[raw_name.decode("latin-1")] = raw_value.decode("latin-1")
            return super().to_asgi_response(
                app,
                request,
                background=background,
                cookies=cookies,
                headers=headers,
                is_head_response=is_head_response,
                media_type=media_type,
                status_code=status_code,
                type_encoders=type_encoders,
            )
        raw = list(self._raw_headers)
        for name, value in (headers or {}).items():
            raw.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        for name, value in self.headers.items():
            raw.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        status = self.status_code or 200
        body: bytes = self.content
        if status in (204, 304):
            body = b""
        else:
            raw.append((b"content-type", b"application/json"))
            raw.append((b"content-length", str(len(body)).encode("ascii")))
        return _Send(status, raw, b"" if is_head_response else body)


class _Send:
    """The two ASGI messages of an answer whose status, headers and body are final."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})
