"""Dependencies every route may ask for: settings, database, session, the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

from litestar import Request
from litestar.datastructures import State
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core import clock
from coopmarket.core.errors import Unauthorized
from coopmarket.core.principal import Principal
from coopmarket.db import Database
from coopmarket.settings import Settings


def provide_settings(state: State) -> Settings:
    return state.settings


def provide_today(state: State) -> date:
    """The request's date in the report time zone (Asia/Shanghai by default): validity is by this day."""
    return clock.today(state.settings.report_timezone)


def provide_db(state: State) -> Database:
    return state.db


async def provide_session(state: State) -> AsyncIterator[AsyncSession]:
    """One unit-of-work session per request; uncommitted work is rolled back on exit."""
    async with state.db.session() as session:
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
    from coopmarket.accounts import service as accounts_service

    token = _bearer(request)
    if token is None:
        raise Unauthorized(
            "Sign in first: send Authorization: Bearer <token>.",
            code="not_authenticated",
            headers={"WWW-Authenticate": "Bearer"},
        )
    async with state.db.read() as conn:
        return await accounts_service.authenticate(conn, state.settings, token)


async def provide_optional_principal(request: Request, state: State) -> Principal | None:
    """The caller if a token is sent (a bad token is still a 401), else ``None``."""
    if not request.headers.get("authorization"):
        return None
    return await provide_principal(request, state)
