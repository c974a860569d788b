"""Cooperatives, their managers, members and capital history."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from coopmarket.core.models import id_field, money_field, ref_field, time_field


class Cooperative(SQLModel, table=True):
    __tablename__ = "cooperative"
    __table_args__ = (
        CheckConstraint("reserve_rate_bps BETWEEN 0 AND 10000", name="reserve_bps"),
        CheckConstraint("patronage_return_bps BETWEEN 6000 AND 10000", name="patronage_bps"),
        CheckConstraint("collective_sales_share_bps BETWEEN 0 AND 10000", name="collective_bps"),
    )

    id: str = id_field()
    name: str = Field(max_length=200)
    uscc: str = Field(max_length=18, unique=True)
    village_code: str = Field(max_length=12, index=True, foreign_key="region.code")
    party_organization: str = Field(max_length=200)
    chairperson: str = Field(max_length=64)
    founded_on: date
    reserve_rate_bps: int
    patronage_return_bps: int
    collective_sales_share_bps: int
    # Charter: the largest share of the cooperative's capital one member may hold (basis points);
    # None: no cap. Enforced on every capital increase (coops/member_accounts.py).
    member_capital_cap_bps: int | None = Field(default=None, nullable=True)
    status: str = Field(max_length=16, index=True)  # pending | approved | rejected | suspended
    status_reason: str | None = Field(default=None, max_length=500)
    # Registry fields (district records) and the seller identity of E-commerce Law Art. 27.
    contact_phone: str | None = Field(default=None, max_length=20)
    business_scope: str | None = Field(default=None, max_length=1000)
    legal_representative: str | None = Field(default=None, max_length=64)
    registered_address: str | None = Field(default=None, max_length=300)
    administrative_licences: str | None = Field(default=None, max_length=1000)
    identity_verified_on: date | None = Field(default=None)
    reverify_due_on: date | None = Field(default=None, index=True)
    created_by: str = ref_field(foreign_key="user_account.id")
    created_at: datetime = time_field()
    updated_at: datetime = time_field()


class CooperativeManager(SQLModel, table=True):
    __tablename__ = "cooperative_manager"

    cooperative_id: str = Field(primary_key=True, max_length=26, foreign_key="cooperative.id")
    user_id: str = Field(primary_key=True, max_length=26, foreign_key="user_account.id", index=True)
    created_at: datetime = time_field()


class CooperativeStatusEvent(SQLModel, table=True):
    """Every approval decision, kept as an audit trail."""

    __tablename__ = "cooperative_status_event"

    id: str = id_field()
    cooperative_id: str = ref_field(foreign_key="cooperative.id")
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=500)
    actor_id: str = ref_field(foreign_key="user_account.id", index=False)
    at: datetime = time_field()


class CooperativeMember(SQLModel, table=True):
    __tablename__ = "cooperative_member"
    __table_args__ = (
        CheckConstraint("capital_fen >= 0", name="capital_nonneg"),
        # One village collective per cooperative, enforced by the database.
        Index(
            "uq_member_one_collective",
            "cooperative_id",
            unique=True,
            sqlite_where=text("kind = 'village_collective'"),
            postgresql_where=text("kind = 'village_collective'"),
        ),
    )

    id: str = id_field()
    cooperative_id: str = ref_field(foreign_key="cooperative.id")
    name: str = Field(max_length=100)
    kind: str = Field(max_length=32)  # household | village_collective | other
    # Always the sum of the member's capital history (every change is a new entry).
    capital_fen: int = money_field()
    # 居民身份证号 (GB 11643), stored only when given; shown unmasked to the cooperative's managers only.
    id_number: str | None = Field(default=None, max_length=18, nullable=True)
    created_at: datetime = time_field()


class MemberCapitalChange(SQLModel, table=True):
    """Capital changes are recorded, never overwritten: append-only (database triggers refuse an
    UPDATE or DELETE), and a member's capital is the sum of its entries' ``delta_fen``."""

    __tablename__ = "member_capital_change"

    id: str = id_field()
    member_id: str = ref_field(foreign_key="cooperative_member.id")
    old_capital_fen: int = money_field()
    new_capital_fen: int = money_field()
    delta_fen: int = money_field(default=0, sa_column_kwargs={"server_default": "0"})
    reason: str | None = Field(default=None, max_length=500)
    changed_by: str = ref_field(foreign_key="user_account.id", index=False)
    changed_at: datetime = time_field()


class MemberAccountEntry(SQLModel, table=True):
    """Art. 42-44 amounts credited to a member's account, append-only: ``reserve_share`` (the
    member's quantified share of the reserve fund) and ``return`` (surplus returned to them).
    Written by surplus distributions (issue 8); the member account sums them."""

    __tablename__ = "member_account_entry"
    __table_args__ = (
        CheckConstraint("kind IN ('reserve_share', 'return')", name="kind_known"),
        Index("ix_member_account_entry_member", "member_id", "kind", "at"),
    )

    id: str = id_field()
    member_id: str = ref_field(foreign_key="cooperative_member.id", index=False)
    cooperative_id: str = ref_field(foreign_key="cooperative.id", index=False)
    kind: str = Field(max_length=16)
    amount_fen: int = money_field()
    year: int | None = Field(default=None, nullable=True)
    source_id: str | None = Field(default=None, max_length=64, nullable=True)  # e.g. the distribution
    at: datetime = time_field()


class BrandLicence(SQLModel, table=True):
    """A licence to sell named products under the regional brand.

    ``status`` is what was decided (applied, granted, suspended, revoked); a licence past its
    ``valid_to`` is *expired* by date alone, computed where it is read (``coops/licence_rules.py``).
    """

    __tablename__ = "brand_licence"
    __table_args__ = (
        CheckConstraint("valid_from <= valid_to", name="valid_term"),
        CheckConstraint("status IN ('applied', 'granted', 'suspended', 'revoked')", name="status_known"),
        # "Which licences are in force today" (is_branded, listings by status, expiring soon).
        Index("ix_brand_licence_status_valid_to", "status", "valid_to"),
        Index("ix_brand_licence_cooperative", "cooperative_id", "id"),
    )

    id: str = id_field()
    number: str | None = Field(default=None, max_length=32, unique=True)  # given at the first grant
    brand: str = Field(max_length=100)
    cooperative_id: str = ref_field(foreign_key="cooperative.id", index=False)
    valid_from: date
    valid_to: date
    status: str = Field(max_length=16)
    status_reason: str | None = Field(default=None, max_length=500)
    applied_by: str = ref_field(foreign_key="user_account.id", index=False)
    applied_at: datetime = time_field()
    granted_at: datetime | None = time_field(nullable=True)
    updated_at: datetime = time_field()
    # Suspended because its cooperative was: granted again when the cooperative is reinstated
    # (only while still within its term).
    suspended_with_cooperative: bool = Field(default=False)


class BrandLicenceProduct(SQLModel, table=True):
    """The products a licence covers (fixed when applying)."""

    __tablename__ = "brand_licence_product"

    licence_id: str = Field(primary_key=True, max_length=26, foreign_key="brand_licence.id")
    product_id: str = Field(primary_key=True, max_length=26, foreign_key="product.id", index=True)


class BrandLicenceDecision(SQLModel, table=True):
    """Append-only: every application, grant, suspension and revocation with actor, time and reason."""

    __tablename__ = "brand_licence_decision"

    id: str = id_field()
    licence_id: str = ref_field(foreign_key="brand_licence.id")
    action: str = Field(max_length=16)  # apply | grant | suspend | revoke
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=500)
    actor_id: str = ref_field(foreign_key="user_account.id", index=False)
    automatic: bool = Field(default=False)  # taken by the system after a certificate change
    at: datetime = time_field()


class BrandLicenceSequence(SQLModel, table=True):
    """The last licence number given per prefix and year; bumped by one atomic upsert per grant."""

    __tablename__ = "brand_licence_sequence"

    prefix: str = Field(primary_key=True, max_length=16)
    year: int = Field(primary_key=True)
    last_value: int


__all__ = [
    "BrandLicence",
    "BrandLicenceDecision",
    "BrandLicenceProduct",
    "BrandLicenceSequence",
    "Cooperative",
    "CooperativeManager",
    "CooperativeMember",
    "CooperativeStatusEvent",
    "MemberAccountEntry",
    "MemberCapitalChange",
    "UniqueConstraint",
]
