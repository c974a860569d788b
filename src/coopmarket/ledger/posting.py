"""Double-entry rules: entries, balanced transactions, the chart of accounts and the splits. Pure.

Sign convention: debit positive, credit negative, never zero; a transaction's entries sum to 0.
The chart of accounts and the transaction kinds are fixed in ``docs/PLAN.md``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from coopmarket.core.errors import RuleViolated
from coopmarket.core.money import BPS_DENOMINATOR, allocate

# Transaction kinds and their dedupe-key prefixes (``payment:{id}``, ``settle:{part_id}``,
# ``refund:{id}``, ``refund_failed:{refund_id}``).
PAYMENT_RECEIVED = "payment_received"
PART_SETTLED = "part_settled"
REFUND = "refund"
# The exact inverse of a refund the provider could not pay (the buyer is owed the money again).
REFUND_FAILED = "refund_failed"

# A receipt of rent under a village contract (dedupe ``contract_receipt:{receipt_id}``).
CONTRACT_RECEIPT = "contract_receipt"
# Money paid out to a cooperative by bank transfer (dedupe ``coop_payout:{id}``), and the reversal
# of one that did not arrive (dedupe ``coop_payout_reversal:{payout transaction id}``).
COOP_PAYOUT = "coop_payout"
COOP_PAYOUT_REVERSAL = "coop_payout_reversal"
# The platform's bank account, from which cooperatives are paid.
BANK = "bank"
# A cooperative's confirmed surplus distribution for a year (dedupe
# ``surplus_distribution:{cooperative}:{year}``: a year is distributed once).
SURPLUS_DISTRIBUTION = "surplus_distribution"

PLATFORM_FEE = "revenue:platform_fee"
COLLECTIVE_INCOME_PREFIX = "collective_income:"
COLLECTIVE_FUNDS_PREFIX = "collective_funds:"
# Village collective income categories (财农〔2021〕121号): 经营收入, 发包及上交收入, 投资收益, 补助收入, 其他收入.
OPERATING_INCOME = "operating_income"
CONTRACTING_INCOME = "contracting_income"
INCOME_CATEGORIES: tuple[str, ...] = (
    OPERATING_INCOME,
    CONTRACTING_INCOME,
    "investment_income",
    "subsidy_income",
    "other_income",
)

ACCOUNT_MAX_LENGTH = 128  # ledger_posting.account
_MAX_AMOUNT = 2**63 - 1  # BIGINT
_ACCOUNT_PART = re.compile(r"^[A-Za-z0-9_\-]+$")
_VILLAGE_CODE = re.compile(r"^[0-9]{12}$")


class LedgerUnbalanced(RuleViolated):
    """A transaction that does not balance, has too few entries or a zero amount."""

    default_code = "ledger_unbalanced"


class InvalidAccount(RuleViolated):
    """An account name outside the chart of accounts."""

    default_code = "ledger_invalid_account"


@dataclass(frozen=True, slots=True)
class Entry:
    """One posting: ``amount_fen`` > 0 debits ``account``, < 0 credits it."""

    account: str
    amount_fen: int


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """A validated, balanced set of entries (at least two, none zero, summing to 0)."""

    entries: tuple[Entry, ...]

    @property
    def debit_total_fen(self) -> int:
        return sum(e.amount_fen for e in self.entries if e.amount_fen > 0)


def build_transaction(entries: Iterable[Entry]) -> JournalEntry:
    """Validate ``entries`` as one transaction, keeping every entry as given (nothing merged)."""
    items = tuple(entries)
    if len(items) < 2:
        raise LedgerUnbalanced(f"A transaction needs at least two entries, got {len(items)}.")
    for entry in items:
        if not isinstance(entry, Entry):
            raise LedgerUnbalanced(f"Not a ledger entry: {entry!r}.")
        amount = entry.amount_fen
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise LedgerUnbalanced(f"Amount of {entry.account} is not an integer number of fen.")
        if amount == 0:
            raise LedgerUnbalanced(f"Zero amount on {entry.account}.")
        if abs(amount) > _MAX_AMOUNT:
            raise LedgerUnbalanced(f"Amount on {entry.account} is out of range.")
        if not entry.account or len(entry.account) > ACCOUNT_MAX_LENGTH:
            raise InvalidAccount(f"Invalid account name {entry.account!r}.")
    total = sum(e.amount_fen for e in items)
    if total != 0:
        raise LedgerUnbalanced(f"Entries sum to {total} fen, not 0.")
    return JournalEntry(items)


def _part(name: str, value: str) -> str:
    if not value or not _ACCOUNT_PART.match(value):
        raise InvalidAccount(f"Invalid {name} {value!r} for an account name.")
    return value


def cash(provider: str) -> str:
    """Money held at a payment provider (``offline``, ``stripe``)."""
    return f"cash:{_part('provider', provider)}"


def escrow(cooperative_id: str) -> str:
    """Paid by buyers, owed to the cooperative once the part is received."""
    return f"escrow:coop:{_part('cooperative id', cooperative_id)}"


def coop_payable(cooperative_id: str) -> str:
    """The cooperative's revenue, owed to it."""
    return f"payable:coop:{_part('cooperative id', cooperative_id)}"


