"""Dependencies every route may ask for: settings, database, session, the caller, today.

The caller is authenticated by ``authenticate_first``, run before every handler (the app's
``before_request`` hook), before anything else of the request is read (its query, its body): an
anonymous or badly signed request to a route that needs a caller is 401 whatever else is wrong
with it. The hook keeps the principal on the request's scope and
``provide_principal`` hands that one to the route (one lookup per request).

The kernel imports no slice: who a bearer token belongs to is decided by the resolver ``app.py``
puts on the application state (``state.resolve_principal``), built from the accounts and coops
services at start-up.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from typing import Any, TypeAlias

from litestar import Request
from litestar.connection import ASGIConnection
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


PRINCIPAL = "principal"
MAYBE_PRINCIPAL = "maybe_principal"
_SCOPE_KEY = "coopmarket.principal"


# (handler function, dependency name) -> answer. Keyed on the handler's function: the handler object a
# guard received was a fresh copy per request, not one ``lru_cache`` could recognise (the cache
# missed on every request, re-inspecting signatures each time: about 6% of a list request's CPU).
_ASKS_FOR: dict[tuple[Any, str], bool] = {}


def asks_for(handler: Any, name: str) -> bool:
    """Whether ``handler`` asks for the dependency ``name``, directly or through its dependencies."""
    key = (getattr(handler, "fn", handler), name)
    found = _ASKS_FOR.get(key)
    if found is None:
        found = _ASKS_FOR[key] = _asks_for(handler, name)
    return found


def _asks_for(handler: Any, name: str) -> bool:
    providers = handler.resolve_dependencies()
    seen: set[str] = set()
    wanted = [p for p in handler.parsed_fn_signature.parameters if p in providers]
    while wanted:
        dependency = wanted.pop()
        if dependency == name:
            return True
        if dependency not in seen:
            seen.add(dependency)
            wanted += [
                p for p in inspect.signature(providers[dependency].dependency).parameters if p in providers
            ]
    return False


def _bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate_first(connection: ASGIConnection[Any, Any, Any, Any], handler: Any) -> None:
    """Before every handler: authenticate the caller of a route that needs one, or that takes an
    optional one and got a token, before its query or body is read; 401 when that fails."""
    if asks_for(handler, PRINCIPAL) or (
        asks_for(handler, MAYBE_PRINCIPAL) and connection.headers.get("authorization")
    ):
        connection.scope["state"][_SCOPE_KEY] = await _authenticate(connection, connection.app.state)


async def _authenticate(connection: ASGIConnection[Any, Any, Any, Any], state: Any) -> Principal:
    token = _bearer(connection)
    if token is None:
        raise Unauthorized(
            "Sign in first: send Authorization: Bearer <token>.",
            code="not_authenticated",
            headers={"WWW-Authenticate": "Bearer"},
        )
    resolve: PrincipalResolver = state.resolve_principal
    return await resolve(token)


async def provide_principal(request: Request, state: State) -> Principal:
    """The authenticated caller; 401 when the token is missing or bad."""
    known = request.scope.get("state", {}).get(_SCOPE_KEY)
    if isinstance(known, Principal):
        return known
    return await _authenticate(request, state)


async def provide_optional_principal(request: Request, state: State) -> Principal | None:
    """The caller if a token is sent (a bad token is still a 401), else ``None``."""
    if not request.headers.get("authorization"):
        return None
    return await provide_principal(request, state)
