"""Request and response shapes for cooperatives."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from coopmarket.core.phone import PHONE_PATTERN
from coopmarket.core.text import MultilineText, Name, Text

Bps = Annotated[int, Meta(ge=0, le=10000, description="Basis points (1/100 of a percent)")]
CooperativeName = Annotated[Name, Meta(min_length=1, max_length=200)]
PartyOrganization = Annotated[Name, Meta(min_length=1, max_length=200)]
Chairperson = Annotated[Name, Meta(min_length=1, max_length=64)]
Reason = Annotated[MultilineText, Meta(max_length=500)]
MemberName = Annotated[Name, Meta(min_length=1, max_length=100)]
CapitalFen = Annotated[int, Meta(ge=0, le=10**15, description="Capital contribution in fen")]
MemberKind = Literal["household", "village_collective", "other"]
CooperativeStatus = Literal["pending", "approved", "rejected", "suspended"]
CapitalCapBps = Annotated[
    int,
    Meta(
        ge=1,
        le=10000,
        description="Charter: the largest share of the cooperative's capital one member may hold, basis points",
    ),
]
IdNumber = Annotated[
    str,
    Meta(
        min_length=18,
        max_length=18,
        pattern=r"^[0-9]{17}[0-9Xx]$",
        description="居民身份证号 (GB 11643, check character verified); shown unmasked to the cooperative's managers only",
    ),
]
CapitalDeltaFen = Annotated[
    int,
    Meta(
        ge=-(10**15),
        le=10**15,
        description="Change of capital in fen, positive or negative, never 0",
        extra_json_schema={"not": {"const": 0}},
    ),
]
ContactPhone = Annotated[str, Meta(pattern=PHONE_PATTERN, description="Mainland mobile number, 11 digits")]
BusinessScope = Annotated[MultilineText, Meta(max_length=1000)]
LegalRepresentative = Annotated[Name, Meta(min_length=1, max_length=64)]
RegisteredAddress = Annotated[Text, Meta(min_length=1, max_length=300)]
AdministrativeLicences = Annotated[MultilineText, Meta(max_length=1000)]


class CooperativeBrief(msgspec.Struct, frozen=True):
    """What other slices need to know about a cooperative."""

    id: str
    name: str
    village_code: str
    status: str
    collective_sales_share_bps: int


class Charter(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """The cooperative's money rules, in basis points (patronage return at least 6000 by law);
    ``member_capital_cap_bps`` (optional, absent when not set) caps one member's share of capital."""

    reserve_rate_bps: Bps
    patronage_return_bps: Bps
    collective_sales_share_bps: Bps
    member_capital_cap_bps: CapitalCapBps | None = None


class CharterPatch(msgspec.Struct, forbid_unknown_fields=True):
    reserve_rate_bps: Bps | UnsetType = UNSET
    patronage_return_bps: Bps | UnsetType = UNSET
    collective_sales_share_bps: Bps | UnsetType = UNSET
    member_capital_cap_bps: CapitalCapBps | UnsetType | None = UNSET  # null removes the cap


class CooperativeIn(msgspec.Struct, forbid_unknown_fields=True):
    name: CooperativeName
    uscc: Annotated[Text, Meta(min_length=1, max_length=64, description="Trimmed and upper-cased")]
    village_code: Annotated[Text, Meta(min_length=1, max_length=12, description="A village-level region")]
    party_organization: PartyOrganization
    chairperson: Chairperson
    founded_on: date
    charter: Charter
    # Registry fields and the seller identity of E-commerce Law Art. 27 (all optional).
    contact_phone: ContactPhone | None = None
    business_scope: BusinessScope | None = None
    legal_representative: LegalRepresentative | None = None
    registered_address: RegisteredAddress | None = None
    administrative_licences: AdministrativeLicences | None = None


class CooperativePatch(msgspec.Struct, forbid_unknown_fields=True):
    name: CooperativeName | UnsetType = UNSET
    party_organization: PartyOrganization | UnsetType = UNSET
    chairperson: Chairperson | UnsetType = UNSET
    charter: CharterPatch | UnsetType = UNSET
    contact_phone: ContactPhone | UnsetType = UNSET
    business_scope: BusinessScope | UnsetType = UNSET
    legal_representative: LegalRepresentative | UnsetType = UNSET
    registered_address: RegisteredAddress | UnsetType = UNSET
    administrative_licences: AdministrativeLicences | UnsetType = UNSET


class DecisionIn(msgspec.Struct, forbid_unknown_fields=True):
    """An approval decision; ``reason`` is required to reject or suspend."""

    reason: Reason | None = None


