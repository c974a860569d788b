"""Who is acting: the authenticated caller, as every slice sees it."""

from __future__ import annotations

from dataclasses import dataclass, field

from coopmarket.core.errors import PermissionDenied

BUYER = "buyer"
COOP_MANAGER = "coop_manager"
VILLAGE_STAFF = "village_staff"
STREET_STAFF = "street_staff"
DISTRICT_STAFF = "district_staff"
STAFF_ROLES = frozenset({VILLAGE_STAFF, STREET_STAFF, DISTRICT_STAFF})
ALL_ROLES = frozenset({BUYER, COOP_MANAGER, *STAFF_ROLES})
# Roles that may shop: a cooperative manager is also a customer of other cooperatives.
SHOPPER_ROLES = frozenset({BUYER, COOP_MANAGER})


@dataclass(frozen=True)
class Principal:
    id: str
    role: str
    display_name: str
    region_code: str | None = None
    cooperative_ids: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_district_staff(self) -> bool:
        return self.role == DISTRICT_STAFF

    def manages(self, cooperative_id: str) -> bool:
        return cooperative_id in self.cooperative_ids

    def covers_region(self, region_code: str | None) -> bool:
        """Staff scope: their region and everything under it (codes nest by prefix)."""
        if not self.is_staff or self.region_code is None or region_code is None:
            return False
        return region_code.startswith(self.region_code)

    def require_role(self, *roles: str) -> None:
        """403 unless the caller holds one of ``roles``."""
        if self.role not in roles:
            raise PermissionDenied("Your role may not do this.", code="forbidden_role")

    def require_staff(self) -> None:
        if not self.is_staff:
            raise PermissionDenied("Staff only.", code="forbidden_role")
