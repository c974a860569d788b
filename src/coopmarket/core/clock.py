"""The one clock. Tests may pin or move it with ``set_now``/``advance``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_offset = timedelta(0)
_frozen: datetime | None = None


def now() -> datetime:
    """Current UTC time (timezone-aware)."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC) + _offset


def today(timezone: str) -> date:
    """Today's date in ``timezone`` (e.g. the report time zone, Asia/Shanghai) at ``now()``."""
    return now().astimezone(ZoneInfo(timezone)).date()


def set_now(value: datetime | None) -> None:
    """Freeze the clock at ``value`` (aware, UTC), or unfreeze with ``None``."""
    global _frozen
    _frozen = value


def advance(delta: timedelta) -> None:
    """Move the clock forward (frozen or running)."""
    global _frozen, _offset
    if _frozen is not None:
        _frozen = _frozen + delta
    else:
        _offset = _offset + delta


def reset() -> None:
    """Back to real time."""
    global _frozen, _offset
    _frozen = None
    _offset = timedelta(0)


def local_days_to_utc(date_from: date, date_to: date, timezone: str) -> tuple[datetime, datetime]:
    """The UTC instants ``[start of date_from, start of the day after date_to)`` in ``timezone``."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(date_from, time.min, tzinfo=zone).astimezone(UTC)
    end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)
    return start, end



@contextmanager
def frozen_at(value: datetime) -> Iterator[None]:
    """Freeze the clock at ``value`` inside the block, then put back what it was (frozen or
    running, with its offset). Nested blocks may move it again with ``set_now``."""
    global _frozen, _offset
    saved = (_frozen, _offset)
    _frozen = value
    try:
        yield
    finally:
        _frozen, _offset = saved
