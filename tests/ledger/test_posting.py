"""The pure double-entry rules: balanced transactions, account names, the settlement split."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coopmarket.ledger import posting
from coopmarket.ledger.posting import Entry

COOP = "01hcoop0000000000000000001"
VILLAGE = "370704003200"

subtotals = st.integers(min_value=0, max_value=10**11)
bps = st.integers(min_value=0, max_value=10_000)


# --- build_transaction ---------------------------------------------------------------------


def test_build_transaction_keeps_every_entry_as_given() -> None:
    # Given two credits to the same account / When built / Then nothing is merged
    entries = [Entry("cash:offline", 300), Entry("escrow:coop:a", -100), Entry("escrow:coop:a", -200)]
    assert posting.build_transaction(entries).entries == tuple(entries)


@pytest.mark.parametrize(
    "entries",
    [
        [Entry("cash:offline", 100), Entry("escrow:coop:a", -99)],
        [Entry("cash:offline", 100)],
        [],
        [Entry("cash:offline", 0), Entry("escrow:coop:a", 0)],
        [Entry("cash:offline", 100), Entry("escrow:coop:a", -100), Entry("payable:coop:a", 0)],
    ],
    ids=["unbalanced", "one-entry", "empty", "all-zero", "a-zero-entry"],
)
def test_build_transaction_refuses_what_cannot_be_posted(entries: list[Entry]) -> None:
    with pytest.raises(posting.LedgerUnbalanced) as refused:
        posting.build_transaction(entries)
    assert refused.value.code == "ledger_unbalanced"
    assert refused.value.status_code == 422


def test_build_transaction_refuses_a_non_integer_amount() -> None:
    with pytest.raises(posting.LedgerUnbalanced):
        posting.build_transaction([Entry("cash:offline", 1.5), Entry("escrow:coop:a", -1.5)])  # type: ignore[arg-type]


@given(
    amounts=st.lists(st.integers(min_value=-(10**12), max_value=10**12).filter(bool), min_size=1, max_size=6)
)
def test_build_transaction_accepts_any_balanced_set(amounts: list[int]) -> None:
    # Given any non-zero amounts and one balancing entry (unless they already balance)
    entries = [Entry(f"acct:{i}", a) for i, a in enumerate(amounts)]
    if sum(amounts) != 0:
        entries.append(Entry("acct:balance", -sum(amounts)))
    if len(entries) < 2:
        return
    # When built / Then it is accepted as is
    assert posting.build_transaction(entries).entries == tuple(entries)


# --- account names -------------------------------------------------------------------------


def test_account_names_follow_the_chart() -> None:
    assert posting.cash("offline") == "cash:offline"
    assert posting.escrow(COOP) == f"escrow:coop:{COOP}"
    assert posting.coop_payable(COOP) == f"payable:coop:{COOP}"
    assert posting.PLATFORM_FEE == "revenue:platform_fee"
    assert posting.collective_income(VILLAGE) == f"collective_income:{VILLAGE}:operating_income"
    assert (
        posting.collective_income(VILLAGE, "subsidy_income") == f"collective_income:{VILLAGE}:subsidy_income"
    )


@pytest.mark.parametrize(
    ("village_code", "category"),
    [(VILLAGE, "dividends"), ("370704003", "operating_income"), ("37070400320x", "operating_income")],
)
def test_collective_income_refuses_unknown_categories_and_codes(village_code: str, category: str) -> None:
    with pytest.raises(posting.InvalidAccount):
        posting.collective_income(village_code, category)


@pytest.mark.parametrize("value", ["", "a:b", "a b"])
def test_account_parts_may_not_break_the_name(value: str) -> None:
    with pytest.raises(posting.InvalidAccount):
        posting.escrow(value)


def test_parse_collective_income_reads_village_and_category() -> None:
    assert posting.parse_collective_income(f"collective_income:{VILLAGE}:investment_income") == (
        VILLAGE,
        "investment_income",
    )
    assert posting.parse_collective_income(f"payable:coop:{COOP}") is None
    assert posting.parse_collective_income(f"collective_income:{VILLAGE}:bogus") is None


# --- settlement_split ----------------------------------------------------------------------


@given(amount=subtotals, fee_bps=bps, collective_bps=bps)
def test_settlement_split_sums_to_the_subtotal(amount: int, fee_bps: int, collective_bps: int) -> None:
    assert sum(posting.settlement_split(amount, fee_bps, collective_bps)) == amount


@given(amount=subtotals, fee_bps=bps, collective_bps=bps)
def test_settlement_split_parts_are_within_one_fen_of_exact(
    amount: int, fee_bps: int, collective_bps: int
) -> None:
    # Given the collective share capped at what the fee leaves
    capped = min(collective_bps, 10_000 - fee_bps)
    exact = [Fraction(amount * w, 10_000) for w in (fee_bps, capped, 10_000 - fee_bps - capped)]
    # When split / Then each part is within one fen of its exact share
    for part, share in zip(posting.settlement_split(amount, fee_bps, collective_bps), exact, strict=True):
        assert abs(part - share) < 1


@pytest.mark.parametrize(
    ("amount", "fee_bps", "collective_bps", "expected"),
    [
        (3990, 300, 1000, (120, 399, 3471)),  # exact 119.7 / 399 / 3471.3
        (10_000, 300, 1000, (300, 1000, 8700)),
        (10_000, 300, 9900, (300, 9700, 0)),  # the collective share is capped at 97%
        (1, 5000, 5000, (1, 0, 0)),  # a tie of remainders goes to the lower index
        (0, 300, 1000, (0, 0, 0)),
    ],
)
def test_settlement_split_worked_examples(
    amount: int, fee_bps: int, collective_bps: int, expected: tuple[int, int, int]
) -> None:
    assert posting.settlement_split(amount, fee_bps, collective_bps) == expected


@pytest.mark.parametrize(("fee_bps", "collective_bps"), [(-1, 0), (0, 10_001), (10_001, 0)])
def test_settlement_split_refuses_out_of_range_basis_points(fee_bps: int, collective_bps: int) -> None:
    with pytest.raises(ValueError):
        posting.settlement_split(100, fee_bps, collective_bps)


# --- transaction builders ------------------------------------------------------------------


def test_payment_received_debits_cash_and_credits_each_cooperative() -> None:
    entries = posting.payment_received_entries("stripe", 5000, [("a", 3000), ("b", 2000)])
    assert entries == [
        Entry("cash:stripe", 5000),
        Entry("escrow:coop:a", -3000),
        Entry("escrow:coop:b", -2000),
    ]


def test_payment_received_refuses_a_total_that_is_not_the_parts() -> None:
    with pytest.raises(posting.LedgerUnbalanced):
        posting.payment_received_entries("offline", 5001, [("a", 3000), ("b", 2000)])


def test_part_settled_splits_the_subtotal_out_of_escrow() -> None:
    entries = posting.part_settled_entries(COOP, VILLAGE, 3990, 300, 1000)
    assert entries == [
        Entry(f"escrow:coop:{COOP}", 3990),
        Entry("revenue:platform_fee", -120),
        Entry(f"collective_income:{VILLAGE}:operating_income", -399),
        Entry(f"payable:coop:{COOP}", -3471),
    ]


def test_part_settled_leaves_out_shares_of_zero() -> None:
    # Given no collective share and no fee / When settled / Then only escrow and the cooperative move
    entries = posting.part_settled_entries(COOP, VILLAGE, 3990, 0, 0)
    assert entries == [Entry(f"escrow:coop:{COOP}", 3990), Entry(f"payable:coop:{COOP}", -3990)]


@given(amount=st.integers(min_value=1, max_value=10**11), fee_bps=bps, collective_bps=bps)
def test_part_settled_always_balances(amount: int, fee_bps: int, collective_bps: int) -> None:
    entries = posting.part_settled_entries(COOP, VILLAGE, amount, fee_bps, collective_bps)
    assert sum(e.amount_fen for e in entries) == 0
    assert entries[0] == Entry(f"escrow:coop:{COOP}", amount)
    assert all(e.amount_fen < 0 for e in entries[1:])


def test_refund_debits_escrow_and_credits_cash() -> None:
    assert posting.refund_entries("offline", COOP, 700) == [
        Entry(f"escrow:coop:{COOP}", 700),
        Entry("cash:offline", -700),
    ]


@pytest.mark.parametrize("amount", [0, -5])
def test_refund_refuses_a_non_positive_amount(amount: int) -> None:
    with pytest.raises(posting.LedgerUnbalanced):
        posting.refund_entries("offline", COOP, amount)


@given(
    settled=st.integers(min_value=1, max_value=10_000_000),
    fee_bps=st.integers(min_value=0, max_value=10_000),
    collective_bps=st.integers(min_value=0, max_value=10_000),
    cuts=st.lists(st.integers(min_value=1, max_value=10_000_000), min_size=1, max_size=8),
    refund_all=st.booleans(),
)
def test_refunds_in_pieces_never_overdraw_a_share_and_a_full_refund_reverses_exactly(
    settled: int, fee_bps: int, collective_bps: int, cuts: list[int], refund_all: bool
) -> None:
    # Given a settled part refunded in pieces (all of it, or part of it)
    pieces: list[int] = []
    left = settled
    for cut in cuts:
        piece = min(cut, left)
        if piece == 0:
            break
        pieces.append(piece)
        left -= piece
    if refund_all and left:
        pieces.append(left)
    original = posting.settlement_split(settled, fee_bps, collective_bps)
    taken = (0, 0, 0)
    for piece in pieces:
        terms = posting.SplitTerms(
            "370704003200", fee_bps, collective_bps, settled_fen=settled, reversed=taken
        )
        reversal = posting.refund_reversal(piece, terms)
        entries = posting.settled_refund_entries("offline", "coop1", piece, terms)
        # Then each piece takes back exactly its amount, never a negative share (no credit to
        # revenue inside a refund), never more than a share still holds
        assert sum(reversal) == piece
        assert all(r >= 0 for r in reversal)
        assert sum(e.amount_fen for e in entries) == 0
        taken = (taken[0] + reversal[0], taken[1] + reversal[1], taken[2] + reversal[2])
        assert all(t <= o for t, o in zip(taken, original, strict=True))
    # And refunding everything reverses the settlement to the fen
    if sum(pieces) == settled:
        assert taken == original


def test_the_alabama_case_takes_no_more_fee_than_was_charged() -> None:
    # 115 fen settled at fee 300 / collective 1000 bps splits 3 / 12 / 100; a running-total split
    # would take back 4 fen of fee for a 114 fen refund.
    terms = posting.SplitTerms("370704003200", 300, 1000, settled_fen=115)
    assert posting.settlement_split(115, 300, 1000) == (3, 12, 100)
    fee, _collective, _rest = posting.refund_reversal(114, terms)
    assert fee <= 3


def test_a_refund_larger_than_what_the_settled_part_holds_is_refused() -> None:
    terms = posting.SplitTerms("370704003200", 300, 1000, settled_fen=100, reversed=(3, 10, 80))
    with pytest.raises(posting.LedgerUnbalanced):
        posting.refund_reversal(8, terms)
