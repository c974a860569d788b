"""Who may read and keep a village's register, and the small helpers every module of the slice shares.

Staff read what their region covers (codes nest by prefix). Village staff keep their own
village's register; street and district staff approve write-offs and resolve findings. Anything
outside the caller's scope answers 404, as if it did not exist; a known user without a staff
role, or a staff member whose role may not do the action, answers 403 ``forbidden_role``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from coopmarket.core import clock
from coopmarket.core.errors import DomainError, FieldError, ValidationFailed
from coopmarket.core.principal import DISTRICT_STAFF, STREET_STAFF, VILLAGE_STAFF, Principal
from coopmarket.regions import service as regions_service
from coopmarket.villages.errors import DateInFuture, RegionNotFound, VillageNotFound

Conn = AsyncSession | AsyncConnection

KEEPERS = (VILLAGE_STAFF,)
APPROVERS = (STREET_STAFF, DISTRICT_STAFF)
STREET_CODE_LENGTH = 9
VILLAGE_CODE_LENGTH = 12
REPORT_LEVELS = ("district", "street", "village")


def require_staff_in_scope(principal: Principal, village_code: str, not_found: DomainError) -> None:
    """403 for a caller who is not staff; ``not_found`` (404) when the village is outside their scope."""
    principal.require_staff()
    if not principal.covers_region(village_code):
        raise not_found


def require_role_in_scope(
    principal: Principal, village_code: str, roles: Iterable[str], not_found: DomainError
) -> None:
    """Staff in scope holding one of ``roles``: 404 outside the scope first, then 403 for the role."""
    require_staff_in_scope(principal, village_code, not_found)
    principal.require_role(*roles)


def is_keeper(principal: Principal, village_code: str) -> bool:
    """Village staff of this village: they keep its register and see identity numbers in full."""
    return principal.role == VILLAGE_STAFF and principal.covers_region(village_code)


async def require_village(conn: Conn, principal: Principal, code: str, *, keeper: bool = False) -> None:
    """The village-level region ``code`` in the caller's scope (404 ``village_not_found`` otherwise);
    with ``keeper``, the caller must be its village staff (403)."""
    not_found = VillageNotFound(f"No village {code} in your scope.")
    principal.require_staff()
    if not principal.covers_region(code):
        raise not_found
    region = await regions_service.find_region(conn, code)
    if region is None or region.level != "village":
        raise not_found
    if keeper:
        principal.require_role(*KEEPERS)


async def require_region(conn: Conn, principal: Principal, code: str | None) -> str:
    """``code`` (default: the caller's region) when it exists and is in the caller's scope (404
    ``region_not_found``); a community answers 422 ``invalid_region_level``, because villages are
    found under a region by the prefix of their statistical codes."""
    principal.require_staff()
    wanted = code or principal.region_code
    region = await regions_service.find_region(conn, wanted) if wanted else None
    if region is None or not principal.covers_region(region.code):
        raise RegionNotFound(f"No region {wanted} in your scope.")
    if region.level not in REPORT_LEVELS:
        raise ValidationFailed(
            "Give the district, a street or a village.",
            code="invalid_region_level",
            errors=[FieldError("region_code", f"a {region.level}")],
        )
    return region.code


def street_of(village_code: str) -> str:
    """The street (township) part of a 12-digit statistical code."""
    return village_code[:STREET_CODE_LENGTH]


def today(timezone: str) -> date:
    return clock.today(timezone)


def not_after_today(value: date, field: str, timezone: str) -> None:
    """422 ``date_in_future`` for a date after today (local)."""
    if value > today(timezone):
        raise DateInFuture(f"`{field}` is after today.", errors=[FieldError(field, "after today")])


def local_noon(day: date, timezone: str) -> datetime:
    """12:00 local time on ``day``, in UTC: an instant that falls inside that local day."""
    return datetime.combine(day, time(12), tzinfo=ZoneInfo(timezone)).astimezone(UTC)
