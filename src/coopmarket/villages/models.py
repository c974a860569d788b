"""Village collective assets, the contracts that let them, their instalments and collection.

A contract's terms are never edited in place: amendments and renewals are new ``village_contract``
rows that reference the one they follow, a termination is a ``contract_termination`` row. Only
the columns that say how a contract ended (``effective_until``, ``superseded_by_id``,
``renewed_by_id``, ``terminated_on``) ever change, and the database refuses an UPDATE of any term
(see migration 0009). Movements of money against instalments, asset status changes and
reminders are append-only, so the clean-up campaign can be recounted for any past period.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Index
from sqlmodel import Field, SQLModel

from coopmarket.core.models import id_field, money_field, ref_field, time_field


class VillageAsset(SQLModel, table=True):
    """An asset or resource of a village collective: land, water, buildings, equipment."""

    __tablename__ = "village_asset"
    __table_args__ = (
        CheckConstraint("size_milli > 0", name="size_positive"),
        CheckConstraint("valuation_fen IS NULL OR valuation_fen >= 0", name="valuation_nonneg"),
        CheckConstraint("(valuation_fen IS NULL) = (valued_on IS NULL)", name="valuation_dated"),
        Index("ix_village_asset_village", "village_code", "id"),
        Index("ix_village_asset_status", "status", "village_code"),
    )

    id: str = id_field()
    village_code: str = Field(max_length=12, foreign_key="region.code", index=False)
    kind: str = Field(max_length=16)  # farmland | woodland | pond | building | site | equipment | other
    name: str = Field(max_length=100)
    # Size in thousandths of ``size_unit`` (12.5 mu is 12500): exact, on both databases.
    size_milli: int = money_field()
    size_unit: str = Field(max_length=16)  # mu | hectare | square_metre | item
    location: str = Field(max_length=200)
    status: str = Field(max_length=16)  # in_use | contracted | idle
    status_since: date
    valuation_fen: int | None = money_field(default=None, nullable=True)
    valued_on: date | None = None
    created_by: str = ref_field(foreign_key="user_account.id", index=False)
    created_at: datetime = time_field()
    updated_at: datetime = time_field()


class AssetStatusEvent(SQLModel, table=True):
    """Every status an asset has had and the local date it took it (append-only)."""

    __tablename__ = "asset_status_event"
    __table_args__ = (Index("ix_asset_status_event_village", "village_code", "on_date"),)

    id: str = id_field()
    asset_id: str = ref_field(foreign_key="village_asset.id")
    village_code: str = Field(max_length=12)
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
    on_date: date
    cause: str = Field(max_length=16)  # registered | edited | contract | termination
    contract_id: str | None = ref_field(nullable=True, index=False)
    recorded_by: str | None = ref_field(nullable=True, index=False)
    recorded_at: datetime = time_field()


class VillageContract(SQLModel, table=True):
    """One contract entry: an original contract, an amendment or a renewal, with its terms."""

    __tablename__ = "village_contract"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="term_order"),
        CheckConstraint("annual_rent_fen > 0", name="rent_positive"),
        CheckConstraint("total_rent_fen >= 0", name="total_nonneg"),
        CheckConstraint("effective_until <= ends_on", name="effective_within_term"),
        Index("ix_village_contract_village", "village_code", "id"),
        Index("ix_village_contract_asset", "asset_id", "starts_on"),
    )

    id: str = id_field()
    village_code: str = Field(max_length=12, foreign_key="region.code", index=False)
    asset_id: str = ref_field(foreign_key="village_asset.id", index=False)
    # The original contract's id, shared by its amendments (a renewal starts a new lineage).
    lineage_id: str = ref_field()
    entry_kind: str = Field(max_length=16)  # original | amendment | renewal
    references_id: str | None = ref_field(nullable=True, index=False)
    counterparty_kind: str = Field(max_length=16)  # person | household | company | cooperative
    counterparty_name: str = Field(max_length=100)
    counterparty_id_number: str | None = Field(default=None, max_length=18)
    counterparty_cooperative_id: str | None = ref_field(
        foreign_key="cooperative.id", nullable=True, index=False
    )
    starts_on: date
    ends_on: date
    annual_rent_fen: int = money_field()
    schedule: str = Field(max_length=16)  # yearly | half_yearly | quarterly | single
    total_rent_fen: int = money_field()
    document_ref: str = Field(max_length=100)
    approval_ref: str | None = Field(default=None, max_length=100)
    reason: str | None = Field(default=None, max_length=500)
    created_by: str = ref_field(foreign_key="user_account.id", index=False)
    created_at: datetime = time_field()
    # How the entry ended: the only columns an UPDATE may touch.
    effective_until: date
    superseded_by_id: str | None = ref_field(nullable=True, index=False)
    renewed_by_id: str | None = ref_field(nullable=True, index=False)
    terminated_on: date | None = None


class ContractTermination(SQLModel, table=True):
    """The early end of a contract entry: its last day in force, why, and on whose authority."""

    __tablename__ = "contract_termination"

    id: str = id_field()
    contract_id: str = Field(max_length=26, foreign_key="village_contract.id", unique=True)
    village_code: str = Field(max_length=12)
    terminated_on: date
    reason: str = Field(max_length=500)
    document_ref: str | None = Field(default=None, max_length=100)
    approval_ref: str | None = Field(default=None, max_length=100)
    created_by: str = ref_field(foreign_key="user_account.id", index=False)
    created_at: datetime = time_field()


class ContractInstalment(SQLModel, table=True):
    """One instalment of a contract's schedule: the rent of one period, due on its first day."""

    __tablename__ = "contract_instalment"
    __table_args__ = (
        CheckConstraint("amount_fen >= 0 AND amount_fen <= initial_amount_fen", name="amount_range"),
        CheckConstraint("paid_fen >= 0 AND written_off_fen >= 0", name="settled_nonneg"),
        # Never above what is due, whatever runs at once.
        CheckConstraint("paid_fen + written_off_fen <= amount_fen", name="within_due"),
        CheckConstraint("period_end >= period_start", name="period_order"),
        Index("ix_contract_instalment_contract", "contract_id", "seq"),
        Index("ix_contract_instalment_village_due", "village_code", "due_on"),
    )

    id: str = id_field()
    contract_id: str = ref_field(foreign_key="village_contract.id", index=False)
    village_code: str = Field(max_length=12)
    seq: int
    period_start: date
    period_end: date
    due_on: date
    initial_amount_fen: int = money_field()
    # Lowered (never raised) when an amendment or a termination ends the contract early.
    amount_fen: int = money_field()
    paid_fen: int = money_field(default=0)
    written_off_fen: int = money_field(default=0)
    cancelled_at: datetime | None = time_field(nullable=True)


