"""Report shapes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from coopmarket.core.text import MultilineText, Name, Text

GroupBy = Literal["village", "street", "community", "district"]
ExportFormat = Literal["json", "csv", "xlsx"]


class IncomeByCategory(msgspec.Struct):
    """Income per category (财农〔2021〕121号), in fen."""

    operating_income: int = 0
    contracting_income: int = 0
    investment_income: int = 0
    subsidy_income: int = 0
    other_income: int = 0


class CollectiveIncomeItem(msgspec.Struct):
    region_code: str
    region_name: str
    total_fen: int
    by_category: IncomeByCategory
    band: str
    rank: int
    # Of ``total_fen``: income from sales whose buyer managed the selling cooperative (self-dealing
    # risk: the sale and the collective's share rest on one person's word), for a closer look.
    related_party_fen: int = 0


class CollectiveIncomeReport(msgspec.Struct):
    """Village collective income per region of one level, for local dates ``from``..``to`` inclusive."""

    from_: date = msgspec.field(name="from")
    to: date = msgspec.field()
    group_by: str = msgspec.field()
    region_code: str = msgspec.field()
    items: list[CollectiveIncomeItem] = msgspec.field()
    total_fen: int = msgspec.field()
    related_party_fen: int = msgspec.field(default=0)


Interval = Literal["month", "quarter"]


class IncomePeriod(msgspec.Struct):
    """One month (``2026-04``) or quarter (``2026-Q2``) of a time series, cut to the report's range."""

    period: str
    from_: date = msgspec.field(name="from")
    to: date = msgspec.field()
    items: list[CollectiveIncomeItem] = msgspec.field()
    total_fen: int = msgspec.field()
    related_party_fen: int = msgspec.field()


class CollectiveIncomeSeries(CollectiveIncomeReport):
    """The report with ``interval=month|quarter``: the same items and totals for the whole range,
    and ``periods``, the same grouping for each month or quarter in turn."""

    interval: str = "month"
    periods: list[IncomePeriod] = msgspec.field(default_factory=list)


# --- a cooperative's statement and its payouts ------------------------------------------------

PositiveFen = Annotated[int, Meta(ge=1, le=10**13, description="Amount in fen, at least 1")]
Ref = Annotated[Text, Meta(min_length=1, max_length=100)]
Reason = Annotated[MultilineText, Meta(min_length=1, max_length=500)]


class StatementLine(msgspec.Struct):
    """One ledger transaction behind the statement; ``payable_change_fen`` is what it added to
    what the platform owes the cooperative (negative for refunds and payouts)."""

    transaction_id: str
    occurred_at: datetime
    kind: str
    order_id: str | None
    memo: str | None
    sales_fen: int
    fees_fen: int
    collective_share_fen: int
    refunds_fen: int
    payouts_fen: int
    other_fen: int
    payable_change_fen: int


class Statement(msgspec.Struct):
    """What the platform owes a cooperative (``payable:coop:{id}``) over local dates
    ``from``..``to``: closing = opening + sales − fees − collective share − refunds − payouts + other."""

    cooperative_id: str
    from_: date = msgspec.field(name="from")
    to: date = msgspec.field()
    opening_balance_fen: int = msgspec.field()
    sales_fen: int = msgspec.field()
    refunds_fen: int = msgspec.field()
    fees_fen: int = msgspec.field()
    collective_share_fen: int = msgspec.field()
    payouts_fen: int = msgspec.field()
    other_fen: int = msgspec.field()
    closing_balance_fen: int = msgspec.field()
    escrow_opening_fen: int = msgspec.field()
    escrow_closing_fen: int = msgspec.field()
    lines: list[StatementLine] = msgspec.field()
    next_cursor: str | None = msgspec.field(default=None)


class PayoutIn(msgspec.Struct, forbid_unknown_fields=True):
    amount_fen: PositiveFen
    reference: Ref


class PayoutReversalIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason


class PayoutOut(msgspec.Struct):
    id: str
    cooperative_id: str
    amount_fen: int
    reference: str
    occurred_at: datetime
    payable_after_fen: int
    reversal_of: str | None = None


# --- village collective income recorded by staff ------------------------------------------------

IncomeCategory = Literal[
    "operating_income", "contracting_income", "investment_income", "subsidy_income", "other_income"
]
Source = Annotated[Text, Meta(min_length=1, max_length=100)]


class IncomeIn(msgspec.Struct, forbid_unknown_fields=True):
    category: IncomeCategory
    amount_fen: PositiveFen
    occurred_on: date
    source: Source
    document_ref: Ref


class IncomeReversalIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason


class IncomeOut(msgspec.Struct):
    id: str
    village_code: str
    category: str
    amount_fen: int
    occurred_on: date
    source: str
    document_ref: str
    ledger_transaction_id: str
    recorded_by: str
    recorded_at: datetime
    reversed: bool
    reversal_transaction_id: str | None = None
    reversal_reason: str | None = None
    reversed_at: datetime | None = None


