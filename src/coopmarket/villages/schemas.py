"""Request and response shapes of village assets, contracts, instalments, arrears and the campaign."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from coopmarket.core.text import MultilineText, Name, Text

AssetKind = Literal["farmland", "woodland", "pond", "building", "site", "equipment", "other"]
AssetStatus = Literal["in_use", "contracted", "idle"]
SizeUnit = Literal["mu", "hectare", "square_metre", "item"]
CounterpartyKind = Literal["person", "household", "company", "cooperative"]
Schedule = Literal["yearly", "half_yearly", "quarterly", "single"]
EntryKind = Literal["original", "amendment", "renewal"]
ContractState = Literal["not_started", "in_force", "ended", "superseded", "terminated"]
InstalmentStatus = Literal["due", "paid", "in_arrears", "written_off"]
ReminderChannel = Literal["letter", "visit", "phone", "message", "notice"]
FlagCode = Literal["no_approval_record", "term_exceeds_limit", "rent_far_below_peers", "asset_let_twice"]
AgeBand = Literal["within_90_days", "within_1_year", "within_3_years", "older"]
ExportFormat = Literal["json", "csv", "xlsx"]

# Names shown to others (assets, counterparties) refuse invisible and bidi characters too.
Text100 = Annotated[Name, Meta(min_length=1, max_length=100)]
Text200 = Annotated[Text, Meta(min_length=1, max_length=200)]
Reason = Annotated[MultilineText, Meta(min_length=1, max_length=500)]
Note = Annotated[MultilineText, Meta(max_length=500)]
Fen = Annotated[int, Meta(ge=0, le=10**15, description="Amount in fen")]
PositiveFen = Annotated[int, Meta(ge=1, le=10**13, description="Amount in fen, at least 1")]
Size = Annotated[
    float, Meta(gt=0, le=1_000_000_000, description="In `size_unit`, at most three decimals (12.5 mu)")
]
Ref = Annotated[Text, Meta(min_length=1, max_length=100)]
OptionalRef = Annotated[Text, Meta(max_length=100)]
Id = Annotated[Text, Meta(min_length=1, max_length=26)]


# --- assets --------------------------------------------------------------------------------------


class AssetIn(msgspec.Struct, forbid_unknown_fields=True):
    """An asset or resource of the village collective; ``status_since`` defaults to today."""

    kind: AssetKind
    name: Text100
    size: Size
    size_unit: SizeUnit
    location: Text200
    status: AssetStatus
    valuation_fen: Fen | None = None
    valued_on: date | None = None
    status_since: date | None = None


class AssetPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Fields to change; a new valuation comes with its date. ``reason`` goes to the audit log."""

    name: Text100 | UnsetType = UNSET
    size: Size | UnsetType = UNSET
    size_unit: SizeUnit | UnsetType = UNSET
    location: Text200 | UnsetType = UNSET
    status: AssetStatus | UnsetType = UNSET
    valuation_fen: Fen | UnsetType = UNSET
    valued_on: date | UnsetType = UNSET
    reason: Note | UnsetType = UNSET


class AssetOut(msgspec.Struct):
    id: str
    village_code: str
    kind: str
    name: str
    size: float
    size_unit: str
    location: str
    status: str
    status_since: date
    valuation_fen: int | None
    valued_on: date | None
    created_at: datetime
    updated_at: datetime


class AssetList(msgspec.Struct):
    items: list[AssetOut]
    next_cursor: str | None


class IdleAssetOut(msgspec.Struct):
    """An idle asset, or one still marked ``contracted`` whose contracts have all ended."""

    id: str
    village_code: str
    village_name: str
    street_code: str
    street_name: str
    kind: str
    name: str
    size: float
    size_unit: str
    location: str
    status: str
    idle_since: date
    idle_days: int
    valuation_fen: int | None
    last_contract_id: str | None


class IdleStreet(msgspec.Struct):
    street_code: str
    street_name: str
    assets: int
    valuation_fen: int


class IdleAssetReport(msgspec.Struct):
    region_code: str
    as_of: date
    streets: list[IdleStreet]
    items: list[IdleAssetOut]


# --- contracts -----------------------------------------------------------------------------------


