"""What every answer goes through, in ONE pure-ASGI layer: its request id, its access-log line, its
metrics, the security headers, and (for ``OPTIONS``) the path's full ``Allow``.

``EdgeMiddleware`` wraps the application's own ASGI handler (``create_app`` installs it around
Litestar's router, exception handling and CORS), so it sees every answer: routed ones, 404 for an
unknown path, 405, CORS preflights. It was four pieces (a route middleware for the id, log and
metrics, another for ``Allow``, the sign-in limiter on every route, and a ``before_send`` hook for
the headers); each cost a wrapper per request, and the headers were looked up through
``MutableScopeHeaders`` (which decodes every header name per lookup). Here the response's headers
are read once, as raw bytes. The sign-in limiter now wraps only the sign-in routes (``app.py``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from coopmarket.core.allow import allow_for
from coopmarket.ops import metrics
from coopmarket.ops.context import begin_request
from coopmarket.settings import Settings

access_log = logging.getLogger("coopmarket.access")

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = b"x-request-id"
_JSONISH = (b"application/json", b"application/problem+json", b"text/csv", b"text/plain")
_CSP = b"content-security-policy"
_CACHE_CONTROL = b"cache-control"
_CONTENT_TYPE = b"content-type"
_ALLOW = b"allow"
_DATA_CSP = b"default-src 'none'; frame-ancestors 'none'"
_NO_STORE = b"no-store"


def fixed_security_headers(settings: Settings) -> tuple[tuple[bytes, bytes], ...]:
    """The headers every answer carries (unless the answer set its own)."""
    fixed = [
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
    ]
    if settings.hsts_max_age_seconds:
        fixed.append(
            (
                b"strict-transport-security",
                f"max-age={settings.hsts_max_age_seconds}; includeSubDomains".encode("latin-1"),
            )
        )
    return tuple(fixed)


class EdgeMiddleware:
    """Request id (accepted from ``X-Request-ID`` when plain, else new), access log, metrics,
    security headers, and ``Allow`` on ``OPTIONS`` answers."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.log_access = settings.access_log
        self.fixed = fixed_security_headers(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        signed_in = False
        for name, value in scope["headers"]:
            if name == _REQUEST_ID:
                if incoming is None:
                    incoming = value.decode("latin-1")
            elif name == b"authorization":
                signed_in = True
        request_id = begin_request(incoming)
        request_id_value = request_id.encode("latin-1")
        method: str = scope["method"]  # type: ignore[typeddict-item]  # an http scope
        fixed = self.fixed
        started = time.perf_counter()
        status = 500

        async def send_edge(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = _answer_headers(message.get("headers") or (), request_id_value, fixed, signed_in)
                if method == "OPTIONS":
                    headers = _with_allow(headers, scope)
                message["headers"] = headers
            await send(message)

        metrics.HTTP_IN_PROGRESS.inc()
        try:
            await self.app(scope, receive, send_edge)
        finally:
            metrics.HTTP_IN_PROGRESS.dec()
            seconds = time.perf_counter() - started
            route = scope.get("path_template") or "unmatched"
            metrics.observe_request(method, route, status, seconds)
            # (The level is checked first so that no line is built for a logger that drops it.)
            if self.log_access and access_log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                access_log.info(
                    "%s %s %s %.1fms",
                    method,
                    route,
                    status,
                    seconds * 1000,
                    extra={
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 2),
                        "client": client[0] if client else None,
                    },
                )


def _answer_headers(
    raw: Any,
    request_id: bytes,
    fixed: tuple[tuple[bytes, bytes], ...],
    signed_in: bool,
) -> list[tuple[bytes, bytes]]:
    """The answer's headers with the request id (replacing any), the fixed security headers it
    lacks, a CSP for data answers and ``no-store`` for a signed-in caller's answers."""
    headers: list[tuple[bytes, bytes]] = []
    present: set[bytes] = set()
    content_type: bytes | None = None
    for name, value in raw:
        lowered = name.lower()
        if lowered == _REQUEST_ID:
            continue
        if lowered == _CONTENT_TYPE and content_type is None:
            content_type = value
        present.add(lowered)
        headers.append((name, value))
    headers.append((_REQUEST_ID, request_id))
    for name, value in fixed:
        if name not in present:
            headers.append((name, value))
    # Data answers (JSON, problems, CSV) get a CSP that forbids running anything; HTML pages
    # (the API docs, the dashboard) set their own.
    if _CSP not in present and content_type is not None and content_type.startswith(_JSONISH):
        headers.append((_CSP, _DATA_CSP))
    # Answers to a signed-in caller are private: no shared cache may keep them.
    if signed_in and _CACHE_CONTROL not in present:
        headers.append((_CACHE_CONTROL, _NO_STORE))
    return headers


def _with_allow(headers: list[tuple[bytes, bytes]], scope: Scope) -> list[tuple[bytes, bytes]]:
    """``OPTIONS``: ``Allow`` lists every method of the routed path (Litestar's names only the
    methods of the path's first handler); unrouted answers are left as they are."""
    template = scope.get("path_template")
    app = scope.get("litestar_app")
    if not template or app is None:
        return headers
    allow = allow_for(app, template)
    if allow is None:
        return headers
    return [(k, v) for k, v in headers if k.lower() != _ALLOW] + [(_ALLOW, allow)]
