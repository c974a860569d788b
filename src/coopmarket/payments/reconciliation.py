"""Reconciliation, the payments side, for any provider: compare what a provider lists for a window
with what we recorded, say what differs (``compare``, pure), and keep the report of each run.

A crash between a provider's success and our commit (a webhook that failed or never came, a
buyer who never came back), a refund outcome we never heard of, a refund made outside the
platform: each shows as a ``Discrepancy``. Repairing one goes through the normal flows (exactly
once, as if the webhook had arrived) and is ``flows.reconciliation``'s; this module only reads,
compares; ``reconciliation_runs`` keeps the reports. Functions that receive a session join its
transaction and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlmodel import col

from coopmarket.db import Executor
from coopmarket.payments.models import Payment, PaymentRefund
from coopmarket.payments.providers import (
    APPLIED_PAYMENT_STATUSES,
    ListedPayment,
    ListedRefund,
    PaymentStatus,
    RefundState,
    Window,
)

# Our payments recorded this close to a window's edges may sit on the provider's side of it
# (their clocks and ours differ by the time a call takes): not looked for at the provider.
EDGE_MARGIN = timedelta(minutes=1)

# What a discrepancy asks for (``Discrepancy.repair``).
APPLY_PAYMENT = "apply_payment"  # the normal flow, as if the success event had arrived
UPDATE_PAYMENT_STATUS = "update_payment_status"
MARK_REFUND_SUCCEEDED = "mark_refund_succeeded"
REVERSE_REFUND = "reverse_refund"  # flows.refunds.refund_failed
STORE_REFUND_REFERENCE = "store_refund_reference"
NONE = "none"  # a person must look


@dataclass(frozen=True)
class Discrepancy:
    """One difference between the provider's record and ours, and the repair it calls for."""

    kind: str  # payment | refund
    finding: str
    repair: str
    provider_ref: str
    amount_fen: int
    order_id: str | None = None
    refund_id: str | None = None
    status: str | None = None  # the provider's status, for the repair
    detail: str | None = None


@dataclass(frozen=True)
class Finding:
    """What a run found and did: ``action`` is what changed (``none``: a person must look)."""

    discrepancy: Discrepancy
    action: str
    detail: str | None = None

    @property
    def needs_attention(self) -> bool:
        return self.action in (NONE, "failed")


@dataclass(frozen=True)
class OurPayment:
    provider_ref: str
    order_id: str
    status: str
    amount_fen: int


@dataclass(frozen=True)
class OurRefund:
    id: str
    provider_ref: str | None
    status: str
    amount_fen: int
    order_id: str


@dataclass(frozen=True)
class Ours:
    """Our records the provider's listing is compared with."""

    payments: dict[str, OurPayment]  # by provider_ref: those the provider listed
    applied_in_window: list[OurPayment]  # applied payments recorded inside the window
    refunds_by_id: dict[str, OurRefund]
    refunds_by_ref: dict[str, OurRefund]


