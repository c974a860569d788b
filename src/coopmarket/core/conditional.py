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
    headers = {"ETag": etag}
    if cache_control:
        headers["Cache-Control"] = cache_control
    if none_match(_if_none_match(request), etag):
        return Response(content=b"", status_code=304, headers=headers)
    return Response(content=body, media_type=MediaType.JSON, headers=headers)
