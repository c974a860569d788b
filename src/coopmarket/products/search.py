"""Substring search of product names and descriptions, the way a Chinese shopper types: ``q`` of one,
two, three or more characters matches anywhere in the name or the description (no word
segmentation), Latin letters in either case; served by an index on both databases.

The index holds every one- and two-character substring ("gram") of each name and description,
Latin capitals folded to lower case:

- PostgreSQL: ``product.search_grams`` (``text[]``, computed by the database from the row) under a
  GIN index; ``search_grams @> ARRAY[...]`` finds the rows holding all the given grams.
- SQLite: ``product_search_gram(gram, product_id)``, a clustered B-tree written by triggers.

A query of one or two characters is itself a gram, so the index answers it exactly. A longer query
is found by its two-character grams (every one must be present), then checked with ``LIKE``, which
the few candidates pass or fail. Trigram indexes (``pg_trgm``, FTS5 ``trigram``) cannot serve one-
and two-character queries; this single structure serves every length and needs no extension.

Folding Latin capitals only (not other scripts) is what SQLite's ``lower()`` and ``LIKE`` do, and
what the PostgreSQL function does with ``translate``; the query side below does the same, so both
databases find the same rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Integer, Text, and_, bindparam, case, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY

from coopmarket.products.models import Product, product_search_gram

P = Product.metadata.tables["product"].c
G = product_search_gram.c

_FOLD_LATIN = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# Query shapes: a gram the index answers exactly, or longer text checked after the index.
EXACT = "exact"
CHECKED = "checked"

# Rank of a match for sort=relevance: lower comes first.
RANK_EXACT_NAME = 0
RANK_NAME_PREFIX = 1
RANK_IN_NAME = 2
RANK_IN_DESCRIPTION = 3


def fold(text: str) -> str:
    """Latin capitals to lower case, nothing else (the index's rule)."""
    return text.translate(_FOLD_LATIN)


def text_grams(text: str) -> set[str]:
    """Every substring of one and two characters of ``text`` after ``fold``: what the index holds."""
    folded = fold(text)
    return {folded[i : i + n] for n in (1, 2) for i in range(len(folded) - n + 1)}


def query_grams(q: str) -> list[str]:
    """The grams a text must hold to contain ``q``: ``q`` itself up to two characters, otherwise
    its distinct two-character substrings (sorted, so equal queries bind equal parameters)."""
    folded = fold(q)
    if len(folded) <= 2:
        return [folded]
    return sorted({folded[i : i + 2] for i in range(len(folded) - 1)})


def escape_like(text: str) -> str:
    """``text`` with LIKE's wildcards taken literally (escape character ``\\``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def shape(q: str) -> str:
    """Which statement shape ``q`` needs: ``EXACT`` (one or two characters) or ``CHECKED``."""
    return EXACT if len(q) <= 2 else CHECKED


def parameters(q: str) -> dict[str, Any]:
    """Bind parameters of ``match_condition`` and ``rank_expression`` for the (stripped) query ``q``."""
    grams = query_grams(q)
    escaped = escape_like(q)
    return {
        "q_grams": grams,
        "q_gram_count": len(grams),
        "q_gram": grams[0],
        "q_pattern": f"%{escaped}%",
        "q_pattern_description": f"%{escaped}%",
        "q_exact": escaped,
        "q_prefix": f"{escaped}%",
        "q_infix": f"%{escaped}%",
    }


def _like_check() -> ColumnElement[bool]:
    return or_(
        P.name.ilike(bindparam("q_pattern"), escape="\\"),
        P.description.ilike(bindparam("q_pattern_description"), escape="\\"),
    )


def match_condition(dialect: str, query_shape: str) -> ColumnElement[bool]:
    """The WHERE condition "name or description contains q" for ``dialect``, served by its index."""
    if dialect == "postgresql":
        contains_grams: ColumnElement[bool] = P.search_grams.contains(bindparam("q_grams", type_=ARRAY(Text)))
    elif query_shape == EXACT:
        contains_grams = P.id.in_(select(G.product_id).where(G.gram == bindparam("q_gram")))
    else:
        contains_grams = P.id.in_(
            select(G.product_id)
            .where(G.gram.in_(bindparam("q_grams", expanding=True)))
            .group_by(G.product_id)
            .having(func.count() == bindparam("q_gram_count", type_=Integer))
        )
    if query_shape == EXACT:
        return contains_grams
    return and_(contains_grams, _like_check())


def rank_expression() -> ColumnElement[int]:
    """Relevance of a matching row: the exact name, then names starting with q, then names
    containing it, then description-only matches."""
    return case(
        (P.name.ilike(bindparam("q_exact"), escape="\\"), RANK_EXACT_NAME),
        (P.name.ilike(bindparam("q_prefix"), escape="\\"), RANK_NAME_PREFIX),
        (P.name.ilike(bindparam("q_infix"), escape="\\"), RANK_IN_NAME),
        else_=RANK_IN_DESCRIPTION,
    )


__all__ = [
    "CHECKED",
    "EXACT",
    "RANK_EXACT_NAME",
    "RANK_IN_DESCRIPTION",
    "RANK_IN_NAME",
    "RANK_NAME_PREFIX",
    "escape_like",
    "fold",
    "match_condition",
    "parameters",
    "query_grams",
    "rank_expression",
    "shape",
    "text_grams",
]
