"""Refusals of the coops slice, each with a stable ``code``."""

from __future__ import annotations

from coopmarket.core.errors import Conflict, NotFound, ValidationFailed


class CooperativeNotFound(NotFound):
    """Unknown, or outside the caller's view (another tenant's cooperative answers the same)."""

    default_code = "cooperative_not_found"


class MemberNotFound(NotFound):
    default_code = "member_not_found"


class UsccTaken(Conflict):
    default_code = "uscc_taken"


class InvalidTransition(Conflict):
    default_code = "invalid_transition"


class CooperativeNotEditable(Conflict):
    default_code = "cooperative_not_editable"


class CollectiveMemberExists(Conflict):
    default_code = "collective_member_exists"


class LicenceNotFound(NotFound):
    """Unknown, or not the caller's to see (another cooperative's licence answers the same)."""

    default_code = "licence_not_found"


class LicenceExpired(Conflict):
    """A decision on a licence whose term is over."""

    default_code = "licence_expired"


class MemberCapitalCapExceeded(Conflict):
    """A capital increase would give one member more of the cooperative's capital than its charter allows."""

    default_code = "member_capital_cap_exceeded"


class CapitalBelowZero(Conflict):
    """A capital decrease larger than the member's capital."""

    default_code = "capital_below_zero"


class InvalidIdNumber(ValidationFailed):
    """Not a valid 居民身份证号 (GB 11643: date of birth and check character)."""

    default_code = "invalid_id_number"


class UserNotFound(NotFound):
    default_code = "user_not_found"


class ManagerNotFound(NotFound):
    default_code = "manager_not_found"


class AlreadyManager(Conflict):
    default_code = "already_manager"


class LastManager(Conflict):
    """A cooperative keeps at least one manager."""

    default_code = "last_manager"


class StaffCannotManage(Conflict):
    default_code = "staff_cannot_manage"