class CounterpartyIn(msgspec.Struct, forbid_unknown_fields=True):
    """Who takes the asset. ``id_number``: a resident identity number (person, household) or a USCC
    (company), stored only when given. ``cooperative_id``: a cooperative of the platform."""

    kind: CounterpartyKind
    name: Text100
    id_number: Annotated[Text, Meta(min_length=1, max_length=32)] | None = None
    cooperative_id: Id | None = None


class CounterpartyOut(msgspec.Struct):
    kind: str
    name: str
    id_number: str | None
    cooperative_id: str | None


class ContractIn(msgspec.Struct, forbid_unknown_fields=True):
    asset_id: Id
    counterparty: CounterpartyIn
    starts_on: date
    ends_on: date
    annual_rent_fen: PositiveFen
    schedule: Schedule
    document_ref: Ref
    approval_ref: OptionalRef | None = None


class AmendmentIn(msgspec.Struct, forbid_unknown_fields=True):
    """New terms from ``effective_on``; the amended entry ends the day before."""

    effective_on: date
    ends_on: date
    annual_rent_fen: PositiveFen
    schedule: Schedule
    document_ref: Ref
    reason: Reason
    approval_ref: OptionalRef | None = None


class RenewalIn(msgspec.Struct, forbid_unknown_fields=True):
    """A new term for the same asset and counterparty, from the day after the renewed entry ends."""

    ends_on: date
    annual_rent_fen: PositiveFen
    schedule: Schedule
    document_ref: Ref
    approval_ref: OptionalRef | None = None
    starts_on: date | None = None


class TerminationIn(msgspec.Struct, forbid_unknown_fields=True):
    """``terminated_on`` is the contract's last day in force."""

    terminated_on: date
    reason: Reason
    document_ref: OptionalRef | None = None
    approval_ref: OptionalRef | None = None


class TerminationOut(msgspec.Struct):
    terminated_on: date
    reason: str
    document_ref: str | None
    approval_ref: str | None
    created_at: datetime


class FlagOut(msgspec.Struct):
    code: str
    reason: str
    found_on: date
    resolved_on: date | None
    resolution: str | None


class FlagResolveIn(msgspec.Struct, forbid_unknown_fields=True):
    resolution: Reason


class ContractOut(msgspec.Struct):
    """A contract entry. ``flags`` are the irregularities of its lineage (open ones have no
    ``resolved_on``); figures are as of today."""

    id: str
    village_code: str
    asset_id: str
    asset_name: str
    entry_kind: str
    lineage_id: str
    references_id: str | None
    counterparty: CounterpartyOut
    starts_on: date
    ends_on: date
    effective_until: date
    state: str
    annual_rent_fen: int
    schedule: str
    total_rent_fen: int
    document_ref: str
    approval_ref: str | None
    reason: str | None
    superseded_by_id: str | None
    renewed_by_id: str | None
    termination: TerminationOut | None
    flags: list[FlagOut]
    paid_fen: int
    in_arrears_fen: int
    outstanding_fen: int
    created_at: datetime
    created_by: str


class ContractList(msgspec.Struct):
    items: list[ContractOut]
    next_cursor: str | None


# --- instalments, receipts, write-offs, reminders -------------------------------------------------


class InstalmentOut(msgspec.Struct):
    id: str
    contract_id: str
    seq: int
    period_start: date
    period_end: date
    due_on: date
    amount_fen: int
    paid_fen: int
    written_off_fen: int
    outstanding_fen: int
    status: InstalmentStatus


class InstalmentList(msgspec.Struct):
    contract_id: str
    items: list[InstalmentOut]


class ReceiptIn(msgspec.Struct, forbid_unknown_fields=True):
    amount_fen: PositiveFen
    received_on: date
    reference: Ref


class ReceiptOut(msgspec.Struct):
    id: str
    instalment_id: str
    contract_id: str
    amount_fen: int
    received_on: date
    reference: str
    ledger_transaction_id: str
    recorded_by: str
    recorded_at: datetime
    instalment: InstalmentOut


class WriteOffIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason


class WriteOffOut(msgspec.Struct):
    id: str
    instalment_id: str
    contract_id: str
    amount_fen: int
    written_off_on: date
    reason: str
    approved_by: str
    instalment: InstalmentOut


