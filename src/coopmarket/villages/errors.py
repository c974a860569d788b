"""Refusals of the villages slice, each with a stable ``code``."""

from __future__ import annotations

from coopmarket.core.errors import Conflict, NotFound, ValidationFailed


class VillageNotFound(NotFound):
    """Not a village-level region, or not in the caller's scope."""

    default_code = "village_not_found"


class RegionNotFound(NotFound):
    default_code = "region_not_found"


class AssetNotFound(NotFound):
    default_code = "asset_not_found"


class ContractNotFound(NotFound):
    default_code = "contract_not_found"


class InstalmentNotFound(NotFound):
    default_code = "instalment_not_found"


class FlagNotFound(NotFound):
    """No open flag with this code on the contract's lineage."""

    default_code = "flag_not_found"


class ContractNotCurrent(Conflict):
    """The entry was already amended, renewed or terminated: act on the entry that follows it."""

    default_code = "contract_not_current"


class AmendmentOverlapsSettledPeriod(Conflict):
    """An amendment may not start inside a period that already received money or a write-off."""

    default_code = "amendment_overlaps_settled_period"


class ReceiptExceedsDue(Conflict):
    default_code = "receipt_exceeds_due"


class DuplicateReceiptReference(Conflict):
    default_code = "duplicate_receipt_reference"


class InstalmentCancelled(Conflict):
    default_code = "instalment_cancelled"


class InstalmentNotInArrears(Conflict):
    default_code = "instalment_not_in_arrears"


class InstalmentSettled(Conflict):
    default_code = "instalment_settled"


class DateInFuture(ValidationFailed):
    default_code = "date_in_future"


class InvalidTerm(ValidationFailed):
    default_code = "invalid_term"


class InvalidCounterparty(ValidationFailed):
    default_code = "invalid_counterparty"


class InvalidIdentityNumber(ValidationFailed):
    default_code = "invalid_identity_number"


class InvalidUscc(ValidationFailed):
    default_code = "invalid_uscc"


class UnknownCooperative(ValidationFailed):
    default_code = "unknown_cooperative"


class UnknownAsset(ValidationFailed):
    default_code = "unknown_asset"


class InvalidSize(ValidationFailed):
    default_code = "invalid_size"


class InvalidValuation(ValidationFailed):
    default_code = "invalid_valuation"


class InvalidDateRange(ValidationFailed):
    default_code = "invalid_date_range"
