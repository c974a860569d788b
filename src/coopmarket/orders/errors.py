"""Refusals of the orders slice, each with a stable ``code``."""

from __future__ import annotations

from coopmarket.core.errors import Conflict, NotFound, RuleViolated, ValidationFailed


class OrderNotFound(NotFound):
    """Unknown, or not the caller's to see (another tenant's order answers the same)."""

    default_code = "order_not_found"


class OrderPartNotFound(NotFound):
    default_code = "order_part_not_found"


class RefundNotFound(NotFound):
    default_code = "refund_not_found"


class InvalidTransition(Conflict):
    """The state machine does not allow the move from the current status."""

    default_code = "invalid_transition"


class ConcurrentUpdate(Conflict):
    """Another request changed the order between our read and our conditional update."""

    default_code = "concurrent_update"


class OrderAlreadyShipped(Conflict):
    default_code = "order_already_shipped"


class OrderNotPayable(Conflict):
    default_code = "order_not_payable"


class OrderExpired(Conflict):
    default_code = "order_expired"


class OutOfStock(Conflict):
    default_code = "out_of_stock"


class RefundOverLimit(Conflict):
    """A conditional update found the refund above what is left (a concurrent refund took it)."""

    default_code = "refund_exceeds_paid"


class RefundExceedsRefundable(RuleViolated):
    """The requested amount is above what the part has left to refund."""

    default_code = "refund_exceeds_paid"


class DuplicateSku(ValidationFailed):
    default_code = "duplicate_sku"


class UnknownSku(ValidationFailed):
    """Unknown, or not on sale (archived, or its cooperative not approved): ids cannot be probed."""

    default_code = "unknown_sku"


class InvalidRegion(ValidationFailed):
    default_code = "invalid_region"


class PaymentMethodUnavailable(ValidationFailed):
    default_code = "payment_method_unavailable"


class CooperativeSuspended(Conflict):
    """A cooperative of the order (or of a SKU ordered) is suspended: nobody orders from it, and
    its unpaid orders cannot be paid."""

    default_code = "cooperative_suspended"


class PhoneNotRevealable(Conflict):
    """Only a part that is to be shipped or is on its way needs the buyer's full number."""

    default_code = "phone_not_revealable"
