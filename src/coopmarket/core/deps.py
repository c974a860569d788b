"""Dependencies every route may ask for: settings, database, session, the caller.

The kernel imports no slice: who a bearer token belongs to is decided by the resolver ``app.py``
puts on the application state (``state.resolve_principal``), built from the accounts and coops
services at start-up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from typing import TypeAlias

from litestar import Request
from litestar.datastructures import State
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core import clock
from coopmarket.core.errors import Unauthorized
from coopmarket.core.principal import Principal
from coopmarket.db import Database
from coopmarket.settings import Settings

# A bearer token in, the caller out (401 ``invalid_token`` when it is not valid).
PrincipalResolver: TypeAlias = Callable[[str], Awaitable[Principal]]


def provide_settings(state: State) -> Settings:
    return state.settings


def provide_today(state: State) -> date:
    """The request's date in the report time zone (Asia/Shanghai by default): validity is by this day."""
    return clock.today(state.settings.report_timezone)


def provide_db(state: State) -> Database:
    return state.db


async def provide_session(state: State) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed when the handler returns, rolled back when it raises.

    The commit runs before the response is sent, so a failed commit answers as an error, never as
    a success whose effect was lost.
    """
    async with state.db.unit_of_work() as session:
        yield session


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def provide_principal(request: Request, state: State) -> Principal:
    """The authenticated caller; 401 when the token is missing or bad."""
    token = _bearer(request)
    if token is None:
        raise Unauthorized(
            "Sign in first: send Authorization: Bearer <token>.",
            code="not_authenticated",
            headers={"WWW-Authenticate": "Bearer"},
        )
    resolve: PrincipalResolver = state.resolve_principal
    return await resolve(token)


async def provide_optional_principal(request: Request, state: State) -> Principal | None:
    """The caller if a token is sent (a bad token is still a 401), else ``None``."""
    if not request.headers.get("authorization"):
        return None
    return await provide_principal(request, state)