class ReminderIn(msgspec.Struct, forbid_unknown_fields=True):
    sent_on: date
    channel: ReminderChannel
    note: Note | None = None


class ReminderOut(msgspec.Struct):
    id: str
    contract_id: str
    sent_on: date
    channel: str
    note: str | None
    in_arrears_fen: int
    recorded_by: str
    recorded_at: datetime


class CollectionEvent(msgspec.Struct):
    """One step of collection: a reminder, money recovered, a write-off, or an amount cut by an
    amendment or termination (``adjustment``)."""

    kind: Literal["reminder", "receipt", "write_off", "adjustment"]
    id: str
    on_date: date
    amount_fen: int | None
    instalment_id: str | None
    due_on: date | None
    reference: str | None
    reason: str | None
    channel: str | None
    note: str | None
    by: str
    at: datetime


class CollectionHistory(msgspec.Struct):
    contract_id: str
    in_arrears_fen: int
    outstanding_fen: int
    events: list[CollectionEvent]


# --- arrears ---------------------------------------------------------------------------------------


class ArrearsLine(msgspec.Struct):
    instalment_id: str
    contract_id: str
    asset_id: str
    asset_name: str
    counterparty_kind: str
    counterparty_name: str
    due_on: date
    amount_fen: int
    paid_fen: int
    written_off_fen: int
    outstanding_fen: int
    days_overdue: int
    band: AgeBand


class ArrearsVillage(msgspec.Struct):
    village_code: str
    village_name: str
    street_code: str
    street_name: str
    total_fen: int
    within_90_days_fen: int
    within_1_year_fen: int
    within_3_years_fen: int
    older_fen: int
    instalments: list[ArrearsLine]


class ArrearsReport(msgspec.Struct):
    """Arrears at the end of ``as_of`` (a local date) in the region, per village with arrears."""

    region_code: str
    as_of: date
    total_fen: int
    within_90_days_fen: int
    within_1_year_fen: int
    within_3_years_fen: int
    older_fen: int
    villages: list[ArrearsVillage]


# --- campaign and disclosure summary ------------------------------------------------------------


class CampaignFigures(msgspec.Struct):
    """One region's clean-up over ``from``..``to``. Arrears reconcile:
    ``closing = opening + arisen - recovered - written_off - cancelled``."""

    region_code: str
    region_name: str
    level: str
    arrears_opening_fen: int
    arrears_arisen_fen: int
    arrears_recovered_fen: int
    arrears_written_off_fen: int
    arrears_cancelled_fen: int
    arrears_closing_fen: int
    irregular_found: int
    irregular_resolved: int
    irregular_open: int
    idle_assets_opening: int
    idle_assets_put_back: int
    idle_assets_closing: int


class CampaignStreet(msgspec.Struct):
    street: CampaignFigures
    villages: list[CampaignFigures]


class CampaignReport(msgspec.Struct):
    from_: date = msgspec.field(name="from")
    to: date = msgspec.field()
    region_code: str = msgspec.field()
    total: CampaignFigures = msgspec.field()
    streets: list[CampaignStreet] = msgspec.field()


class ContractSummaryLine(msgspec.Struct, frozen=True):
    """One contract entry in force during a disclosure period, as the public may read it."""

    contract_id: str
    asset_name: str
    asset_kind: str
    counterparty_kind: str
    counterparty_name: str
    starts_on: date
    ends_on: date
    annual_rent_fen: int
    paid_to_date_fen: int
    arrears_fen: int


class ContractsSummary(msgspec.Struct, frozen=True):
    """A village's contracts for a disclosure: figures at the end of ``period_to``."""

    village_code: str
    period_from: date
    period_to: date
    lines: tuple[ContractSummaryLine, ...]
    paid_to_date_fen: int
    arrears_fen: int


class CommunityIn(msgspec.Struct, forbid_unknown_fields=True):
    """A rural community: a name and villages of one street."""

    name: Annotated[Name, Meta(min_length=1, max_length=100)]
    street_code: Annotated[Text, Meta(min_length=9, max_length=9, description="A street's code")]
    village_codes: Annotated[
        list[Annotated[Text, Meta(min_length=12, max_length=12)]], Meta(min_length=1, max_length=200)
    ]
