"""Ledger shapes: balances out, and the rows other slices read."""

from __future__ import annotations

from datetime import date

import msgspec


class AccountBalance(msgspec.Struct):
    account: str
    balance_fen: int


class BalanceList(msgspec.Struct):
    items: list[AccountBalance]


class CollectiveIncomeRow(msgspec.Struct, frozen=True):
    """A village collective's income in one category over a time range (credits, as a positive sum)."""

    village_code: str
    category: str
    amount_fen: int


class MonthlyIncomeRow(msgspec.Struct, frozen=True):
    """A village collective's income in one category and local month (``month`` its first day),
    with the part of it that related-party transactions posted."""

    month: date
    village_code: str
    category: str
    amount_fen: int
    related_party_fen: int = 0
