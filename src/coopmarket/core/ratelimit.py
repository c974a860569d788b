"""Rate limiting of the sign-in endpoints (``/api/v1/auth/*``) with Litestar's ``RateLimitMiddleware``.

- Counts are kept per client in the app's ``rate_limit`` store: in memory by default, in Redis when
  ``COOPMARKET_REDIS_URL`` is set, so that several workers share them.
- Litestar keys on ``request.client.host`` and ignores ``X-Forwarded-For``. Here the client is the
  direct peer, unless that peer is one of ``settings.trusted_proxies``: then it is the right-most
  ``X-Forwarded-For`` address that is not a trusted proxy (addresses further left were written by
  the client itself and cannot be believed).
- Over the limit: 429 ``rate_limited`` (rendered by the app's HTTP-exception handler) with
  ``Retry-After``. If the store cannot be reached, requests pass uncounted (logged), rather than
  every sign-in failing.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from time import time
from typing import Any

from litestar import Request
from litestar.exceptions import TooManyRequestsException
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.rate_limit import RateLimitConfig, RateLimitMiddleware
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from litestar.types import Receive, Scope, Send

from coopmarket.settings import Settings

log = logging.getLogger(__name__)

AUTH_PATH_PREFIX = "/api/v1/auth/"
STORE_NAME = "rate_limit"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """``["10.0.0.2", "172.16.0.0/12"]`` → networks; a bad entry raises ``ValueError`` at start-up."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)


def _is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """The address to count against: the peer, or when it is a trusted proxy, the nearest untrusted hop."""
    direct = peer or "unknown"
    if not trusted or not _is_trusted(direct, trusted):
        return direct
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else direct


def identifier_for(trusted: Sequence[Network]) -> Callable[[Request[Any, Any, Any]], str]:
    """The ``identifier_for_request`` callable for ``RateLimitConfig``."""

    def identify(request: Request[Any, Any, Any]) -> str:
        peer = request.client.host if request.client else None
        return client_address(peer, request.headers.getall("x-forwarded-for", []), trusted)

    return identify


class AuthRateLimitMiddleware(RateLimitMiddleware):
    """Litestar's limiter on ``/api/v1/auth/*`` only, answering with ``Retry-After``, failing open."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not scope["path"].startswith(AUTH_PATH_PREFIX):
            await self.app(scope, receive, send)
            return
        app = scope["litestar_app"]
        request: Request[Any, Any, Any] = app.request_class(scope)
        if await self.should_check_request(request=request):
            key = self.cache_key_from_request(request)
            try:
                store = self.config.get_store_from_app(app)
                async with self._lock:
                    cache_object = await self.retrieve_cached_history(key, store)
                    exceeded = len(cache_object.history) >= self.max_requests
                    if not exceeded:
                        await self.set_cached_history(key=key, cache_object=cache_object, store=store)
            except Exception as exc:  # the store is down: do not lock every user out
                log.warning("rate limit store unavailable, request not counted: %s", type(exc).__name__)
            else:
                if exceeded:
                    retry_after = max(1, cache_object.reset - int(time()))
                    headers = self.create_response_headers(cache_object=cache_object)
                    headers["Retry-After"] = str(retry_after)
                    raise TooManyRequestsException(
                        detail=f"Too many sign-in requests; try again in {retry_after} seconds.",
                        headers=headers,
                    )
                if self.config.set_rate_limit_headers:
                    send = self.create_send_wrapper(send=send, cache_object=cache_object)
        await self.app(scope, receive, send)


def build_store(settings: Settings) -> Store:
    """Redis when ``redis_url`` is set (shared by workers), else one in-memory store per process."""
    if settings.redis_url:
        return RedisStore.with_client(url=settings.redis_url, namespace=settings.rate_limit_namespace)
    return MemoryStore()


@dataclass(frozen=True)
class AuthRateLimit:
    """What ``create_app`` passes to Litestar: the middleware list and the store it counts in."""

    middleware: list[DefineMiddleware]
    stores: dict[str, Store]


def auth_rate_limit(settings: Settings) -> AuthRateLimit:
    """The limiter for ``settings`` (none when ``rate_limit_auth_per_minute`` is 0)."""
    trusted = parse_networks(settings.trusted_proxies)
    if settings.rate_limit_auth_per_minute <= 0:
        return AuthRateLimit(middleware=[], stores={})
    config = RateLimitConfig(
        rate_limit=("minute", settings.rate_limit_auth_per_minute),
        identifier_for_request=identifier_for(trusted),
        middleware_class=AuthRateLimitMiddleware,
        store=STORE_NAME,
    )
    return AuthRateLimit(middleware=[config.middleware], stores={STORE_NAME: build_store(settings)})
