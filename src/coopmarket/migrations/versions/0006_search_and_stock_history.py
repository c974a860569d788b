"""Substring search of names and descriptions; every stock change in order; low-stock thresholds.

PostgreSQL: ``coopmarket_search_grams(name, description)`` gives every one- and two-character
substring of each (Latin letters in lower case); ``product.search_grams`` is that, stored and
recomputed by the database whenever the name or the description changes, under a GIN index.
SQLite: the same substrings as rows of ``product_search_gram``, written by triggers on ``product``.
No extension is needed on either database.

Stock: ``sku.stock_version`` counts a SKU's stock changes; ``stock_adjustment`` becomes the history
of all of them (``kind``, per-SKU ``seq``, ``order_id``; ``actor_id`` empty for the system).
Existing rows get ``seq`` in the order they were made.

Revision ID: 0006_search_and_stock_history
Revises: 0004_product_images
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_search_and_stock_history"
down_revision: str | None = "0004_product_images"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LOWER = "abcdefghijklmnopqrstuvwxyz"

# Every substring of length 1 and 2 of each text, Latin capitals folded to lower case (only those:
# the same rule as SQLite's lower() and the query side in products/search.py). IMMUTABLE: it reads
# nothing but its arguments, so a stored generated column may use it.
PG_GRAMS_FUNCTION = f"""
CREATE FUNCTION coopmarket_search_grams(name text, description text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(DISTINCT substr(t, i, k)), '{{}}')
  FROM unnest(ARRAY[translate(name, '{UPPER}', '{LOWER}'), translate(description, '{UPPER}', '{LOWER}')]) AS t,
       generate_series(1, char_length(t)) AS i,
       (VALUES (1), (2)) AS v(k)
  WHERE i + k - 1 <= char_length(t)
$$
"""


def _sqlite_grams_of(product: str) -> str:
    """The (gram, product_id) rows of one product row (``new`` or ``old`` in a trigger, or a table
    alias). SQLite's lower() folds ASCII letters only, like the PostgreSQL function."""
    return f"""
      WITH RECURSIVE pos(i) AS (
        SELECT 1 UNION ALL SELECT i + 1 FROM pos
        WHERE i < max(length({product}.name), length({product}.description))
      )
      SELECT DISTINCT substr(t.text, pos.i, k.n), {product}.id
      FROM (SELECT lower({product}.name) AS text UNION ALL SELECT lower({product}.description)) AS t,
           pos, (SELECT 1 AS n UNION ALL SELECT 2) AS k
      WHERE pos.i + k.n - 1 <= length(t.text)
    """


SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER product_search_gram_insert AFTER INSERT ON product BEGIN
      INSERT INTO product_search_gram (gram, product_id) {_sqlite_grams_of("new")};
    END""",
    f"""CREATE TRIGGER product_search_gram_update AFTER UPDATE OF name, description ON product BEGIN
      DELETE FROM product_search_gram WHERE product_id = old.id;
      INSERT INTO product_search_gram (gram, product_id) {_sqlite_grams_of("new")};
    END""",
    """CREATE TRIGGER product_search_gram_delete AFTER DELETE ON product BEGIN
      DELETE FROM product_search_gram WHERE product_id = old.id;
    END""",
]


# Products written before this revision.
SQLITE_BACKFILL = """
INSERT OR IGNORE INTO product_search_gram (gram, product_id)
WITH RECURSIVE pos(i) AS (
  SELECT 1 UNION ALL SELECT i + 1 FROM pos
  WHERE i < (SELECT max(max(length(name)), max(length(description))) FROM product)
)
SELECT substr(t.text, pos.i, k.n), t.id
FROM (SELECT id, lower(name) AS text FROM product UNION ALL SELECT id, lower(description) FROM product) AS t,
     pos, (SELECT 1 AS n UNION ALL SELECT 2) AS k
WHERE pos.i + k.n - 1 <= length(t.text)
"""


def _upgrade_search(dialect: str) -> None:
    if dialect == "postgresql":
        op.execute(PG_GRAMS_FUNCTION)
        op.add_column(
            "product",
            sa.Column(
                "search_grams",
                postgresql.ARRAY(sa.Text()),
                sa.Computed("coopmarket_search_grams(name, description)", persisted=True),
                nullable=True,
            ),
        )
        # fastupdate off: catalogue writes are rare and reads hot, so entries go straight into the
        # index rather than a pending list every search would scan (and the planner would avoid).
        op.create_index(
            "ix_product_search_grams",
            "product",
            ["search_grams"],
            postgresql_using="gin",
            postgresql_with={"fastupdate": "off"},
        )
        return
    op.create_table(
        "product_search_gram",
        sa.Column("gram", sa.String(length=2), nullable=False),
        sa.Column("product_id", sa.String(length=26), nullable=False),
        sa.PrimaryKeyConstraint("gram", "product_id", name="pk_product_search_gram"),
        sqlite_with_rowid=False,
    )
    for statement in SQLITE_TRIGGERS:
        op.execute(statement)
    op.execute(SQLITE_BACKFILL)


def _downgrade_search(dialect: str) -> None:
    if dialect == "postgresql":
        op.drop_index("ix_product_search_grams", table_name="product")
        op.drop_column("product", "search_grams")
        op.execute("DROP FUNCTION coopmarket_search_grams(text, text)")
        return
    for name in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER product_search_gram_{name}")
    op.drop_table("product_search_gram")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("sku", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("low_stock_threshold", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("stock_version", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_check_constraint(
            op.f("ck_sku_low_stock_threshold_nonneg"), "low_stock_threshold >= 0"
        )

    with op.batch_alter_table("stock_adjustment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column(
                "kind",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                server_default="adjustment",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("order_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=True))
        batch_op.alter_column("actor_id", existing_type=sa.String(length=26), nullable=True)
    # Number the manual adjustments made so far, per SKU, in the order they were made.
    op.execute(
        """
        UPDATE stock_adjustment SET seq = (
          SELECT count(*) FROM stock_adjustment AS earlier
          WHERE earlier.sku_id = stock_adjustment.sku_id
            AND (earlier.created_at < stock_adjustment.created_at
                 OR (earlier.created_at = stock_adjustment.created_at AND earlier.id <= stock_adjustment.id))
        )
        """
    )
    op.execute("UPDATE sku SET stock_version = (SELECT count(*) FROM stock_adjustment WHERE sku_id = sku.id)")
    with op.batch_alter_table("stock_adjustment", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.Integer(), server_default=None)
        batch_op.drop_index("ix_stock_adjustment_sku_id")
        batch_op.create_unique_constraint("uq_stock_adjustment_sku_seq", ["sku_id", "seq"])

    _upgrade_search(dialect)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    _downgrade_search(dialect)
    # Only manual adjustments have an author to keep under the old NOT NULL rule.
    op.execute("DELETE FROM stock_adjustment WHERE actor_id IS NULL OR kind <> 'adjustment'")
    with op.batch_alter_table("stock_adjustment", schema=None) as batch_op:
        batch_op.drop_constraint("uq_stock_adjustment_sku_seq", type_="unique")
        batch_op.create_index("ix_stock_adjustment_sku_id", ["sku_id"], unique=False)
        batch_op.alter_column("actor_id", existing_type=sa.String(length=26), nullable=False)
        batch_op.drop_column("order_id")
        batch_op.drop_column("kind")
        batch_op.drop_column("seq")
    with op.batch_alter_table("sku", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_sku_low_stock_threshold_nonneg"), type_="check")
        batch_op.drop_column("stock_version")
        batch_op.drop_column("low_stock_threshold")
