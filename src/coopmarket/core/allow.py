"""``OPTIONS`` and ``405`` answers list every method of the path (RFC 9110 ``Allow``).

Litestar builds a path's automatic ``OPTIONS`` handler when the path's first handler is
registered, so a path whose methods come from several handlers (``GET`` and ``POST`` on
``/api/v1/cooperatives``) answered ``Allow: GET, OPTIONS``. This middleware rewrites ``Allow``
on the way out from the route's final method set.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send


@lru_cache(maxsize=4096)
def _allow_for(app: Any, path_template: str) -> bytes | None:
    for route in app.routes:
        if route.path == path_template or route.path_format == path_template:
            methods = set(getattr(route, "methods", ())) | {"OPTIONS"}
            return ", ".join(sorted(methods)).encode()
    return None


class AllowHeader(ASGIMiddleware):
    """Rewrite ``Allow`` on ``OPTIONS`` answers to the path's full method set."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope.get("method") != "OPTIONS":
            await next_app(scope, receive, send)
            return
        allow = _allow_for(scope["litestar_app"], scope.get("path_template", ""))

        async def send_with_allow(message: Message) -> None:
            if allow is not None and message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                message["headers"] = [*headers, (b"allow", allow)]
            await send(message)

        await next_app(scope, receive, send_with_allow)