class InstalmentMovement(SQLModel, table=True):
    """What lowered an instalment's outstanding amount, on which local date (append-only).

    ``receipt``: money received (posted to the ledger); ``write_off``: given up, with reason and
    approver; ``adjustment``: the amount cut by an amendment or termination (``entry_id``).
    """

    __tablename__ = "instalment_movement"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        Index("ix_instalment_movement_instalment", "instalment_id", "on_date"),
        Index("ix_instalment_movement_village", "village_code", "on_date"),
        Index("ix_instalment_movement_contract", "contract_id", "id"),
        # One receipt per slip and instalment: the same slip typed twice is refused.
        Index("uq_instalment_movement_reference", "instalment_id", "reference", unique=True),
    )

    id: str = id_field()
    instalment_id: str = ref_field(foreign_key="contract_instalment.id", index=False)
    contract_id: str = ref_field(foreign_key="village_contract.id", index=False)
    village_code: str = Field(max_length=12)
    kind: str = Field(max_length=16)  # receipt | write_off | adjustment
    amount_fen: int = money_field()
    on_date: date
    reference: str | None = Field(default=None, max_length=100)
    reason: str | None = Field(default=None, max_length=500)
    entry_id: str | None = ref_field(nullable=True, index=False)
    ledger_transaction_id: str | None = ref_field(nullable=True, index=False)
    recorded_by: str = ref_field(foreign_key="user_account.id", index=False)
    recorded_at: datetime = time_field()


class ContractReminder(SQLModel, table=True):
    """A reminder sent to a counterparty about what the contract owes (append-only)."""

    __tablename__ = "contract_reminder"
    __table_args__ = (Index("ix_contract_reminder_contract", "contract_id", "id"),)

    id: str = id_field()
    contract_id: str = ref_field(foreign_key="village_contract.id", index=False)
    village_code: str = Field(max_length=12)
    sent_on: date
    channel: str = Field(max_length=16)  # letter | visit | phone | message | notice
    note: str | None = Field(default=None, max_length=500)
    outstanding_fen: int = money_field()
    recorded_by: str = ref_field(foreign_key="user_account.id", index=False)
    recorded_at: datetime = time_field()


class ContractFlag(SQLModel, table=True):
    """An irregularity found in a contract lineage, open until resolved."""

    __tablename__ = "contract_flag"
    __table_args__ = (
        Index("ix_contract_flag_lineage", "lineage_id", "code"),
        Index("ix_contract_flag_village", "village_code", "found_on"),
    )

    id: str = id_field()
    lineage_id: str = ref_field(index=False)
    contract_id: str = ref_field(foreign_key="village_contract.id", index=False)
    village_code: str = Field(max_length=12)
    code: str = Field(max_length=32)
    reason: str = Field(max_length=500)
    found_on: date
    resolved_on: date | None = None
    resolution: str | None = Field(default=None, max_length=500)
    resolved_by: str | None = ref_field(nullable=True, index=False)
    resolved_by_contract_id: str | None = ref_field(nullable=True, index=False)
