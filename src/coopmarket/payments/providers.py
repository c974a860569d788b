"""The one interface every payment provider sits behind, and the values that cross it.

A provider (``offline.OfflineProvider``, ``stripe_provider.StripeProvider``; WeChat Pay next) does
I/O and translation only: ``start`` asks it to start or resume a payment, ``refund`` to send a
refund, ``parse_event`` to verify and read a callback, ``list_payments`` and ``list_refunds`` to
say what it holds for a time window (for reconciliation). Each returns a value and never touches
a session, the ledger or another slice; ``flows.payment``, ``flows.reconciliation`` and
``payments.jobs`` apply what they return, in a unit of work opened before or after the call,
never around it.

Providers are built once per app, with their HTTP clients, in ``app.py``'s lifespan
(``registry.open_providers``) and kept on ``app.state.payment_providers``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, TypeAlias

OFFLINE = "offline"
STRIPE = "stripe"
WECHAT_PAY = "wechat_pay"


class PaymentStatus(StrEnum):
    """A ``Payment``'s status. ``refunded``: the money could not pay its order and went back in full."""

    REQUIRES_PAYMENT = "requires_payment"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"
    FAILED = "failed"
    REFUNDED = "refunded"


# A payment whose money has been accounted for: a success is applied once, from neither.
APPLIED_PAYMENT_STATUSES: frozenset[PaymentStatus] = frozenset(
    {PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED}
)


class RefundState(StrEnum):
    """A ``PaymentRefund``'s status: ``pending`` until the provider (or a person, offline) confirms."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


# ---------------------------------------------------------------- starting a payment


@dataclass(frozen=True)
class StartRequest:
    """Start paying ``amount_fen`` for ``order_id``, or resume the payment known as ``resume_ref``."""

    order_id: str
    amount_fen: int
    pay_before: datetime
    resume_ref: str | None = None
    # The buyer's WeChat openid (WeChat Pay JSAPI pays as this user; others ignore it).
    payer_openid: str | None = None
    description: str | None = None
    # WeChat Pay partner mode: the sub-merchant the money settles to (the order's cooperative's).
    sub_merchant: str | None = None


@dataclass(frozen=True)
class Started:
    """The provider's answer to ``start``.

    ``provider_ref`` and ``status`` describe the payment to record (``None`` when there is none:
    offline money is recorded when it arrives); ``received_fen`` is what arrived when the payment
    ``succeeded`` already. The ``client_*`` fields and ``next_action`` go to the buyer's app.
    """

    provider: str
    provider_ref: str | None
    status: PaymentStatus | None
    amount_fen: int
    received_fen: int
    client_status: str
    client_secret: str | None
    next_action: dict[str, Any] | None
    currency: str = "cny"


# ---------------------------------------------------------------- refunds


@dataclass(frozen=True)
class RefundOrder:
    """Send refund ``refund_id`` of ``amount_fen`` from the payment the provider knows as ``payment_ref``.

    ``refund_id`` is the provider's idempotency key (``out_refund_no`` for WeChat Pay): sending it
    twice refunds once.
    """

    refund_id: str
    payment_ref: str
    amount_fen: int
    payment_amount_fen: int
    reason: str | None = None


@dataclass(frozen=True)
class RefundSent:
    """The provider accepted a refund: its reference and status (``pending`` until it confirms)."""

    provider_ref: str
    status: RefundState


# ---------------------------------------------------------------- events (webhooks, notifications)


@dataclass(frozen=True)
class PaymentSucceeded:
    """Money arrived for ``provider_ref``; ``order_id`` from the provider's metadata, when it has it."""

    provider_ref: str
    amount_fen: int
    order_id: str | None
    currency: str = "cny"


@dataclass(frozen=True)
class PaymentStatusChanged:
    """A payment's non-final status (``processing``, ``failed``, ``canceled``…)."""

    provider_ref: str
    status: PaymentStatus


@dataclass(frozen=True)
class RefundUpdated:
    """A refund's outcome; ``refund_id`` (our id, from the provider's metadata) when it has it."""

    provider_ref: str
    status: RefundState
    refund_id: str | None
    failure_reason: str | None = None


