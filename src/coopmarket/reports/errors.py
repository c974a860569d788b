"""Refusals of the reports slice's statements and payouts, each with a stable ``code``."""

from __future__ import annotations

from coopmarket.core.errors import Conflict, NotFound, PermissionDenied, RuleViolated, ValidationFailed


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


class StatementTooLong(ValidationFailed):
    """An export of more lines than one file holds: the caller narrows the dates."""

    default_code = "statement_too_long"


class IncomeNotFound(NotFound):
    default_code = "income_not_found"


class IncomeAlreadyReversed(Conflict):
    default_code = "income_already_reversed"


class ContractInRegister(Conflict):
    """Contracting income of a contract kept in the register comes in through its receipts."""

    default_code = "contract_in_register"


class PatronageBelowMinimum(RuleViolated):
    """Art. 44: at least 60% of the distributable surplus is returned by transaction volume."""

    default_code = "patronage_below_minimum"


class YearAlreadyDistributed(Conflict):
    """A cooperative's surplus for a year is distributed once."""

    default_code = "year_already_distributed"


class SurplusDistributionNotFound(NotFound):
    default_code = "surplus_distribution_not_found"


class NoSurplus(RuleViolated):
    """Art. 44: only a surplus (after covering losses) is distributed."""

    default_code = "no_surplus"


class SurplusReasonRequired(RuleViolated):
    """A surplus entered by hand (books kept elsewhere) needs its reason."""

    default_code = "surplus_reason_required"


class NoMemberVolume(RuleViolated):
    """No member traded with the cooperative that year: nothing to return by transaction volume."""

    default_code = "no_member_volume"


class NoMemberCapital(RuleViolated):
    """No member has capital or a reserve share to return the capital pool by."""

    default_code = "no_member_capital"


class DisclosureNotFound(NotFound):
    default_code = "disclosure_not_found"


class PeriodNotClosed(ValidationFailed):
    """Only a period that has ended (local time) is disclosed: its figures are final."""

    default_code = "period_not_closed"


class DisclosureExists(Conflict):
    """A village's period is published once; a change is a correction naming the one it corrects."""

    default_code = "disclosure_exists"


class InvalidCorrection(ValidationFailed):
    """``corrects`` names no disclosure of the same village and period."""

    default_code = "invalid_correction"


class DisclosureAlreadyCorrected(Conflict):
    """A disclosure is corrected once; correct the correction instead."""

    default_code = "disclosure_already_corrected"


class MessageNotFound(NotFound):
    default_code = "disclosure_message_not_found"


class MessageAlreadyDecided(Conflict):
    default_code = "message_already_decided"