async def our_records(
    executor: Executor,
    provider: str,
    window: Window,
    payments: Sequence[ListedPayment],
    refunds: Sequence[ListedRefund],
) -> Ours:
    """Read what ``compare`` needs: our payments and refunds the provider listed, by reference or
    by our id, and our applied payments recorded inside the window (less ``EDGE_MARGIN``)."""
    refs = sorted({p.provider_ref for p in payments})
    found: dict[str, OurPayment] = {}
    for chunk in _chunks(refs):
        for payment_row in await executor.execute(
            select(
                col(Payment.provider_ref), col(Payment.order_id), col(Payment.status), col(Payment.amount_fen)
            ).where(col(Payment.provider) == provider, col(Payment.provider_ref).in_(chunk))
        ):
            found[str(payment_row[0])] = OurPayment(
                str(payment_row[0]), str(payment_row[1]), str(payment_row[2]), int(payment_row[3])
            )
    inside = (
        await executor.execute(
            select(
                col(Payment.provider_ref), col(Payment.order_id), col(Payment.status), col(Payment.amount_fen)
            ).where(
                col(Payment.provider) == provider,
                col(Payment.status).in_(APPLIED_PAYMENT_STATUSES),
                col(Payment.created_at) >= window.since + EDGE_MARGIN,
                col(Payment.created_at) < window.until - EDGE_MARGIN,
            )
        )
    ).all()
    applied = [OurPayment(str(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in inside if r[0] is not None]
    by_id: dict[str, OurRefund] = {}
    by_ref: dict[str, OurRefund] = {}
    ids = sorted({r.refund_id for r in refunds if r.refund_id})
    refund_refs = sorted({r.provider_ref for r in refunds})
    columns = (
        col(PaymentRefund.id),
        col(PaymentRefund.provider_ref),
        col(PaymentRefund.status),
        col(PaymentRefund.amount_fen),
        col(PaymentRefund.order_id),
    )
    for chunk in _chunks(ids):
        for row in await executor.execute(select(*columns).where(col(PaymentRefund.id).in_(chunk))):
            by_id[str(row[0])] = OurRefund(str(row[0]), row[1], str(row[2]), int(row[3]), str(row[4]))
    for chunk in _chunks(refund_refs):
        for row in await executor.execute(select(*columns).where(col(PaymentRefund.provider_ref).in_(chunk))):
            by_ref[str(row[1])] = OurRefund(str(row[0]), row[1], str(row[2]), int(row[3]), str(row[4]))
    return Ours(found, applied, by_id, by_ref)


def _chunks(values: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def compare(
    payments: Sequence[ListedPayment], refunds: Sequence[ListedRefund], ours: Ours
) -> list[Discrepancy]:
    """Every difference between the provider's listing and our records, with its repair. Pure."""
    found: list[Discrepancy] = []
    listed = {p.provider_ref for p in payments}
    for payment in payments:
        mine = ours.payments.get(payment.provider_ref)
        applied = mine is not None and mine.status in APPLIED_PAYMENT_STATUSES
        if payment.status == PaymentStatus.SUCCEEDED:
            if not applied:
                found.append(
                    Discrepancy(
                        "payment",
                        "payment_not_applied" if mine is not None else "payment_not_recorded",
                        APPLY_PAYMENT,
                        payment.provider_ref,
                        payment.received_fen,
                        order_id=payment.order_id if mine is None else mine.order_id,
                        detail=f"{payment.received_fen} fen arrived; ours "
                        + ("has no record of it" if mine is None else f"is {mine.status}"),
                    )
                )
            elif (
                mine is not None
                and mine.status == PaymentStatus.SUCCEEDED
                and (payment.received_fen != mine.amount_fen)
            ):
                found.append(
                    Discrepancy(
                        "payment",
                        "amount_differs",
                        NONE,
                        payment.provider_ref,
                        payment.received_fen,
                        order_id=mine.order_id,
                        detail=f"the provider received {payment.received_fen} fen, we applied {mine.amount_fen} fen",
                    )
                )
        elif applied and mine is not None:
            found.append(
                Discrepancy(
                    "payment",
                    "applied_but_not_succeeded",
                    NONE,
                    payment.provider_ref,
                    mine.amount_fen,
                    order_id=mine.order_id,
                    detail=f"ours is {mine.status}, the provider's is {payment.status}",
                )
            )
        elif mine is not None and mine.status != payment.status:
            found.append(
                Discrepancy(
                    "payment",
                    "status_differs",
                    UPDATE_PAYMENT_STATUS,
                    payment.provider_ref,
                    payment.amount_fen,
                    order_id=mine.order_id,
                    status=payment.status,
                    detail=f"ours was {mine.status}, the provider's is {payment.status}",
                )
            )
    for mine in ours.applied_in_window:
        if mine.provider_ref not in listed:
            found.append(
                Discrepancy(
                    "payment",
                    "missing_at_provider",
                    NONE,
                    mine.provider_ref,
                    mine.amount_fen,
                    order_id=mine.order_id,
                    detail=f"we applied {mine.amount_fen} fen; the provider lists no such payment",
                )
            )
    for refund in refunds:
        mine_refund = (ours.refunds_by_id.get(refund.refund_id) if refund.refund_id else None) or (
            ours.refunds_by_ref.get(refund.provider_ref)
        )
        found.extend(_compare_refund(refund, mine_refund))
    return found


def _compare_refund(refund: ListedRefund, mine: OurRefund | None) -> list[Discrepancy]:
    if mine is None:
        return [
            Discrepancy(
                "refund",
                "refund_not_ours",
                NONE,
                refund.provider_ref,
                refund.amount_fen,
                detail=f"a {refund.status} refund of payment {refund.payment_ref} made outside the platform",
            )
        ]

    def found(finding: str, repair: str, detail: str) -> list[Discrepancy]:
        return [
            Discrepancy(
                "refund",
                finding,
                repair,
                refund.provider_ref,
                refund.amount_fen,
                order_id=mine.order_id,
                refund_id=mine.id,
                status=refund.status,
                detail=detail,
            )
        ]

    if refund.amount_fen != mine.amount_fen:
        return found(
            "refund_amount_differs",
            NONE,
            f"the provider refunded {refund.amount_fen} fen, ours is {mine.amount_fen} fen",
        )
    if refund.status == RefundState.FAILED and mine.status in (RefundState.PENDING, RefundState.SUCCEEDED):
        reason = refund.failure_reason or "no reason given"
        return found("refund_failed_at_provider", REVERSE_REFUND, f"ours was {mine.status}; failed: {reason}")
    if refund.status == RefundState.SUCCEEDED and mine.status == RefundState.PENDING:
        return found("refund_outcome_missed", MARK_REFUND_SUCCEEDED, "ours was still pending")
    if refund.status == RefundState.SUCCEEDED and mine.status == RefundState.FAILED:
        return found(
            "refund_succeeded_after_failure",
            NONE,
            "we reversed it as failed, but the provider paid it: the buyer may be paid twice",
        )
    if refund.status == RefundState.PENDING and mine.provider_ref is None:
        return found(
            "refund_reference_missing",
            STORE_REFUND_REFERENCE,
            "the provider took the refund, ours never stored its reference",
        )
    return []