def coop_surplus(cooperative_id: str) -> str:
    """The cooperative's year surplus appropriated by a distribution (盈余分配): debited with the
    whole surplus, against the reserve and the returns it is split into."""
    return f"surplus:coop:{_part('cooperative id', cooperative_id)}"


def coop_reserve(cooperative_id: str) -> str:
    """The cooperative's reserve fund (公积金, Art. 42)."""
    return f"reserve:coop:{_part('cooperative id', cooperative_id)}"


def member_payable(member_id: str) -> str:
    """A surplus return owed to a member (应付盈余返还, Art. 44)."""
    return f"payable:member:{_part('member id', member_id)}"


def collective_income(village_code: str, category: str = OPERATING_INCOME) -> str:
    """A village collective's income in one of ``INCOME_CATEGORIES``."""
    if not _VILLAGE_CODE.match(village_code):
        raise InvalidAccount(f"Not a 12-digit village code: {village_code!r}.")
    if category not in INCOME_CATEGORIES:
        raise InvalidAccount(f"Unknown income category {category!r}.")
    return f"{COLLECTIVE_INCOME_PREFIX}{village_code}:{category}"


def collective_funds(village_code: str) -> str:
    """Money held by the village collective itself, outside the platform (its bank account or cash)."""
    if not _VILLAGE_CODE.match(village_code):
        raise InvalidAccount(f"Not a 12-digit village code: {village_code!r}.")
    return f"{COLLECTIVE_FUNDS_PREFIX}{village_code}"


def parse_collective_income(account: str) -> tuple[str, str] | None:
    """``collective_income:{village}:{category}`` → ``(village, category)``; ``None`` otherwise."""
    if not account.startswith(COLLECTIVE_INCOME_PREFIX):
        return None
    village_code, sep, category = account[len(COLLECTIVE_INCOME_PREFIX) :].partition(":")
    if not sep or not _VILLAGE_CODE.match(village_code) or category not in INCOME_CATEGORIES:
        return None
    return village_code, category


def _check_bps(name: str, bps: int) -> None:
    if not 0 <= bps <= BPS_DENOMINATOR:
        raise ValueError(f"{name} must be within 0..{BPS_DENOMINATOR} basis points")


def settlement_split(amount_fen: int, fee_bps: int, collective_bps: int) -> tuple[int, int, int]:
    """``(platform fee, collective share, cooperative's rest)`` of a gross subtotal.

    Largest remainder over ``[fee, min(collective, 10000 - fee), rest]``: the collective share is
    capped so that the three weights never exceed the whole.
    """
    _check_bps("fee_bps", fee_bps)
    _check_bps("collective_bps", collective_bps)
    capped = min(collective_bps, BPS_DENOMINATOR - fee_bps)
    fee, collective, rest = allocate(amount_fen, [fee_bps, capped, BPS_DENOMINATOR - fee_bps - capped])
    return fee, collective, rest