Change: TypeAlias = PaymentSucceeded | PaymentStatusChanged | RefundUpdated


@dataclass(frozen=True)
class ProviderEvent:
    """A verified callback: its id (applied once), type, and what it reports (nothing: ignored)."""

    id: str
    type: str
    changes: tuple[Change, ...] = field(default=())


# ---------------------------------------------------------------- listings (reconciliation)


@dataclass(frozen=True)
class Window:
    """Objects the provider created at or after ``since`` and before ``until`` (aware datetimes)."""

    since: datetime
    until: datetime


@dataclass(frozen=True)
class ListedPayment:
    """A payment as the provider holds it: ``received_fen`` is what arrived (0 until it succeeded);
    ``order_id`` from the provider's metadata, when it has it."""

    provider_ref: str
    status: PaymentStatus
    amount_fen: int
    received_fen: int
    order_id: str | None
    created_at: datetime
    currency: str = "cny"
    transaction_id: str | None = None  # the provider's own id when it differs from ``provider_ref``


@dataclass(frozen=True)
class ListedRefund:
    """A refund as the provider holds it: of the payment ``payment_ref``; ``refund_id`` is our id
    (from the provider's metadata, or its merchant refund number) when the refund is ours."""

    provider_ref: str
    payment_ref: str | None
    amount_fen: int
    status: RefundState
    refund_id: str | None
    created_at: datetime
    failure_reason: str | None = None


# ---------------------------------------------------------------- the interface


class PaymentProvider(Protocol):
    """What every provider offers. Implementations do I/O and translation only."""

    @property
    def name(self) -> str:
        """``offline``, ``stripe``…: the ``Payment.provider`` and the ledger's ``cash:{name}``."""
        ...

    @property
    def sends_refunds(self) -> bool:
        """Whether ``refund`` sends money back through the provider (offline: people hand it back)."""
        ...

    @property
    def keeps_records(self) -> bool:
        """Whether the provider holds records of its own to reconcile ours with (offline: no)."""
        ...

    async def start(self, request: StartRequest) -> Started:
        """Start or resume a payment; ``ProviderUnavailable`` when the provider cannot be reached."""
        ...

    async def refund(self, request: RefundOrder) -> RefundSent:
        """Send a refund; ``RefundRefused`` when refused for good, ``ProviderUnavailable`` to retry later."""
        ...

    def parse_event(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """Verify a callback on its raw bytes and read it; ``InvalidSignature``/``InvalidPayload`` otherwise."""
        ...

    async def list_payments(self, window: Window) -> Sequence[ListedPayment]:
        """Every payment the provider created in ``window`` (all pages); ``ProviderUnavailable`` otherwise.

        A provider with nothing to list (offline money) answers an empty sequence.
        """
        ...

    async def list_refunds(self, window: Window) -> Sequence[ListedRefund]:
        """Every refund the provider created in ``window`` (all pages); ``ProviderUnavailable`` otherwise."""
        ...

    @property
    def can_query(self) -> bool:
        """Whether ``query_payment``/``query_refund``/``close_payment`` ask the provider (WeChat Pay,
        which cannot list by time); others answer None/False without I/O."""
        ...

    async def query_payment(self, provider_ref: str) -> ListedPayment | None:
        """One payment as the provider holds it; None when unknown (or not queryable)."""
        ...

    async def query_refund(self, refund_id: str) -> ListedRefund | None:
        """Our refund ``refund_id`` as the provider holds it; None when unknown (or not queryable)."""
        ...

    async def close_payment(self, provider_ref: str) -> bool:
        """Close an unpaid payment so that it can no longer be paid (an expired order); True when closed."""
        ...


class NoQueries:
    """``can_query`` False and the query methods of a provider that lists instead (or keeps nothing)."""

    can_query = False

    async def query_payment(self, provider_ref: str) -> ListedPayment | None:
        return None

    async def query_refund(self, refund_id: str) -> ListedRefund | None:
        return None

    async def close_payment(self, provider_ref: str) -> bool:
        return False
