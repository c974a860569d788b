"""Rate limiting of the sign-in endpoints (``/api/v1/auth/*``).

- A fixed one-minute window per client, counted with one atomic increment: in memory by default
  (one counter per process, shared by every route), in Redis when ``COOPMARKET_REDIS_URL`` is set
  (``INCR`` + ``EXPIRE NX`` in one transaction), so that several workers share one budget exactly.
  Litestar's own limiter reads then writes its store, which lets concurrent requests slip past.
- The client is the direct peer, unless that peer is one of ``settings.trusted_proxies``: then it
  is the right-most ``X-Forwarded-For`` address that is not a trusted proxy (addresses further
  left were written by the client itself and cannot be believed).
- Sign-in and registration also count per phone number (``PhoneAttempts``), over a longer window
  (``rate_limit_per_phone`` attempts per ``rate_limit_phone_window_seconds``), so guessing one
  account's password from many addresses is bounded too. The key is an HMAC of the number (never
  the number itself, in memory or in Redis); the body has to be read first, so the sign-in service
  counts it before it looks anything up.
- Over the limit: 429 ``rate_limited`` (rendered by the app's HTTP-exception handler) with
  ``Retry-After``. If Redis cannot be reached, ``COOPMARKET_RATE_LIMIT_ON_REDIS_ERROR`` decides:
  ``open`` (the default) lets requests pass uncounted (logged), rather than every sign-in failing;
  ``closed`` answers 503 ``rate_limit_unavailable``, so nobody can guess passwords unlimited.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from math import ceil
from time import time
from typing import Any, Protocol, Self

import redis.asyncio as redis
from litestar import Request
from litestar.exceptions import TooManyRequestsException
from litestar.middleware.base import DefineMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from coopmarket.core.errors import TooManyRequests, UpstreamUnavailable
from coopmarket.settings import Settings

log = logging.getLogger(__name__)

AUTH_PATH_PREFIX = "/api/v1/auth/"

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
    # Every hop is a trusted proxy: count the peer, never an address the client could have written.
    return direct


def identifier_for(trusted: Sequence[Network]) -> Callable[[Request[Any, Any, Any]], str]:
    """The ``identifier_for_request`` callable for ``RateLimitConfig``."""

    def identify(request: Request[Any, Any, Any]) -> str:
        peer = request.client.host if request.client else None
        return client_address(peer, request.headers.getall("x-forwarded-for", []), trusted)

    return identify


WINDOW_SECONDS = 60


class WindowCounter(Protocol):
    """Counts hits per key in fixed windows; ``hit`` is one atomic increment."""

    async def hit(self, key: str) -> tuple[int, int]:
        """Count one hit; return (hits in the current window, seconds until it resets)."""
        ...

    async def aclose(self) -> None: ...


class MemoryCounter:
    """One process's counts. Shared by every route's middleware instance of one app; the increment
    runs without an ``await`` in between, so concurrent requests cannot slip past the limit."""

    def __init__(self, window_seconds: int = WINDOW_SECONDS, max_keys: int = 100_000) -> None:
        self._window = window_seconds
        self._max_keys = max_keys
        self._counts: dict[str, tuple[int, float]] = {}

    async def hit(self, key: str) -> tuple[int, int]:
        now = time()
        count, resets_at = self._counts.get(key, (0, now + self._window))
        if resets_at <= now:
            count, resets_at = 0, now + self._window
        count += 1
        self._counts[key] = (count, resets_at)
        if len(self._counts) > self._max_keys:
            self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
        return count, max(1, ceil(resets_at - now))

    async def aclose(self) -> None:
        return None

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        # One counter, shared: never copied (Litestar deep-copies a Router, and so the sign-in
        # limiter's middleware arguments, when the app registers it).
        return self


class RedisCounter:
    """Counts shared by every worker: ``INCR`` and ``EXPIRE … NX`` in one transaction."""

    def __init__(self, url: str, namespace: str, window_seconds: int = WINDOW_SECONDS) -> None:
        # Short timeouts: a Redis that is down must not hold sign-ins for the driver's default.
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        self._namespace = namespace
        self._window = window_seconds

    async def hit(self, key: str) -> tuple[int, int]:
        name = f"{self._namespace}:{key}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, self._window, nx=True)
            pipe.ttl(name)
            count, _, ttl = await pipe.execute()
        return int(count), max(1, int(ttl))

    async def aclose(self) -> None:
        await self._redis.aclose()

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        # One counter, shared: never copied (Litestar deep-copies a Router, and so the sign-in
        # limiter's middleware arguments, when the app registers it).
        return self


class AuthRateLimitMiddleware:
    """Limits ``/api/v1/auth/*`` per client; answers 429 with ``Retry-After``; when the store is
    down, fails open or closed as configured."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        counter: WindowCounter,
        limit: int,
        identify: Callable[[Request[Any, Any, Any]], str],
        fail_closed: bool = False,
    ) -> None:
        self.app = app
        self.counter = counter
        self.limit = limit
        self.identify = identify
        self.fail_closed = fail_closed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(AUTH_PATH_PREFIX):
            await self.app(scope, receive, send)
            return
        key = self.identify(Request(scope))
        try:
            count, retry_after = await self.counter.hit(key)
        except Exception as exc:  # the store is down
            if self.fail_closed:
                log.warning("rate limit store unavailable, sign-in refused: %s", type(exc).__name__)
                raise UpstreamUnavailable(
                    "Sign-in is paused for a moment; try again shortly.",
                    code="rate_limit_unavailable",
                    headers={"Retry-After": "5"},
                ) from exc
            log.warning("rate limit store unavailable, request not counted: %s", type(exc).__name__)
            await self.app(scope, receive, send)
            return
        if count > self.limit:
            raise TooManyRequestsException(
                detail=f"Too many sign-in requests; try again in {retry_after} seconds.",
                headers={"Retry-After": str(retry_after)},
            )
        await self.app(scope, receive, send)


def build_counter(settings: Settings) -> WindowCounter:
    """Redis when ``redis_url`` is set (shared by workers), else one in-memory counter per process."""
    if settings.redis_url:
        return RedisCounter(settings.redis_url, settings.rate_limit_namespace)
    return MemoryCounter()


class PhoneAttempts:
    """Counts sign-in and registration attempts per phone number, whatever address they come from.

    ``hit`` is called with the phone of the request before any lookup or password hashing; over the
    limit it raises 429 ``rate_limited`` with ``Retry-After``. Every attempt counts (right or wrong
    password, known or unknown number), so the answer never tells whether a number is registered.
    A store that is down is handled like the per-address limit (open or closed, as configured).
    """

    def __init__(
        self, counter: WindowCounter | None, *, limit: int, key_secret: bytes, fail_closed: bool = False
    ) -> None:
        self._key_secret = key_secret
        # The same counting as any keyed limit, under an HMAC of the phone (never the number itself).
        self._attempts = KeyedLimit(
            counter, limit=limit, fail_closed=fail_closed, paused="Sign-in is paused for a moment"
        )

    def _key(self, phone: str) -> str:
        digest = hmac.new(self._key_secret, phone.strip().encode(), hashlib.sha256).hexdigest()
        return f"phone:{digest[:32]}"

    async def hit(self, phone: str) -> None:
        await self._attempts.hit(self._key(phone), detail="Too many attempts for this phone number")

    async def aclose(self) -> None:
        await self._attempts.aclose()


def phone_attempts(settings: Settings) -> PhoneAttempts:
    """The per-phone count for ``settings`` (counting nothing when ``rate_limit_per_phone`` is 0)."""
    window = settings.rate_limit_phone_window_seconds
    counter: WindowCounter | None = None
    if settings.rate_limit_per_phone > 0:
        counter = (
            RedisCounter(settings.redis_url, f"{settings.rate_limit_namespace}:phone", window)
            if settings.redis_url
            else MemoryCounter(window)
        )
    return PhoneAttempts(
        counter,
        limit=settings.rate_limit_per_phone,
        key_secret=settings.jwt_secret.get_secret_value().encode(),
        fail_closed=settings.rate_limit_on_redis_error == "closed",
    )


@dataclass(frozen=True)
class AuthRateLimit:
    """What ``create_app`` passes to Litestar: the middleware list, the per-phone count and what to
    close on shutdown."""

    middleware: list[DefineMiddleware]
    on_shutdown: list[Callable[[], Awaitable[None]]]
    per_phone: PhoneAttempts


def auth_rate_limit(settings: Settings) -> AuthRateLimit:
    """The limiter for ``settings`` (none when ``rate_limit_auth_per_minute`` is 0)."""
    trusted = parse_networks(settings.trusted_proxies)
    per_phone = phone_attempts(settings)
    if settings.rate_limit_auth_per_minute <= 0:
        return AuthRateLimit(middleware=[], on_shutdown=[per_phone.aclose], per_phone=per_phone)
    counter = build_counter(settings)
    middleware = DefineMiddleware(
        AuthRateLimitMiddleware,
        counter=counter,
        limit=settings.rate_limit_auth_per_minute,
        identify=identifier_for(trusted),
        fail_closed=settings.rate_limit_on_redis_error == "closed",
    )
    return AuthRateLimit(
        middleware=[middleware], on_shutdown=[counter.aclose, per_phone.aclose], per_phone=per_phone
    )


class KeyedLimit:
    """At most ``limit`` hits per key in each window (e.g. messages per client address, or per
    disclosure), counted like the per-phone limit: in memory, or in Redis when ``redis_url`` is
    set. Over the limit: 429 ``rate_limited`` with ``Retry-After``. ``limit`` 0 counts nothing. A
    store that is down is handled as configured (``rate_limit_on_redis_error``)."""

    def __init__(
        self,
        counter: WindowCounter | None,
        *,
        limit: int,
        fail_closed: bool = False,
        paused: str = "Paused for a moment",
    ) -> None:
        self._counter = counter
        self._limit = limit
        self._fail_closed = fail_closed
        self._paused = paused

    async def hit(self, key: str, *, detail: str = "Too many requests") -> None:
        if self._counter is None or self._limit <= 0:
            return
        try:
            count, retry_after = await self._counter.hit(key)
        except Exception as exc:  # the store is down
            if self._fail_closed:
                log.warning("rate limit store unavailable, request refused: %s", type(exc).__name__)
                raise UpstreamUnavailable(
                    f"{self._paused}; try again shortly.",
                    code="rate_limit_unavailable",
                    headers={"Retry-After": "5"},
                ) from exc
            log.warning("rate limit store unavailable, request not counted: %s", type(exc).__name__)
            return
        if count > self._limit:
            raise TooManyRequests(
                f"{detail}; try again in {retry_after} seconds.", headers={"Retry-After": str(retry_after)}
            )

    async def aclose(self) -> None:
        if self._counter is not None:
            await self._counter.aclose()


def keyed_limit(settings: Settings, name: str, *, limit: int, window_seconds: int) -> KeyedLimit:
    """A ``KeyedLimit`` named ``name`` (its Redis key prefix) for ``settings``."""
    counter: WindowCounter | None = None
    if limit > 0:
        counter = (
            RedisCounter(settings.redis_url, f"{settings.rate_limit_namespace}:{name}", window_seconds)
            if settings.redis_url
            else MemoryCounter(window_seconds)
        )
    return KeyedLimit(counter, limit=limit, fail_closed=settings.rate_limit_on_redis_error == "closed")
