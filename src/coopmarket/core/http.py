"""Type aliases routes use to declare what they need (Litestar 2.25's explicit style)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, TypeAlias

from litestar.di import NamedDependency
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.core.principal import Principal
from coopmarket.db import Database
from coopmarket.settings import Settings

Session: TypeAlias = NamedDependency[AsyncSession]
Db: TypeAlias = NamedDependency[Database]
AppSettings: TypeAlias = NamedDependency[Settings]
Caller: TypeAlias = NamedDependency[Principal]
MaybeCaller: TypeAlias = NamedDependency[Principal | None]
# The request's date in the report time zone (certificate validity, licence terms).
Today: TypeAlias = NamedDependency[date]

__all__ = ["Annotated", "AppSettings", "Caller", "Db", "MaybeCaller", "Session", "Today"]