class IncomeList(msgspec.Struct):
    items: list[IncomeOut]
    next_cursor: str | None = None


# --- surplus distributions (Art. 42-44) -------------------------------------------------------

Bps = Annotated[int, Meta(ge=0, le=10_000, description="Basis points (1/100 of a percent)")]


class SurplusDistributionIn(msgspec.Struct, forbid_unknown_fields=True):
    """A draft for ``year``. ``reserve_rate_bps`` and ``patronage_return_bps`` default to the
    charter's; ``surplus_fen`` (with ``surplus_reason``) replaces the surplus from the ledger when
    the cooperative keeps its books elsewhere."""

    year: Annotated[int, Meta(ge=2000, le=2100)]
    reserve_rate_bps: Bps | None = None
    patronage_return_bps: Bps | None = None
    surplus_fen: PositiveFen | None = None
    surplus_reason: Reason | None = None


class SurplusMemberOut(msgspec.Struct):
    member_id: str
    name: str
    kind: str
    transaction_volume_fen: int
    capital_basis_fen: int
    patronage_return_fen: int
    capital_return_fen: int
    total_fen: int
    reserve_share_fen: int


class SurplusDistributionOut(msgspec.Struct):
    """``surplus = reserve + distributable``; ``distributable = patronage pool + capital pool``;
    each pool is the exact sum of the members' parts."""

    id: str
    cooperative_id: str
    year: int
    status: str
    surplus_source: str
    surplus_reason: str | None
    surplus_fen: int
    reserve_rate_bps: int
    patronage_return_bps: int
    reserve_fen: int
    distributable_fen: int
    patronage_pool_fen: int
    capital_pool_fen: int
    members: list[SurplusMemberOut]
    created_at: datetime
    confirmed_at: datetime | None = None
    ledger_transaction_id: str | None = None


# --- frozen disclosures and the public's messages on them ---------------------------------------

# Years 1900-2999, as every date a client sends (core/inputs.py): year 0 is no date, and a period
# at either end of the calendar overflowed its conversion to UTC instants (a 500).
PERIOD_PATTERN = r"^(19[0-9]{2}|2[0-9]{3})-(0[1-9]|1[0-2]|Q[1-4])$"
Period = Annotated[
    str, Meta(pattern=PERIOD_PATTERN, description="A month (2026-10) or a quarter (2026-Q3)", examples=["2026-Q3"])
]
VillageCode = Annotated[str, Meta(pattern=r"^[0-9]{12}$", description="A village's 12-digit code")]
DisclosureFormat = Literal["json", "html", "canonical"]


class DisclosureIn(msgspec.Struct, forbid_unknown_fields=True):
    village_code: VillageCode
    period: Period
    corrects: Annotated[Text, Meta(min_length=1, max_length=26)] | None = None


class PublicMessage(msgspec.Struct):
    """An approved message, as the public reads it."""

    id: str
    author_name: str
    text: str
    created_at: datetime


class DisclosureOut(msgspec.Struct):
    """A published disclosure. ``figures`` is ``canonical`` parsed: the bytes hashed into
    ``content_hash`` (``?format=canonical`` answers them as stored). ``corrected_by`` and
    ``messages`` (approved ones, newest first, at most 100) are not part of the frozen figures."""

    id: str
    village_code: str
    period: str
    period_from: date
    period_to: date
    published_at: datetime
    content_hash: str
    figures: dict[str, Any]
    corrects: str | None
    corrected_by: str | None
    messages: list[PublicMessage]


class DisclosureSummary(msgspec.Struct):
    id: str
    village_code: str
    period: str
    period_from: date
    period_to: date
    published_at: datetime
    content_hash: str
    corrects: str | None
    corrected_by: str | None


class DisclosurePage(msgspec.Struct):
    items: list[DisclosureSummary]
    next_cursor: str | None


class MessageIn(msgspec.Struct, forbid_unknown_fields=True):
    author_name: Annotated[Name, Meta(min_length=1, max_length=40)]
    text: Annotated[MultilineText, Meta(min_length=1, max_length=1000)]


class MessageAccepted(msgspec.Struct):
    """202: stored as pending; shown once village or street staff approve it."""

    id: str
    disclosure_id: str
    status: str


class MessageRejectIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason


class MessageOut(msgspec.Struct):
    """A message as staff see it."""

    id: str
    disclosure_id: str
    village_code: str
    author_name: str
    text: str
    status: str
    created_at: datetime
    decided_at: datetime | None
    reject_reason: str | None


MessageStatus = Literal["pending", "approved", "rejected"]


class MessagePage(msgspec.Struct):
    items: list[MessageOut]
    next_cursor: str | None