def payment_received_entries(provider: str, total_fen: int, parts: Sequence[tuple[str, int]]) -> list[Entry]:
    """Dr ``cash:{provider}`` the total; Cr ``escrow:coop:{c}`` each part's subtotal."""
    entries = [Entry(cash(provider), total_fen)]
    entries += [Entry(escrow(cooperative_id), -subtotal) for cooperative_id, subtotal in parts]
    return list(build_transaction(entries).entries)


def part_settled_entries(
    cooperative_id: str, village_code: str, subtotal_fen: int, fee_bps: int, collective_bps: int
) -> list[Entry]:
    """Dr escrow the subtotal; Cr the platform fee, the village's operating income and the cooperative.

    A share that rounds to 0 fen is left out (a posting is never zero).
    """
    fee, collective, rest = settlement_split(subtotal_fen, fee_bps, collective_bps)
    entries = [Entry(escrow(cooperative_id), subtotal_fen)]
    for account, amount in (
        (PLATFORM_FEE, fee),
        (collective_income(village_code, OPERATING_INCOME), collective),
        (coop_payable(cooperative_id), rest),
    ):
        if amount:
            entries.append(Entry(account, -amount))
    return list(build_transaction(entries).entries)


def refund_entries(provider: str, cooperative_id: str, amount_fen: int) -> list[Entry]:
    """Dr ``escrow:coop:{c}`` the amount; Cr ``cash:{provider}`` the amount."""
    if amount_fen <= 0:
        raise LedgerUnbalanced(f"A refund must be a positive amount, got {amount_fen} fen.")
    return list(
        build_transaction(
            [Entry(escrow(cooperative_id), amount_fen), Entry(cash(provider), -amount_fen)]
        ).entries
    )


def contract_receipt_entries(village_code: str, amount_fen: int) -> list[Entry]:
    """Rent received by a village collective under one of its contracts: Dr
    ``collective_funds:{village}``, Cr ``collective_income:{village}:contracting_income``."""
    if amount_fen <= 0:
        raise LedgerUnbalanced(f"A receipt must be a positive amount, got {amount_fen} fen.")
    return list(
        build_transaction(
            [
                Entry(collective_funds(village_code), amount_fen),
                Entry(collective_income(village_code, CONTRACTING_INCOME), -amount_fen),
            ]
        ).entries
    )


def payout_entries(cooperative_id: str, amount_fen: int) -> list[Entry]:
    """A payout to a cooperative: Dr ``payable:coop:{c}`` (less is owed), Cr ``cash:bank``."""
    if amount_fen <= 0:
        raise LedgerUnbalanced(f"A payout must be a positive amount, got {amount_fen} fen.")
    return list(
        build_transaction(
            [Entry(coop_payable(cooperative_id), amount_fen), Entry(cash(BANK), -amount_fen)]
        ).entries
    )


def surplus_distribution_entries(
    cooperative_id: str,
    village_code: str,
    reserve_fen: int,
    member_returns: Sequence[tuple[str, int]],
    collective_return_fen: int,
) -> list[Entry]:
    """A confirmed surplus distribution: Dr ``surplus:coop:{c}`` the whole surplus; Cr
    ``reserve:coop:{c}`` the reserve, ``payable:member:{m}`` each member's return, and the village
    collective's return as ``collective_income:{village}:investment_income``. Zero parts are left out."""
    credits = [(coop_reserve(cooperative_id), reserve_fen)]
    credits += [(member_payable(member_id), amount) for member_id, amount in member_returns]
    credits.append((collective_income(village_code, "investment_income"), collective_return_fen))
    credits = [(account, amount) for account, amount in credits if amount]
    if any(amount < 0 for _, amount in credits):
        raise LedgerUnbalanced("A surplus distribution's parts are never negative.")
    total = sum(amount for _, amount in credits)
    entries = [Entry(coop_surplus(cooperative_id), total)] + [Entry(a, -amount) for a, amount in credits]
    return list(build_transaction(entries).entries)


