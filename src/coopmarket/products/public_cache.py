"""The public catalogue's answers through the shared response cache (``core/response_cache.py``).

The key is the kind of answer, the catalogue version, today's date in the report time zone
(Asia/Shanghai: licences and certificates start and end by date) and a digest of the normalised
request (the parsed parameters, defaults applied). The catalogue version is the sum of
``catalogue_version``'s shards, which database triggers bump in the same transaction as any change
to a product, SKU, image, certificate, batch, licence or cooperative (migration 0015).

It is read BEFORE the answer, on the same connection: a body is then never older than the version
in its key (a change committed in between makes a newer body under the older key, which nobody
asks for once the new version is visible). So once a change is committed, no request that starts
afterwards is answered from before it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeAlias

import msgspec
from litestar import Request, Response
from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from coopmarket.core import clock, conditional
from coopmarket.core.response_cache import ResponseCache
from coopmarket.db import Database
from coopmarket.settings import Settings
from coopmarket.storage.base import ObjectStorage

VERSION_SQL = text("SELECT coalesce(sum(version), 0) FROM catalogue_version")


async def catalogue_version(source: AsyncConnection | Database) -> int:
    if isinstance(source, Database):
        return int((await source.read_rows(VERSION_SQL, {}))[0][0])
    return int((await source.execute(VERSION_SQL)).scalar_one())


def request_key(kind: str, parts: tuple[Any, ...]) -> str:
    digest = hashlib.blake2b(msgspec.json.encode(parts), digest_size=16).hexdigest()
    return f"{kind}:{digest}"


async def answer(
    request: Request[Any, Any, Any],
    cache: ResponseCache,
    conn: AsyncConnection | Database,
    *,
    kind: str,
    parts: tuple[Any, ...],
    today: date,
    produce: Callable[[], Awaitable[Any]],
    shared: bool = True,
    cache_control: str | None = conditional.PUBLIC_REVALIDATE,
) -> Response[Any]:
    """The encoded answer from the cache, or made by ``produce`` (and stored); with its ETag, or 304.
    ``shared`` False (an answer for a signed-in caller) skips the cache."""
    if not (shared and cache.enabled):
        return conditional.json_answer(request, conditional.encode(await produce()), cache_control=cache_control)
    version = await catalogue_version(conn)
    key = f"{request_key(kind, parts)}:{version}:{today.isoformat()}"
    body = await cache.get(key)
    if body is None:
        body = conditional.encode(await produce())
        await cache.put(key, body)
    return conditional.json_answer(request, body, cache_control=cache_control)


@dataclass(frozen=True, slots=True)
class PublicRead:
    """What a public catalogue read needs, as ONE dependency: Litestar resolves several dependencies
    of one level in an anyio task group (a task each), which cost the list about 6% of its CPU
    for four plain reads of the app's state."""

    db: Database
    storage: ObjectStorage
    cache: ResponseCache
    settings: Settings
    today: date  # in the report time zone (Asia/Shanghai)


def provide_public_read(state: State) -> PublicRead:
    settings: Settings = state.settings
    return PublicRead(
        db=state.db,
        storage=state.storage,
        cache=state.response_cache,
        settings=settings,
        today=clock.today(settings.report_timezone),
    )


PublicReads: TypeAlias = NamedDependency[PublicRead]
