"""Rural communities (农村社区): district staff group villages of one street under a name.

A village belongs to at most one community; collective-income reports then group by community.
The community is a region of level ``community`` under its street (code: street + 9 + two
digits), and each of its villages names it in ``community_code``. Audited.
"""

from __future__ import annotations

import msgspec
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.audit import service as audit
from coopmarket.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from coopmarket.core.principal import DISTRICT_STAFF, Principal
from coopmarket.regions import service as regions_service
from coopmarket.villages.schemas import CommunityIn


class CommunityOut(msgspec.Struct):
    code: str
    name: str
    level: str
    parent_code: str
    village_codes: list[str]


class VillageInCommunity(Conflict):
    default_code = "village_in_community"


async def create_community(session: AsyncSession, principal: Principal, data: CommunityIn) -> CommunityOut:
    """District staff create a community of villages of one street in their scope."""
    principal.require_role(DISTRICT_STAFF)
    street = await regions_service.find_region(session, data.street_code)
    if street is None or street.level != "street" or not principal.covers_region(street.code):
        raise NotFound("No such street in your scope.", code="region_not_found")
    name = data.name.strip()
    if not name:
        raise ValidationFailed("The name is blank.", errors=[FieldError("name", "must not be blank")])
    villages = sorted(set(data.village_codes))
    if len(villages) != len(data.village_codes):
        raise ValidationFailed(
            "A village is listed twice.",
            code="duplicate_village",
            errors=[FieldError("village_codes", "repeated village code")],
        )
    for index, village_code in enumerate(data.village_codes):
        region = await regions_service.find_region(session, village_code)
        if region is None or region.level != "village" or region.parent_code != street.code:
            raise ValidationFailed(
                "Every village must be a village of that street.",
                code="invalid_region",
                errors=[FieldError(f"village_codes[{index}]", "not a village of the street")],
            )
    code = await regions_service.next_community_code(session, street.code)
    if code is None:
        raise Conflict("This street has no community codes left.", code="community_codes_exhausted")
    try:
        async with session.begin_nested():
            await regions_service.add_community(session, code=code, name=name, street_code=street.code)
    except IntegrityError as exc:
        raise Conflict(
            "Another community was created at the same time; retry.", code="concurrent_update"
        ) from exc
    if await regions_service.assign_villages(session, code, street.code, villages) != len(villages):
        raise VillageInCommunity("A village already belongs to a community.")
    await audit.record(
        session,
        actor=principal,
        action="community.created",
        entity="region",
        entity_id=code,
        after={"name": name, "street_code": street.code, "village_codes": villages},
        region_code=street.code,
    )
    return CommunityOut(
        code=code, name=name, level="community", parent_code=street.code, village_codes=villages
    )