@dataclass(frozen=True, slots=True)
class SplitTerms:
    """How a received part was settled, and how much of each share refunds already took back."""

    village_code: str
    fee_bps: int
    collective_bps: int
    settled_fen: int
    # (fee, collective, cooperative) reversed by earlier refunds of this part.
    reversed: tuple[int, int, int] = (0, 0, 0)
    # Money of the part still in escrow although it was received: a refund made before receipt
    # that failed afterwards came back there (``refund_failed``). A refund takes it first.
    escrow_fen: int = 0


def escrow_first(amount_fen: int, terms: SplitTerms) -> tuple[int, int]:
    """``(from escrow, from the settled shares)`` of a refund of a received part: escrow first."""
    from_escrow = min(amount_fen, max(terms.escrow_fen, 0))
    return from_escrow, amount_fen - from_escrow


def refund_reversal(amount_fen: int, terms: SplitTerms) -> tuple[int, int, int]:
    """(fee, collective, cooperative) a refund of ``amount_fen`` takes back from a settled part.

    The refund is split over what each share still holds (the settlement's split less earlier
    reversals) with the largest-remainder method: no share is ever taken back below zero or
    credited again (a running-total split can do both, by the Alabama paradox), and refunding the
    whole settled amount reverses the settlement to the fen.
    """
    settled = settlement_split(terms.settled_fen, terms.fee_bps, terms.collective_bps)
    remaining = [share - taken for share, taken in zip(settled, terms.reversed, strict=True)]
    if amount_fen <= 0 or any(r < 0 for r in remaining) or amount_fen > sum(remaining):
        raise LedgerUnbalanced(
            f"A refund of {amount_fen} fen does not fit what the settled part still holds ({sum(remaining)} fen)."
        )
    fee, collective, rest = allocate(amount_fen, remaining)
    return fee, collective, rest


def settled_refund_entries(
    provider: str, cooperative_id: str, amount_fen: int, terms: SplitTerms
) -> list[Entry]:
    """Reverse a settled part's split for ``amount_fen`` (``refund_reversal``); Cr ``cash:{provider}``.

    Dr ``payable:coop:{c}``, ``collective_income:{village}:operating_income`` and
    ``revenue:platform_fee`` their shares, so the collective's reported income drops by its share.
    A share of 0 fen is left out. What escrow still holds for the part (``terms.escrow_fen``) is
    taken first: Dr ``escrow:coop:{c}`` (``escrow_first``).
    """
    from_escrow, from_shares = escrow_first(amount_fen, terms)
    fee, collective, rest = refund_reversal(from_shares, terms) if from_shares else (0, 0, 0)
    entries = [
        Entry(account, amount)
        for account, amount in (
            (escrow(cooperative_id), from_escrow),
            (coop_payable(cooperative_id), rest),
            (collective_income(terms.village_code, OPERATING_INCOME), collective),
            (PLATFORM_FEE, fee),
        )
        if amount
    ]
    entries.append(Entry(cash(provider), -amount_fen))
    return list(build_transaction(entries).entries)


__all__ = [
    "BANK",
    "CONTRACTING_INCOME",
    "CONTRACT_RECEIPT",
    "COOP_PAYOUT",
    "COOP_PAYOUT_REVERSAL",
    "INCOME_CATEGORIES",
    "OPERATING_INCOME",
    "PART_SETTLED",
    "PAYMENT_RECEIVED",
    "PLATFORM_FEE",
    "REFUND",
    "REFUND_FAILED",
    "SURPLUS_DISTRIBUTION",
    "Entry",
    "InvalidAccount",
    "JournalEntry",
    "LedgerUnbalanced",
    "SplitTerms",
    "build_transaction",
    "cash",
    "collective_funds",
    "collective_income",
    "contract_receipt_entries",
    "coop_payable",
    "coop_reserve",
    "coop_surplus",
    "escrow",
    "escrow_first",
    "member_payable",
    "parse_collective_income",
    "part_settled_entries",
    "payment_received_entries",
    "payout_entries",
    "refund_entries",
    "refund_reversal",
    "settled_refund_entries",
    "settlement_split",
    "surplus_distribution_entries",
]
