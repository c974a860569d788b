"""The order state machine, pure: statuses, the moves each event allows, and when an order closes.

::

    part:   pending_payment ─pay→ paid ─ship→ shipped ─receive→ received
            pending_payment ─cancel→ cancelled        (cancelled before payment, or the order expired)
            paid ─cancel | refund_in_full→ refunded   (cancelled after payment, or refunded in full
                                                        before shipping)
    order:  pending_payment ─pay→ paid
            pending_payment ─expire→ cancelled        (every part, all pending, is cancelled)
            open → completed | cancelled              (the close rule below)

**The close rule**, written once (``closing_status``): an order stays open while one of its parts
is open (pending payment, paid or shipped); when the last open part closes, the order closes,
``completed`` when a part was received, ``cancelled`` otherwise. Received, cancelled and refunded
parts, and completed and cancelled orders, never move again.

The services apply what this module decides, each move as a conditional UPDATE on the status it
starts from (``sources``), so two requests cannot both apply one move.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class PartStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    SHIPPED = "shipped"
    RECEIVED = "received"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


class RefundStatus(StrEnum):
    """A refund request: the buyer's waits for a decision; a decider's is approved at once."""

    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    FAILED = "failed"  # approved, but the provider could not pay it back (the amount is refundable again)


class PartEvent(StrEnum):
    PAY = "pay"  # the order's payment arrived
    SHIP = "ship"  # its cooperative shipped it
    RECEIVE = "receive"  # the buyer confirmed receipt, or the hold period passed
    CANCEL = "cancel"  # the buyer, its cooperative or staff cancelled it, or the order expired
    REFUND_IN_FULL = "refund_in_full"  # refunds of a paid part reached its subtotal before shipping


class OrderEvent(StrEnum):
    PAY = "pay"  # paid in full: every pending part is paid with it
    EXPIRE = "expire"  # not paid in time: every pending part is cancelled with it


PART_MOVES: Mapping[PartEvent, Mapping[PartStatus, PartStatus]] = {
    PartEvent.PAY: {PartStatus.PENDING_PAYMENT: PartStatus.PAID},
    PartEvent.SHIP: {PartStatus.PAID: PartStatus.SHIPPED},
    PartEvent.RECEIVE: {PartStatus.SHIPPED: PartStatus.RECEIVED},
    PartEvent.CANCEL: {
        PartStatus.PENDING_PAYMENT: PartStatus.CANCELLED,
        PartStatus.PAID: PartStatus.REFUNDED,
    },
    PartEvent.REFUND_IN_FULL: {PartStatus.PAID: PartStatus.REFUNDED},
}
ORDER_MOVES: Mapping[OrderEvent, Mapping[OrderStatus, OrderStatus]] = {
    OrderEvent.PAY: {OrderStatus.PENDING_PAYMENT: OrderStatus.PAID},
    OrderEvent.EXPIRE: {OrderStatus.PENDING_PAYMENT: OrderStatus.CANCELLED},
}
# What an order event does to its parts.
PART_EVENT_OF: Mapping[OrderEvent, PartEvent] = {
    OrderEvent.PAY: PartEvent.PAY,
    OrderEvent.EXPIRE: PartEvent.CANCEL,
}

OPEN_PART_STATUSES: frozenset[PartStatus] = frozenset(
    {PartStatus.PENDING_PAYMENT, PartStatus.PAID, PartStatus.SHIPPED}
)
TERMINAL_PART_STATUSES: frozenset[PartStatus] = frozenset(PartStatus) - OPEN_PART_STATUSES
OPEN_ORDER_STATUSES: frozenset[OrderStatus] = frozenset({OrderStatus.PENDING_PAYMENT, OrderStatus.PAID})
TERMINAL_ORDER_STATUSES: frozenset[OrderStatus] = frozenset(OrderStatus) - OPEN_ORDER_STATUSES
# Parts whose money was paid (a refunded part was paid, then paid back).
PAID_PART_STATUSES: frozenset[PartStatus] = frozenset(
    {PartStatus.PAID, PartStatus.SHIPPED, PartStatus.RECEIVED, PartStatus.REFUNDED}
)
# Parts on their way or delivered: the buyer no longer cancels, the cooperative does.
SHIPPED_PART_STATUSES: frozenset[PartStatus] = frozenset({PartStatus.SHIPPED, PartStatus.RECEIVED})
# Parts whose money can be (partly) refunded on request, within what is left of it: a refunded
# part has nothing left, unless a provider could not pay its refund back (``refund_failed``).
REFUNDABLE_PART_STATUSES: frozenset[PartStatus] = frozenset(
    {PartStatus.PAID, PartStatus.SHIPPED, PartStatus.RECEIVED, PartStatus.REFUNDED}
)


def part_move(status: str, event: PartEvent) -> PartStatus | None:
    """Where ``event`` takes a part that is ``status``; ``None`` when it does not apply."""
    return PART_MOVES[event].get(PartStatus(status))


def order_move(status: str, event: OrderEvent) -> OrderStatus | None:
    """Where ``event`` takes an order that is ``status``; ``None`` when it does not apply."""
    return ORDER_MOVES[event].get(OrderStatus(status))


def sources(event: PartEvent) -> tuple[PartStatus, ...]:
    """The part statuses ``event`` applies to (for the ``WHERE status IN …`` of its UPDATE)."""
    return tuple(sorted(PART_MOVES[event]))


def only_move(event: PartEvent) -> tuple[PartStatus, PartStatus]:
    """(from, to) of an event that applies to one part status only (ship, receive, a full refund)."""
    [(source, to)] = PART_MOVES[event].items()
    return source, to


def closing_status(part_statuses: Iterable[str]) -> OrderStatus | None:
    """The close rule: what an order whose parts are ``part_statuses`` becomes.

    ``None`` while a part is open; ``completed`` when none is and one was received; ``cancelled``
    otherwise (every part was cancelled or refunded).
    """
    statuses = [PartStatus(s) for s in part_statuses]
    if any(s in OPEN_PART_STATUSES for s in statuses):
        return None
    return OrderStatus.COMPLETED if PartStatus.RECEIVED in statuses else OrderStatus.CANCELLED
