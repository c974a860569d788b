"""What every answered request goes through: its id, its access-log line, its metrics, and the
security headers of every response.

``RequestMiddleware`` wraps each route (Litestar builds it into every route's stack, after the
route is known, so it sees the route *template*). ``security_headers`` is a ``before_send`` hook,
so it also covers answers that never reach a route (404 for an unknown path, 405).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from coopmarket.ops import metrics
from coopmarket.ops.context import begin_request
from coopmarket.settings import Settings

access_log = logging.getLogger("coopmarket.access")

REQUEST_ID_HEADER = "x-request-id"
_JSONISH = (b"application/json", b"application/problem+json", b"text/csv", b"text/plain")


class RequestMiddleware:
    """Request id (accepted from ``X-Request-ID`` when plain, else new), access log, metrics."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.log_access = settings.access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = begin_request(incoming)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableScopeHeaders.from_message(message)
                headers[REQUEST_ID_HEADER] = request_id
            await send(message)

        metrics.HTTP_IN_PROGRESS.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            metrics.HTTP_IN_PROGRESS.dec()
            seconds = time.perf_counter() - started
            route = scope.get("path_template") or "unmatched"
            method: str = scope["method"]  # type: ignore[typeddict-item]  # an http scope
            metrics.observe_request(method, route, status, seconds)
            if self.log_access:
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


def security_headers(settings: Settings) -> Callable[[Message, Scope], Any]:
    """A ``before_send`` hook adding the headers every answer should carry."""
    fixed = {
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "x-frame-options": "DENY",
    }
    if settings.hsts_max_age_seconds:
        fixed["strict-transport-security"] = f"max-age={settings.hsts_max_age_seconds}; includeSubDomains"
    data_csp = "default-src 'none'; frame-ancestors 'none'"

    async def before_send(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        for name, value in fixed.items():
            if name not in headers:
                headers[name] = value
        # Data answers (JSON, problems, CSV) get a CSP that forbids running anything; HTML pages
        # (the API docs, the dashboard) set their own.
        content_type = (headers.get("content-type") or "").encode("latin-1")
        if "content-security-policy" not in headers and content_type.startswith(_JSONISH):
            headers["content-security-policy"] = data_csp
        # Answers to a signed-in caller are private: no shared cache may keep them.
        if "cache-control" not in headers and any(name == b"authorization" for name, _ in scope["headers"]):
            headers["cache-control"] = "no-store"

    return before_send
