"""Refusals of the reports slice's statements and payouts, each with a stable ``code``."""

from __future__ import annotations

from coopmarket.core.errors import Conflict, NotFound, PermissionDenied


class PayoutExceedsPayable(Conflict):
    """A payout above what the platform owes the cooperative."""

    default_code = "payout_exceeds_payable"


class PayoutNotFound(NotFound):
    default_code = "payout_not_found"


class PayoutAlreadyReversed(Conflict):
    default_code = "payout_already_reversed"


class OwnCooperative(PermissionDenied):
    """Separation of duties: a staff member who manages a cooperative may not pay it out."""

    default_code = "own_cooperative"


class IncomeNotFound(NotFound):
    default_code = "income_not_found"


class IncomeAlreadyReversed(Conflict):
    default_code = "income_already_reversed"


class ContractInRegister(Conflict):
    """Contracting income of a contract kept in the register comes in through its receipts."""

    default_code = "contract_in_register"
