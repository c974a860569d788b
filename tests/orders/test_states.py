"""The order state machine (``orders/states.py``), pure: the moves, the close rule, and properties
of any sequence of events an order can go through.

The expectations are written out here from the domain (DOMAIN.md, the README), not read back from
the module: a change to the machine must change this file too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coopmarket.orders import states
from coopmarket.orders.states import OrderEvent, OrderStatus, PartEvent, PartStatus

OPEN = {"pending_payment", "paid", "shipped"}
TERMINAL_PART = {"received", "cancelled", "refunded"}
TERMINAL_ORDER = {"completed", "cancelled"}
# Every move a part may make: (event, from) -> to. Anything else is refused.
EXPECTED_PART_MOVES = {
    ("pay", "pending_payment"): "paid",
    ("ship", "paid"): "shipped",
    ("receive", "shipped"): "received",
    ("cancel", "pending_payment"): "cancelled",
    ("cancel", "paid"): "refunded",
    ("refund_in_full", "paid"): "refunded",
}


# ------------------------------------------------------------------ the moves, one by one


@pytest.mark.parametrize("event", list(PartEvent))
@pytest.mark.parametrize("status", list(PartStatus))
def test_a_part_moves_only_as_the_domain_says(event: PartEvent, status: PartStatus) -> None:
    assert states.part_move(status, event) == EXPECTED_PART_MOVES.get((event.value, status.value))


@pytest.mark.parametrize("event", list(OrderEvent))
@pytest.mark.parametrize("status", list(OrderStatus))
def test_an_order_is_paid_or_expires_only_while_it_awaits_payment(
    event: OrderEvent, status: OrderStatus
) -> None:
    expected = {"pay": "paid", "expire": "cancelled"}[event.value] if status == "pending_payment" else None
    assert states.order_move(status, event) == expected


def test_the_sources_of_an_event_are_the_statuses_it_moves() -> None:
    assert states.sources(PartEvent.CANCEL) == ("paid", "pending_payment")
    assert states.only_move(PartEvent.SHIP) == ("paid", "shipped")
    assert states.only_move(PartEvent.RECEIVE) == ("shipped", "received")
    assert states.only_move(PartEvent.REFUND_IN_FULL) == ("paid", "refunded")
    with pytest.raises(ValueError):
        states.only_move(PartEvent.CANCEL)  # two sources: not a single move


def test_the_named_sets_of_statuses() -> None:
    assert states.OPEN_PART_STATUSES == OPEN
    assert states.TERMINAL_PART_STATUSES == TERMINAL_PART
    assert states.TERMINAL_ORDER_STATUSES == TERMINAL_ORDER
    assert states.PAID_PART_STATUSES == {"paid", "shipped", "received", "refunded"}
    # A refunded part is refundable only for what a failed refund gave back (within what is left).
    assert states.REFUNDABLE_PART_STATUSES == {"paid", "shipped", "received", "refunded"}
    assert states.SHIPPED_PART_STATUSES == {"shipped", "received"}


@pytest.mark.parametrize(
    ("parts", "closes_as"),
    [
        (["pending_payment"], None),
        (["paid", "cancelled"], None),
        (["shipped", "received"], None),
        (["received"], "completed"),
        (["received", "refunded", "cancelled"], "completed"),
        (["cancelled"], "cancelled"),
        (["refunded", "cancelled"], "cancelled"),
    ],
)
def test_the_close_rule(parts: list[str], closes_as: str | None) -> None:
    assert states.closing_status(parts) == closes_as


def test_an_unknown_status_is_an_error_not_a_silent_no() -> None:
    with pytest.raises(ValueError):
        states.part_move("lost_in_the_post", PartEvent.SHIP)


# ------------------------------------------------------------------ sequences of events


@dataclass
class SimulatedOrder:
    """An order as the services move it: each event through the module, then the close rule."""

    status: str = "pending_payment"
    parts: list[str] = field(default_factory=list)

    def apply(self, event: str, index: int) -> bool:
        """Apply ``event`` (to part ``index`` for part events); False when the machine refuses it."""
        if event in ("pay", "expire"):
            order_event = OrderEvent(event)
            moved = states.order_move(self.status, order_event)
            if moved is None:
                return False
            part_event = states.PART_EVENT_OF[order_event]
            # The order event moves every part still awaiting payment (the services' bulk UPDATE).
            self.parts = [
                (states.part_move(p, part_event) or p) if p == PartStatus.PENDING_PAYMENT else p
                for p in self.parts
            ]
            self.status = moved
            return True
        i = index % len(self.parts)
        to = states.part_move(self.parts[i], PartEvent(event))
        if to is None:
            return False
        if event in ("ship", "receive", "refund_in_full") and self.status != "paid":
            return False  # a part is shipped, received or refunded only in a paid order
        self.parts[i] = to
        # The close rule, after every part move (receive, cancel, refund in full).
        self.status = states.closing_status(self.parts) or self.status
        return True


EVENTS = st.tuples(
    st.sampled_from(["pay", "expire", "ship", "receive", "cancel", "refund_in_full"]),
    st.integers(min_value=0, max_value=9),
)


def _consistent(order: SimulatedOrder) -> None:
    """The order's status says what its parts say."""
    open_parts = [p for p in order.parts if p in OPEN]
    if open_parts:
        assert order.status in ("pending_payment", "paid"), order
        # Parts are paid together, with their order: an order awaiting payment has no paid part,
        # and a paid order no part awaiting payment.
        awaiting = [p for p in order.parts if p == "pending_payment"]
        assert (order.status == "pending_payment") == bool(awaiting), order
        if order.status == "pending_payment":
            assert set(order.parts) <= {"pending_payment", "cancelled"}, order
    else:
        assert order.status == ("completed" if "received" in order.parts else "cancelled"), order


@settings(max_examples=400, deadline=None)
@given(parts=st.integers(min_value=1, max_value=4), events=st.lists(EVENTS, max_size=40))
def test_any_sequence_of_events_keeps_the_order_consistent_with_its_parts(
    parts: int, events: list[tuple[str, int]]
) -> None:
    order = SimulatedOrder(parts=["pending_payment"] * parts)
    _consistent(order)
    for event, index in events:
        before_status, before_parts = order.status, list(order.parts)
        applied = order.apply(event, index)

        _consistent(order)
        # Terminal states stay terminal.
        if before_status in TERMINAL_ORDER:
            assert not applied and order.status == before_status
        for before, after in zip(before_parts, order.parts, strict=True):
            if before in TERMINAL_PART:
                assert after == before
            elif before != after:
                assert (event if event not in ("expire",) else "cancel", before) in EXPECTED_PART_MOVES
        # Closing happens exactly when the last open part closes.
        was_open = any(p in OPEN for p in before_parts)
        is_open = any(p in OPEN for p in order.parts)
        closed_now = before_status not in TERMINAL_ORDER and order.status in TERMINAL_ORDER
        assert closed_now == (was_open and not is_open), (event, before_parts, order)


@settings(max_examples=200, deadline=None)
@given(parts=st.integers(min_value=1, max_value=4), events=st.lists(EVENTS, max_size=40))
def test_an_order_that_was_paid_is_never_awaiting_payment_again(
    parts: int, events: list[tuple[str, int]]
) -> None:
    order = SimulatedOrder(parts=["pending_payment"] * parts)
    paid = False
    for event, index in events:
        order.apply(event, index)
        paid = paid or order.status == "paid"
        if paid:
            assert order.status != "pending_payment"
            assert "pending_payment" not in order.parts
