"""Fangzi's regions, and database guards for the ledger.

Revision ID: 0002_regions_and_ledger_guards
Revises: 0001_initial
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from coopmarket.regions.loader import load_regions

revision: str = "0002_regions_and_ledger_guards"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

region = sa.table(
    "region",
    sa.column("code", sa.String),
    sa.column("name", sa.String),
    sa.column("level", sa.String),
    sa.column("parent_code", sa.String),
    sa.column("kind", sa.String),
)

PG_GUARDS = [
    # Postings are append-only: a correction is a reversing transaction, never an edit.
    """
    CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'ledger rows are append-only (% on %)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
    END $$
    """,
    """CREATE TRIGGER ledger_posting_append_only BEFORE UPDATE OR DELETE ON ledger_posting
       FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()""",
    """CREATE TRIGGER ledger_transaction_append_only BEFORE UPDATE OR DELETE ON ledger_transaction
       FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()""",
    # Every transaction balances, checked at commit so that its postings can be inserted in turn.
    """
    CREATE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE total bigint;
    BEGIN
      SELECT COALESCE(SUM(amount_fen), 0) INTO total FROM ledger_posting
        WHERE transaction_id = NEW.transaction_id;
      IF total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % does not balance (sum %)', NEW.transaction_id, total
          USING ERRCODE = 'check_violation';
      END IF;
      RETURN NULL;
    END $$
    """,
    """CREATE CONSTRAINT TRIGGER ledger_posting_balanced AFTER INSERT ON ledger_posting
       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced()""",
]

SQLITE_GUARDS = [
    """CREATE TRIGGER ledger_posting_no_update BEFORE UPDATE ON ledger_posting
       BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only'); END""",
    """CREATE TRIGGER ledger_posting_no_delete BEFORE DELETE ON ledger_posting
       BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only'); END""",
    """CREATE TRIGGER ledger_transaction_no_update BEFORE UPDATE ON ledger_transaction
       BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only'); END""",
    """CREATE TRIGGER ledger_transaction_no_delete BEFORE DELETE ON ledger_transaction
       BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only'); END""",
]


def upgrade() -> None:
    op.bulk_insert(
        region,
        [
            {"code": r.code, "name": r.name, "level": r.level, "parent_code": r.parent_code, "kind": r.kind}
            for r in load_regions()
        ],
    )
    guards = PG_GUARDS if op.get_bind().dialect.name == "postgresql" else SQLITE_GUARDS
    for statement in guards:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER ledger_posting_balanced ON ledger_posting")
        op.execute("DROP TRIGGER ledger_posting_append_only ON ledger_posting")
        op.execute("DROP TRIGGER ledger_transaction_append_only ON ledger_transaction")
        op.execute("DROP FUNCTION ledger_check_balanced()")
        op.execute("DROP FUNCTION ledger_refuse_change()")
    else:
        for name in (
            "posting_no_update",
            "posting_no_delete",
            "transaction_no_update",
            "transaction_no_delete",
        ):
            op.execute(f"DROP TRIGGER ledger_{name}")
    op.execute("DELETE FROM region WHERE level IN ('village', 'community')")
    op.execute("DELETE FROM region WHERE level = 'street'")
    op.execute("DELETE FROM region WHERE level = 'district'")
