"""Helpers for table definitions shared by every slice (no tables here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import BigInteger, Column, Constraint, Index, Table
from sqlmodel import Field, SQLModel

from coopmarket.core import clock
from coopmarket.core.ids import new_id
from coopmarket.core.types import UTCDateTime

ID_LENGTH = 26

# Stable constraint names: Alembic's SQLite batch mode and later migrations rely on them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# ``info`` key naming the only databases a table, column or index exists on (see ``only_on``).
DIALECTS_INFO_KEY = "dialects"
_Obj = TypeVar("_Obj", Table, Column, Index, Constraint)


def only_on(obj: _Obj, *dialects: str) -> _Obj:
    """Mark a table, column or index as existing only on ``dialects`` (the migration creates it
    there alone): DDL from the metadata and the migrations-versus-models check skip it elsewhere."""
    obj.info[DIALECTS_INFO_KEY] = tuple(dialects)
    if isinstance(obj, Index | Constraint):
        obj.ddl_if(dialect=dialects[0] if len(dialects) == 1 else cast(Any, dialects))
    return obj


def exists_on(obj: Any, dialect: str) -> bool:
    """False for an object ``only_on`` other databases."""
    wanted = getattr(obj, "info", {}).get(DIALECTS_INFO_KEY)
    return wanted is None or dialect in wanted


def id_field(**kwargs: Any) -> Any:
    """Primary-key id: an opaque, time-ordered string from ``core.ids``."""
    return Field(default_factory=new_id, primary_key=True, max_length=ID_LENGTH, **kwargs)


def ref_field(*, foreign_key: str | None = None, index: bool = True, nullable: bool = False) -> Any:
    """A column holding another row's id (a foreign key is just a column across slices)."""
    kwargs: dict[str, Any] = {"max_length": ID_LENGTH, "index": index, "nullable": nullable}
    if foreign_key:
        kwargs["foreign_key"] = foreign_key
    if nullable:
        kwargs["default"] = None
    return Field(**kwargs)


def money_field(**kwargs: Any) -> Any:
    """An amount in integer fen (64-bit: district totals outgrow 32 bits)."""
    return Field(sa_type=BigInteger, **kwargs)


def time_field(*, nullable: bool = False, index: bool = False, default_now: bool = True) -> Any:
    """An aware UTC timestamp column."""
    if nullable:
        return Field(default=None, sa_type=UTCDateTime, nullable=True, index=index)
    if default_now:
        return Field(default_factory=clock.now, sa_type=UTCDateTime, nullable=False, index=index)
    return Field(sa_type=UTCDateTime, nullable=False, index=index)


__all__ = [
    "DIALECTS_INFO_KEY",
    "ID_LENGTH",
    "datetime",
    "exists_on",
    "id_field",
    "money_field",
    "only_on",
    "ref_field",
    "time_field",
]
