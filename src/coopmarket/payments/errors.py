"""Refusals of the payments slice, each with a stable ``code``."""

from __future__ import annotations

from coopmarket.core.errors import BadRequest, Conflict, NotFound, RuleViolated, UpstreamUnavailable


class PaymentMethodUnavailable(RuleViolated):
    """The provider asked for is not enabled on this server."""

    default_code = "payment_method_unavailable"


class ProviderNotEnabled(NotFound):
    """A provider's callback reached a server where that provider is not enabled."""

    default_code = "provider_not_enabled"


class ProviderUnavailable(UpstreamUnavailable):
    """The provider did not answer, or refused our credentials; retry later."""

    default_code = "payment_provider_unavailable"


class InvalidSignature(BadRequest):
    default_code = "invalid_signature"


class InvalidPayload(BadRequest):
    default_code = "invalid_payload"


class PaymentAlreadyRecorded(Conflict):
    default_code = "payment_already_recorded"


class NoPaymentToRefund(Conflict):
    default_code = "no_payment_to_refund"


class AmountMismatch(RuleViolated):
    """An offline payment must be the order's outstanding total."""

    default_code = "amount_mismatch"


class RefundRefused(Exception):
    """The provider refused a refund for good (already refunded, amount too large…): a person must look.

    Not an HTTP problem: only the refund sender sees it.
    """


class RefundNotFound(NotFound):
    """Unknown, or not the caller's to see."""

    default_code = "refund_not_found"


class RefundNotOffline(Conflict):
    """Only an offline refund is handed back by people; a provider pays back its own."""

    default_code = "refund_not_offline"


class RefundNotOutstanding(Conflict):
    """The refund was handed back already, or failed: nothing is outstanding."""

    default_code = "refund_not_outstanding"


class WechatOpenidMissing(Conflict):
    """WeChat Pay (JSAPI) pays as the buyer's WeChat user: the account has no openid (never signed in
    through the mini-program)."""

    default_code = "wechat_openid_missing"
