"""A shared cache of encoded answers in Redis (the public catalogue's). Every failure is a miss:
a Redis that is down or slow never fails a request, it only makes it uncached. After a failure
Redis is left alone for a few seconds, so requests do not each wait for a timeout."""

from __future__ import annotations

import logging
import time
from typing import TypeAlias

import redis.asyncio as redis
from litestar.datastructures import State
from litestar.di import NamedDependency

from coopmarket.settings import Settings

log = logging.getLogger(__name__)

# Short: a cached answer takes about a millisecond; waiting longer than the database would is useless.
TIMEOUT_SECONDS = 0.25
BACK_OFF_SECONDS = 5.0


class ResponseCache:
    """``get``/``put`` of bodies under ``{namespace}:{key}``; ``enabled`` False: always a miss."""

    def __init__(self, url: str | None, *, namespace: str, ttl_seconds: int, enabled: bool = True) -> None:
        self.enabled = bool(url) and enabled
        self._namespace = namespace
        self._ttl = ttl_seconds
        self._redis = (
            redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS)
            if url and self.enabled
            else None
        )
        self._resting_until = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ResponseCache:
        return cls(
            settings.redis_url,
            namespace=settings.catalogue_cache_namespace,
            ttl_seconds=settings.catalogue_cache_ttl_seconds,
            enabled=settings.catalogue_cache,
        )

    def _usable(self) -> bool:
        return self._redis is not None and time.monotonic() >= self._resting_until

    def _failed(self, exc: Exception) -> None:
        self._resting_until = time.monotonic() + BACK_OFF_SECONDS
        log.warning("response cache unavailable, answering uncached: %s", type(exc).__name__)

    async def get(self, key: str) -> bytes | None:
        if not self._usable():
            return None
        assert self._redis is not None
        try:
            value = await self._redis.get(f"{self._namespace}:{key}")
        except Exception as exc:  # Redis down, slow or confused: a miss
            self._failed(exc)
            return None
        return value if isinstance(value, bytes) else None

    async def put(self, key: str, body: bytes) -> None:
        if not self._usable():
            return
        assert self._redis is not None
        try:
            await self._redis.set(f"{self._namespace}:{key}", body, ex=self._ttl)
        except Exception as exc:
            self._failed(exc)

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()


def provide_response_cache(state: State) -> ResponseCache:
    cache: ResponseCache = state.response_cache
    return cache


SharedCache: TypeAlias = NamedDependency[ResponseCache]
