"""The catalogue version: a counter the database itself bumps, in the writing transaction, on every
change to what the public catalogue shows (products, SKUs, images, certificates, batches, brand
licences and their products, cooperatives). The shared response cache keys on it.

Sixteen shard rows; the version is their sum. On PostgreSQL a deferred constraint trigger bumps the
shard of the writing connection (``pg_backend_pid() % 16``) at commit, so the lock on the counter is
the last one a transaction takes, held for a moment, and concurrent writers rarely meet on it (no
deadlock with the row locks taken before). SQLite has one writer at a time: plain triggers bump
shard 0. A table rebuilt by SQLite's batch mode loses its triggers: make them again after.

Revision ID: 0015_catalogue_versions
Revises: 0013_registry
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_catalogue_versions"
down_revision: str | None = "0013_registry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHARDS = 16
TABLES = (
    "product",
    "sku",
    "product_image",
    "product_certification",
    "product_batch",
    "brand_licence",
    "brand_licence_product",
    "cooperative",
)
EVENTS = ("INSERT", "UPDATE", "DELETE")
# An upsert, so a counter whose rows were deleted (a test's TRUNCATE, a restore) still counts on:
# versions only ever grow while rows exist, and a missing shard starts again at 1.
SQLITE_BUMP = (
    "INSERT INTO catalogue_version (shard, version) VALUES (0, 1) "
    "ON CONFLICT (shard) DO UPDATE SET version = catalogue_version.version + 1"
)

PG_FUNCTION = f"""
CREATE FUNCTION catalogue_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO catalogue_version (shard, version) VALUES (pg_backend_pid() % {SHARDS}, 1)
    ON CONFLICT (shard) DO UPDATE SET version = catalogue_version.version + 1;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "catalogue_version",
        sa.Column("shard", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("shard", name=op.f("pk_catalogue_version")),
    )
    op.bulk_insert(
        sa.table("catalogue_version", sa.column("shard", sa.Integer), sa.column("version", sa.BigInteger)),
        [{"shard": shard, "version": 0} for shard in range(SHARDS)],
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for table in TABLES:
            op.execute(
                f"CREATE CONSTRAINT TRIGGER catalogue_version_{table} AFTER INSERT OR UPDATE OR DELETE "
                f"ON {table} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                "EXECUTE FUNCTION catalogue_version_bump()"
            )
    else:
        for table in TABLES:
            for event in EVENTS:
                op.execute(
                    f"CREATE TRIGGER catalogue_version_{table}_{event.lower()} AFTER {event} ON {table} "
                    f"BEGIN {SQLITE_BUMP}; END"
                )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER catalogue_version_{table} ON {table}")
        op.execute("DROP FUNCTION catalogue_version_bump()")
    else:
        for table in TABLES:
            for event in EVENTS:
                op.execute(f"DROP TRIGGER catalogue_version_{table}_{event.lower()}")
    op.drop_table("catalogue_version")
