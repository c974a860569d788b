"""Village collective assets, the contracts that let them, instalments, receipts, arrears, findings.

Revision ID: 0009_village_assets_contracts
Revises: 0006_search_and_stock_history

Movements of money against instalments, asset status changes, reminders and terminations are
append-only, and a contract's terms are never edited in place (amendments and renewals are new
rows): triggers refuse the UPDATE or DELETE on both databases. A CHECK keeps what an instalment
received and wrote off within what is due.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import coopmarket.core.types

revision: str = "0009_village_assets_contracts"
down_revision: str | None = "0006_search_and_stock_history"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("instalment_movement", "asset_status_event", "contract_reminder", "contract_termination")
# Every column of village_contract but those that say how the entry ended.
CONTRACT_TERMS = (
    "id",
    "village_code",
    "asset_id",
    "lineage_id",
    "entry_kind",
    "references_id",
    "counterparty_kind",
    "counterparty_name",
    "counterparty_id_number",
    "counterparty_cooperative_id",
    "starts_on",
    "ends_on",
    "annual_rent_fen",
    "schedule",
    "total_rent_fen",
    "document_ref",
    "approval_ref",
    "reason",
    "created_by",
    "created_at",
)


def _pg_guards() -> list[str]:
    statements = [
        """
        CREATE FUNCTION village_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION '% on % refused: these rows are append-only, a contract''s terms fixed', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
        END $$
        """
    ]
    for table in APPEND_ONLY:
        statements.append(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION village_refuse_change()"
        )
    statements.append(
        f"CREATE TRIGGER village_contract_terms_fixed BEFORE UPDATE OF {', '.join(CONTRACT_TERMS)} "
        "ON village_contract FOR EACH ROW EXECUTE FUNCTION village_refuse_change()"
    )
    statements.append(
        "CREATE TRIGGER village_contract_no_delete BEFORE DELETE ON village_contract "
        "FOR EACH ROW EXECUTE FUNCTION village_refuse_change()"
    )
    return statements


def _sqlite_guards() -> list[str]:
    statements: list[str] = []
    for table in APPEND_ONLY:
        statements.append(
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} rows are append-only'); END"
        )
        statements.append(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} rows are append-only'); END"
        )
    statements.append(
        f"CREATE TRIGGER village_contract_terms_fixed BEFORE UPDATE OF {', '.join(CONTRACT_TERMS)} "
        "ON village_contract BEGIN SELECT RAISE(ABORT, 'a contract''s terms are never edited'); END"
    )
    statements.append(
        "CREATE TRIGGER village_contract_no_delete BEFORE DELETE ON village_contract "
        "BEGIN SELECT RAISE(ABORT, 'contracts are never deleted'); END"
    )
    return statements


def upgrade() -> None:
    op.create_table(
        "village_asset",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("village_code", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("size_milli", sa.BigInteger(), nullable=False),
        sa.Column("size_unit", sa.String(length=16), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_since", sa.Date(), nullable=False),
        sa.Column("valuation_fen", sa.BigInteger(), nullable=True),
        sa.Column("valued_on", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(length=26), nullable=False),
        sa.Column("created_at", coopmarket.core.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", coopmarket.core.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "(valuation_fen IS NULL) = (valued_on IS NULL)", name=op.f("ck_village_asset_valuation_dated")
        ),
        sa.CheckConstraint("size_milli > 0", name=op.f("ck_village_asset_size_positive")),
        sa.CheckConstraint(
            "valuation_fen IS NULL OR valuation_fen >= 0", name=op.f("ck_village_asset_valuation_nonneg")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["user_account.id"], name=op.f("fk_village_asset_created_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["village_code"], ["region.code"], name=op.f("fk_village_asset_village_code_region")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_village_asset")),
    )
    op.create_index("ix_village_asset_status", "village_asset", ["status", "village_code"], unique=False)
    op.create_index("ix_village_asset_village", "village_asset", ["village_code", "id"], unique=False)

    op.create_table(
        "asset_status_event",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("asset_id", sa.String(length=26), nullable=False),
        sa.Column("village_code", sa.String(length=12), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("cause", sa.String(length=16), nullable=False),
        sa.Column("contract_id", sa.String(length=26), nullable=True),
        sa.Column("recorded_by", sa.String(length=26), nullable=True),
        sa.Column("recorded_at", coopmarket.core.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["village_asset.id"], name=op.f("fk_asset_status_event_asset_id_village_asset")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_status_event")),
    )
    op.create_index(op.f("ix_asset_status_event_asset_id"), "asset_status_event", ["asset_id"], unique=False)
    op.create_index(
        "ix_asset_status_event_village", "asset_status_event", ["village_code", "on_date"], unique=False
    )

    op.create_table(
        "village_contract",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("village_code", sa.String(length=12), nullable=False),
        sa.Column("asset_id", sa.String(length=26), nullable=False),
        sa.Column("lineage_id", sa.String(length=26), nullable=False),
        sa.Column("entry_kind", sa.String(length=16), nullable=False),
        sa.Column("references_id", sa.String(length=26), nullable=True),
        sa.Column("counterparty_kind", sa.String(length=16), nullable=False),
        sa.Column("counterparty_name", sa.String(length=100), nullable=False),
        sa.Column("counterparty_id_number", sa.String(length=18), nullable=True),
        sa.Column("counterparty_cooperative_id", sa.String(length=26), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("annual_rent_fen", sa.BigInteger(), nullable=False),
        sa.Column("schedule", sa.String(length=16), nullable=False),
        sa.Column("total_rent_fen", sa.BigInteger(), nullable=False),
        sa.Column("document_ref", sa.String(length=100), nullable=False),
        sa.Column("approval_ref", sa.String(length=100), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("created_by", sa.String(length=26), nullable=False),
        sa.Column("created_at", coopmarket.core.types.UTCDateTime(), nullable=False),
        sa.Column("effective_until", sa.Date(), nullable=False),
        sa.Column("superseded_by_id", sa.String(length=26), nullable=True),
        sa.Column("renewed_by_id", sa.String(length=26), nullable=True),
        sa.Column("terminated_on", sa.Date(), nullable=True),
        sa.CheckConstraint("annual_rent_fen > 0", name=op.f("ck_village_contract_rent_positive")),
        sa.CheckConstraint(
            "effective_until <= ends_on", name=op.f("ck_village_contract_effective_within_term")
        ),
        sa.CheckConstraint("ends_on >= starts_on", name=op.f("ck_village_contract_term_order")),
        sa.CheckConstraint("total_rent_fen >= 0", name=op.f("ck_village_contract_total_nonneg")),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["village_asset.id"], name=op.f("fk_village_contract_asset_id_village_asset")
        ),
        sa.ForeignKeyConstraint(
            ["counterparty_cooperative_id"],
            ["cooperative.id"],
            name=op.f("fk_village_contract_counterparty_cooperative_id_cooperative"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["user_account.id"], name=op.f("fk_village_contract_created_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["village_code"], ["region.code"], name=op.f("fk_village_contract_village_code_region")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_village_contract")),
    )
    op.create_index("ix_village_contract_asset", "village_contract", ["asset_id", "starts_on"], unique=False)
    op.create_index(op.f("ix_village_contract_lineage_id"), "village_contract", ["lineage_id"], unique=False)
    op.create_index("ix_village_contract_village", "village_contract", ["village_code", "id"], unique=False)

    op.create_table(
        "contract_flag",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("lineage_id", sa.String(length=26), nullable=False),
        sa.Column("contract_id", sa.String(length=26), nullable=False),
        sa.Column("village_code", sa.String(length=12), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("found_on", sa.Date(), nullable=False),
        sa.Column("resolved_on", sa.Date(), nullable=True),
        sa.Column("resolution", sa.String(length=500), nullable=True),
        sa.Column("resolved_by", sa.String(length=26), nullable=True),
        sa.Column("resolved_by_contract_id", sa.String(length=26), nullable=True),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["village_contract.id"],
            name=op.f("fk_contract_flag_contract_id_village_contract"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_flag")),
    )
    op.create_index("ix_contract_flag_lineage", "contract_flag", ["lineage_id", "code"], unique=False)
    op.create_index("ix_contract_flag_village", "contract_flag", ["village_code", "found_on"], unique=False)

    op.create_table(
        "contract_instalment",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("contract_id", sa.String(length=26), nullable=False),
        sa.Column("village_code", sa.String(length=12), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("initial_amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_fen", sa.BigInteger(), nullable=False),
        sa.Column("written_off_fen", sa.BigInteger(), nullable=False),
        sa.Column("cancelled_at", coopmarket.core.types.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "amount_fen >= 0 AND amount_fen <= initial_amount_fen",
            name=op.f("ck_contract_instalment_amount_range"),
        ),
        sa.CheckConstraint(
            "paid_fen + written_off_fen <= amount_fen", name=op.f("ck_contract_instalment_within_due")
        ),
        sa.CheckConstraint(
            "paid_fen >= 0 AND written_off_fen >= 0", name=op.f("ck_contract_instalment_settled_nonneg")
        ),
        sa.CheckConstraint("period_end >= period_start", name=op.f("ck_contract_instalment_period_order")),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["village_contract.id"],
            name=op.f("fk_contract_instalment_contract_id_village_contract"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_instalment")),
    )
    op.create_index(
        "ix_contract_instalment_contract", "contract_instalment", ["contract_id", "seq"], unique=False
    )
    op.create_index(
        "ix_contract_instalment_village_due", "contract_instalment", ["village_code", "due_on"], unique=False
    )

    op.create_table(
        "contract_reminder",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("contract_id", sa.String(length=26), nullable=False),
        sa.Column("village_code", sa.String(length=12), nullable=False),
        sa.Column("sent_on", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("outstanding_fen", sa.BigInteger(), nullable=False),
        sa.Column("recorded_by", sa.String(length=26), nullable=False),
        sa.Column("recorded_at", coopmarket.core.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["village_contract.id"],
            name=op.f("fk_contract_reminder_contract_id_village_contract"),
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["user_account.id"], name=op.f("fk_contract_reminder_recorded_by_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_reminder")),
    )
    op.create_index("ix_contract_reminder_contract", "contract_reminder", ["contract_id", "id"], unique=False)

    op.create_table(
        "contract_termination",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("contract_id", sa.String(length=26), nullable=False),
        sa.Column("village_code", sa.String(length=12), nullable=False),
        sa.Column("terminated_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("document_ref", sa.String(length=100), nullable=True),
        sa.Column("approval_ref", sa.String(length=100), nullable=True),
        sa.Column("created_by", sa.String(length=26), nullable=False),
        sa.Column("created_at", coopmarket.core.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["village_contract.id"],
            name=op.f("fk_contract_termination_contract_id_village_contract"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["user_account.id"], name=op.f("fk_contract_termination_created_by_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_termination")),
        sa.UniqueConstraint("contract_id", name=op.f("uq_contract_termination_contract_id")),
    )
    op.create_table(
        "instalment_movement",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("instalment_id", sa.String(length=26), nullable=False),
        sa.Column("contract_id", sa.String(length=26), nullable=False),
        sa.Column("village_code", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("entry_id", sa.String(length=26), nullable=True),
        sa.Column("ledger_transaction_id", sa.String(length=26), nullable=True),
        sa.Column("recorded_by", sa.String(length=26), nullable=False),
        sa.Column("recorded_at", coopmarket.core.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_instalment_movement_amount_positive")),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["village_contract.id"],
            name=op.f("fk_instalment_movement_contract_id_village_contract"),
        ),
        sa.ForeignKeyConstraint(
            ["instalment_id"],
            ["contract_instalment.id"],
            name=op.f("fk_instalment_movement_instalment_id_contract_instalment"),
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["user_account.id"], name=op.f("fk_instalment_movement_recorded_by_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instalment_movement")),
    )
    op.create_index(
        "ix_instalment_movement_contract", "instalment_movement", ["contract_id", "id"], unique=False
    )
    op.create_index(
        "ix_instalment_movement_instalment", "instalment_movement", ["instalment_id", "on_date"], unique=False
    )
    op.create_index(
        "ix_instalment_movement_village", "instalment_movement", ["village_code", "on_date"], unique=False
    )
    op.create_index(
        "uq_instalment_movement_reference", "instalment_movement", ["instalment_id", "reference"], unique=True
    )
    for statement in _pg_guards() if op.get_bind().dialect.name == "postgresql" else _sqlite_guards():
        op.execute(statement)


def downgrade() -> None:
    # Dropping a table drops its triggers on both databases.
    for table in (
        "instalment_movement",
        "contract_termination",
        "contract_reminder",
        "contract_instalment",
        "contract_flag",
        "village_contract",
        "asset_status_event",
        "village_asset",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION village_refuse_change()")