class CooperativeOut(msgspec.Struct):
    """A cooperative. Fields after ``charter`` are present only for its managers and staff in scope
    (``warnings`` only in the answer to a registration)."""

    id: str
    name: str
    village_code: str
    village_name: str | None
    party_organization: str
    status: str
    founded_on: date
    charter: Charter
    uscc: str | UnsetType = UNSET
    chairperson: str | UnsetType = UNSET
    status_reason: str | UnsetType | None = UNSET
    created_at: datetime | UnsetType = UNSET
    updated_at: datetime | UnsetType = UNSET
    warnings: list[str] | UnsetType = UNSET
    # Public: the contact phone masked, the business scope. Managers and staff: everything.
    contact_phone_masked: str | None = None
    business_scope: str | None = None
    contact_phone: str | UnsetType | None = UNSET
    legal_representative: str | UnsetType | None = UNSET
    registered_address: str | UnsetType | None = UNSET
    administrative_licences: str | UnsetType | None = UNSET
    identity_verified_on: date | UnsetType | None = UNSET
    reverify_due_on: date | UnsetType | None = UNSET


class CooperativeList(msgspec.Struct):
    items: list[CooperativeOut]
    next_cursor: str | None


class ManagerIn(msgspec.Struct, forbid_unknown_fields=True):
    """A registered user, by phone number, to add as a manager."""

    phone: ContactPhone


class ManagerOut(msgspec.Struct):
    user_id: str
    display_name: str
    phone_masked: str | None
    since: datetime


class ManagerList(msgspec.Struct):
    items: list[ManagerOut]


class MemberIn(msgspec.Struct, forbid_unknown_fields=True):
    name: MemberName
    kind: MemberKind
    capital_fen: CapitalFen
    id_number: IdNumber | None = None


class MemberPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: MemberName | UnsetType = UNSET
    capital_fen: CapitalFen | UnsetType = UNSET
    id_number: IdNumber | UnsetType = UNSET


class CapitalChangeIn(msgspec.Struct, forbid_unknown_fields=True):
    """A new entry of a member's capital history; the capital never goes below 0."""

    delta_fen: CapitalDeltaFen
    reason: Reason


class CapitalChangeOut(msgspec.Struct):
    old_capital_fen: int
    new_capital_fen: int
    changed_by: str
    changed_at: datetime
    delta_fen: int = 0
    reason: str | None = None
    id: str | None = None


class MemberOut(msgspec.Struct):
    id: str
    cooperative_id: str
    name: str
    kind: str
    capital_fen: int
    created_at: datetime
    capital_history: list[CapitalChangeOut]
    id_number: Annotated[str | None, Meta(description="Unmasked for the cooperative's managers only")] = None
    id_number_masked: str | None = None


class MemberAccountEntryOut(msgspec.Struct):
    kind: str  # reserve_share | return
    amount_fen: int
    year: int | None
    at: datetime


class MemberAccountOut(msgspec.Struct):
    """A member's account (Art. 43) for the period ``from``..``to`` (dates in the report time zone)."""

    member_id: str
    cooperative_id: str
    name: str
    capital_fen: Annotated[int, Meta(description="Equals the sum of capital_history's delta_fen")]
    capital_history: list[CapitalChangeOut]
    reserve_share_fen: Annotated[int, Meta(description="The member's quantified share of the reserve fund, to date")]
    transaction_volume_fen: Annotated[
        int, Meta(description="Sales the member supplied, settled in the period, net of their refunds")
    ]
    returns_fen: Annotated[int, Meta(description="Surplus returned to the member in the period")]
    returns: list[MemberAccountEntryOut]
    date_from: date | None = msgspec.field(default=None, name="from")
    date_to: date | None = msgspec.field(default=None, name="to")
    id_number_masked: str | None = None


class MemberVolumeOut(msgspec.Struct):
    member_id: str
    transaction_volume_fen: int


class TransactionVolumesOut(msgspec.Struct):
    """Art. 41: a cooperative's settled sales in the period, members' and non-members' apart."""

    cooperative_id: str
    member_fen: int
    non_member_fen: int
    total_fen: int
    by_member: list[MemberVolumeOut]
    date_from: date | None = msgspec.field(default=None, name="from")
    date_to: date | None = msgspec.field(default=None, name="to")


class MemberList(msgspec.Struct):
    items: list[MemberOut]
    next_cursor: str | None


# --- brand licences ----------------------------------------------------------------------------

LicenceStatusName = Literal["applied", "granted", "suspended", "revoked", "expired"]


class LicenceDecisionOut(msgspec.Struct):
    """One decision on a licence: who took it, when, why (``automatic``: the system, after a
    certificate change, on behalf of ``actor_id``)."""

    action: str
    from_status: str | None
    to_status: str
    reason: str | None
    actor_id: str
    automatic: bool
    at: datetime


class LicenceRecord(msgspec.Struct):
    """A brand licence as the coops slice keeps it; ``status`` is the effective one (expired by date)."""

    id: str
    number: str | None
    brand: str
    cooperative_id: str
    cooperative_name: str
    cooperative_village_code: str
    cooperative_status: str
    status: str
    stored_status: str
    status_reason: str | None
    valid_from: date
    valid_to: date
    applied_by: str
    applied_at: datetime
    granted_at: datetime | None
    updated_at: datetime
    product_ids: list[str]
    decisions: list[LicenceDecisionOut]


class LicenceTerm(msgspec.Struct, frozen=True):
    """A licence's id and term (what a certificate check needs)."""

    id: str
    valid_from: date
    valid_to: date
