"""Bulk import and export of a cooperative's products and SKUs (CSV and XLSX).

One row per SKU; rows with the same ``name`` are one product. Columns: ``name, category, unit,
origin_village_code, description, sku_code, spec, price_fen, stock`` (``description`` optional),
and optionally ``low_stock_threshold``. Import matches products by name within the cooperative:

- a name the cooperative does not have yet is a new product with the rows' SKUs;
- a name it has (archived products included) updates that product: its fields, the SKUs whose
  ``sku_code`` it already has (spec, price, stock, threshold), and adds the other codes as new SKUs.
  SKUs the file does not mention are left as they are; nothing is deleted, no status changes.

So importing the same file twice changes nothing the second time, and an export edited in a
spreadsheet imports back. A file with any bad row changes nothing: every row is checked first and
each bad one is reported with its number (the header is row 1) and reason, in one 422. The whole
import is one transaction; stock set by it is recorded in each SKU's history (kind ``import``).
"""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from coopmarket.coops import service as coops_service
from coopmarket.coops.errors import CooperativeNotFound
from coopmarket.core import clock, i18n
from coopmarket.core.errors import Conflict, FieldError
from coopmarket.core.ids import new_id
from coopmarket.core.principal import Principal
from coopmarket.core.text import is_multiline_text, is_name, is_single_line_text, normalise
from coopmarket.products import stock as stock_moves
from coopmarket.products import tabular
from coopmarket.products.errors import (
    CooperativeNotApproved,
    ImportRejected,
    ImportTooLarge,
    UnreadableImport,
)
from coopmarket.products.inventory import require_managed_cooperative
from coopmarket.products.models import Product, Sku
from coopmarket.products.schemas import (
    CATEGORIES,
    MAX_PRICE_FEN,
    MAX_SKUS,
    MAX_STOCK,
    ExportFormat,
    ImportResult,
    ProductStatusFilter,
)
from coopmarket.regions import service as regions_service

_product_table = Product.metadata.tables["product"]
_sku_table = Sku.metadata.tables["sku"]
P = _product_table.c
S = _sku_table.c

APPROVED = "approved"
ACTIVE = "active"
VILLAGE_LEVEL = "village"

COLUMNS = (
    "name",
    "category",
    "unit",
    "origin_village_code",
    "description",
    "sku_code",
    "spec",
    "price_fen",
    "stock",
    "low_stock_threshold",
)
REQUIRED_COLUMNS = (
    "name",
    "category",
    "unit",
    "origin_village_code",
    "sku_code",
    "spec",
    "price_fen",
    "stock",
)
# Chinese exports (core/i18n.py) label columns and categories; the import reads either back.
_COLUMN_BY_LABEL = {i18n.label(i18n.CHINESE, "column", c): c for c in COLUMNS}
_CATEGORY_BY_LABEL = {i18n.label(i18n.CHINESE, "category", c): c for c in CATEGORIES}
TEXT_LIMITS = {"name": 100, "category": 32, "unit": 32, "description": 5000, "sku_code": 64, "spec": 100}
# The text rules of the JSON API (core/text.py), cell by cell: a name shown to buyers refuses
# invisible and bidi characters, a description may break lines, the rest is one line.
_ONE_LINE = (is_single_line_text, "must be one line of text without control characters")
TEXT_RULES = {
    "name": (is_name, "must be one line without control, invisible or bidi-override characters"),
    "description": (is_multiline_text, "must be text without control characters other than line breaks and tabs"),
}
_VILLAGE_CODE = re.compile(r"[0-9]{12}")
_WHOLE = re.compile(r"\+?[0-9]+")
_DECIMAL = re.compile(r"\+?[0-9]*\.[0-9]+")


@dataclass(slots=True)
class _Row:
    number: int
    name: str
    category: str
    unit: str
    village: str
    description: str | None  # None: the cell was empty (or the column absent)
    sku_code: str
    spec: str
    price_fen: int
    stock: int
    threshold: int | None


@dataclass
class _Problems:
    items: list[tuple[int, int, str, str]] = field(
        default_factory=list
    )  # (row, column order, field, message)

    def add(self, row: int, column: str | None, message: str) -> None:
        order = COLUMNS.index(column) if column in COLUMNS else -1
        where = f"rows[{row}]" + (f".{column}" if column else "")
        self.items.append((row, order, where, message))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        self.items.sort(key=lambda item: (item[0], item[1]))
        bad_rows = sorted({item[0] for item in self.items})
        raise ImportRejected(
            f"{len(bad_rows)} row(s) of the file are not valid; nothing was imported.",
            errors=[FieldError(where, message) for _row, _order, where, message in self.items],
        )


# --- reading cells -----------------------------------------------------------------------------


class _CellError(ValueError):
    pass


def _text(cell: tabular.Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, tabular.DateCell):
        raise _CellError(
            f"the spreadsheet stored this as a date ({cell}); format the column as text and type it again"
        )
    if isinstance(cell, float):
        return str(int(cell)) if cell.is_integer() else repr(cell)
    if isinstance(cell, int):
        return str(cell)
    return tabular.unescape_text(cell.strip())


def _whole_number(cell: tabular.Cell, column: str, low: int, high: int) -> int | None:
    """None for an empty cell."""
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        return None
    value: int
    if isinstance(cell, float):
        if not cell.is_integer():
            raise _CellError(_not_whole(column, repr(cell)))
        value = int(cell)
    elif isinstance(cell, int):
        value = cell
    else:
        raw = _text(cell)
        if _WHOLE.fullmatch(raw):
            value = int(raw)
        elif _DECIMAL.fullmatch(raw) or raw.startswith("-"):
            raise _CellError(
                _not_whole(column, raw) if not raw.startswith("-") else f"must not be negative: {raw}"
            )
        else:
            raise _CellError(f"not a whole number: {raw!r}")
    if value < low:
        raise _CellError(f"must be at least {low}")
    if value > high:
        raise _CellError(f"must be at most {high}")
    return value


def _not_whole(column: str, raw: str) -> str:
    if column == "price_fen":
        return f"a whole number of fen (分) is expected, not {raw} (39.90 yuan is 3990)"
    return f"a whole number is expected, not {raw}"


def _header_positions(header: list[str], problems: _Problems) -> dict[str, int]:
    positions: dict[str, int] = {}
    for index, label in enumerate(header):
        if not label:
            continue
        name = _COLUMN_BY_LABEL.get(label, label)
        if name not in COLUMNS:
            problems.add(1, None, f"unknown column {name!r}; the columns are {', '.join(COLUMNS)}")
        elif name in positions:
            problems.add(1, None, f"column {name!r} appears twice")
        else:
            positions[name] = index
    missing = [c for c in REQUIRED_COLUMNS if c not in positions]
    if missing:
        problems.add(1, None, f"missing column(s): {', '.join(missing)}")
    return positions


def _parse_row(
    number: int, cells: list[tabular.Cell], positions: dict[str, int], problems: _Problems
) -> _Row | None:
    known = set(positions.values())
    for index, cell in enumerate(cells):
        if index not in known and cell is not None and not (isinstance(cell, str) and not cell.strip()):
            problems.add(number, None, f"a value in column {index + 1}, which has no known name in row 1")
            break

    def cell_of(column: str) -> tabular.Cell:
        index = positions.get(column)
        return cells[index] if index is not None and index < len(cells) else None

    values: dict[str, Any] = {}
    ok = True
    for column in ("name", "category", "unit", "origin_village_code", "description", "sku_code", "spec"):
        try:
            value = _text(cell_of(column))
        except _CellError as exc:
            problems.add(number, column, str(exc))
            ok = False
            continue
        if not value and column != "description":
            problems.add(number, column, "required")
            ok = False
            continue
        value = normalise(value)
        keeps_rule, rule = TEXT_RULES.get(column, _ONE_LINE)
        if not keeps_rule(value):
            problems.add(number, column, rule)
            ok = False
            continue
        limit = TEXT_LIMITS.get(column)
        if limit is not None and len(value) > limit:
            problems.add(number, column, f"at most {limit} characters")
            ok = False
            continue
        values[column] = value
    if "category" in values:
        values["category"] = _CATEGORY_BY_LABEL.get(values["category"], values["category"])
    if "category" in values and values["category"] not in CATEGORIES:
        problems.add(number, "category", f"not a category; one of {', '.join(CATEGORIES)}")
        ok = False
    if "origin_village_code" in values and not _VILLAGE_CODE.fullmatch(values["origin_village_code"]):
        problems.add(number, "origin_village_code", "a 12-digit village-level region code is expected")
        ok = False
    for column, low, high, required in (
        ("price_fen", 1, MAX_PRICE_FEN, True),
        ("stock", 0, MAX_STOCK, True),
        ("low_stock_threshold", 0, MAX_STOCK, False),
    ):
        try:
            number_value = _whole_number(cell_of(column), column, low, high)
        except _CellError as exc:
            problems.add(number, column, str(exc))
            ok = False
            continue
        if number_value is None and required:
            problems.add(number, column, "required")
            ok = False
            continue
        values[column] = number_value
    if not ok:
        return None
    return _Row(
        number=number,
        name=values["name"],
        category=values["category"],
        unit=values["unit"],
        village=values["origin_village_code"],
        description=values["description"] or None,
        sku_code=values["sku_code"],
        spec=values["spec"],
        price_fen=values["price_fen"],
        stock=values["stock"],
        threshold=values["low_stock_threshold"],
    )


@dataclass
class _ProductRows:
    name: str
    rows: list[_Row]
    category: str
    unit: str
    village: str
    description: str | None


def _group(rows: list[_Row], problems: _Problems) -> dict[str, _ProductRows]:
    """Rows by product name, in file order; a product's rows must agree on its fields."""
    groups: dict[str, _ProductRows] = {}
    for row in rows:
        group = groups.get(row.name)
        if group is None:
            groups[row.name] = _ProductRows(
                row.name, [row], row.category, row.unit, row.village, row.description
            )
            continue
        first = group.rows[0].number
        for column, mine, theirs in (
            ("category", row.category, group.category),
            ("unit", row.unit, group.unit),
            ("origin_village_code", row.village, group.village),
        ):
            if mine != theirs:
                problems.add(row.number, column, f"differs from row {first}, the first row of this product")
        if row.description is not None:
            if group.description is None:
                group.description = row.description
            elif row.description != group.description:
                problems.add(
                    row.number,
                    "description",
                    f"differs from the description of this product above row {row.number}",
                )
        earlier = next((r for r in group.rows if r.sku_code == row.sku_code), None)
        if earlier is not None:
            problems.add(
                row.number, "sku_code", f"this product has SKU {row.sku_code} on row {earlier.number} already"
            )
            continue
        group.rows.append(row)
    return groups


# --- import ------------------------------------------------------------------------------------


def require_import_rights(principal: Principal, cooperative_id: str) -> None:
    """Before the file is read: 403 unless a cooperative manager, 404 unless theirs."""
    require_managed_cooperative(principal, cooperative_id)


def _read(data: bytes, max_rows: int) -> tabular.Table:
    try:
        return tabular.read_table(data, max_rows=max_rows)
    except tabular.UnreadableTable as exc:
        raise UnreadableImport(str(exc), errors=[FieldError("file", str(exc))]) from None
    except tabular.TooManyRows as exc:
        raise ImportTooLarge(
            f"The file has more than {exc.limit} data rows; split it.",
            errors=[FieldError("file", f"at most {exc.limit} data rows")],
        ) from None


async def _lock_cooperative_imports(session: AsyncSession, cooperative_id: str) -> None:
    """One import per cooperative at a time (PostgreSQL; a SQLite write transaction is alone anyway),
    so two imports cannot both create a product of the same name."""
    if stock_moves.dialect_name(session) == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"coopmarket:product-import:{cooperative_id}"},
        )


async def import_products(
    session: AsyncSession, principal: Principal, cooperative_id: str, data: bytes, *, max_rows: int
) -> ImportResult:
    """Create and update the cooperative's products and SKUs from a CSV or XLSX file, all or nothing."""
    require_import_rights(principal, cooperative_id)
    table = await asyncio.to_thread(_read, data, max_rows)
    problems = _Problems()
    positions = _header_positions(table.header, problems)
    problems.raise_if_any()
    if not table.rows:
        raise ImportRejected(
            "The file has no data rows.", errors=[FieldError("file", "no data rows after row 1")]
        )
    parsed = [row for number, cells in table.rows if (row := _parse_row(number, cells, positions, problems))]
    groups = _group(parsed, problems)

    brief = await coops_service.get_cooperative_brief(session, cooperative_id)
    if brief is None:
        raise CooperativeNotFound(f"No cooperative {cooperative_id}.")
    if brief.status != APPROVED:
        raise CooperativeNotApproved("Only an approved cooperative may import products.")
    await _check_villages(session, groups, problems)
    await _lock_cooperative_imports(session, cooperative_id)
    existing = await _existing_products(session, cooperative_id, list(groups))
    existing_skus = await _existing_skus(session, [p["id"] for ps in existing.values() for p in ps])
    for name, group in groups.items():
        matches = existing.get(name, [])
        if len(matches) > 1:
            for row in group.rows:
                problems.add(
                    row.number,
                    "name",
                    f"{len(matches)} products of this cooperative have this name; rename one first",
                )
            continue
        have = existing_skus.get(matches[0]["id"], {}) if matches else {}
        new_codes = [row for row in group.rows if row.sku_code not in have]
        if len(have) + len(new_codes) > MAX_SKUS:
            problems.add(
                new_codes[MAX_SKUS - len(have)].number, "sku_code", f"a product has at most {MAX_SKUS} SKUs"
            )
    problems.raise_if_any()

    result = _Counts()
    now = clock.now()
    for name, group in groups.items():
        matches = existing.get(name, [])
        if matches:
            await _update_product(
                session, principal, matches[0], existing_skus.get(matches[0]["id"], {}), group, now, result
            )
        else:
            await _create_product(session, principal, cooperative_id, group, now, result)
    return ImportResult(
        rows=len(table.rows),
        created_products=result.created_products,
        updated_products=result.updated_products,
        unchanged_products=result.unchanged_products,
        created_skus=result.created_skus,
        updated_skus=result.updated_skus,
        unchanged_skus=result.unchanged_skus,
        product_ids=result.product_ids,
    )


@dataclass
class _Counts:
    created_products: int = 0
    updated_products: int = 0
    unchanged_products: int = 0
    created_skus: int = 0
    updated_skus: int = 0
    unchanged_skus: int = 0
    product_ids: list[str] = field(default_factory=list)


async def _check_villages(
    session: AsyncSession, groups: dict[str, _ProductRows], problems: _Problems
) -> None:
    by_code: dict[str, list[_Row]] = defaultdict(list)
    for group in groups.values():
        for row in group.rows:
            by_code[row.village].append(row)
    for code in sorted(by_code):
        region = await regions_service.find_region(session, code)
        if region is None or region.level != VILLAGE_LEVEL:
            for row in by_code[code]:
                problems.add(
                    row.number, "origin_village_code", f"{code} is not a village-level region of the district"
                )


_PRODUCT_FIELDS = (P.id, P.name, P.category, P.unit, P.origin_village_code, P.description, P.min_price_fen)
_SKU_FIELDS = (S.id, S.product_id, S.code, S.spec, S.price_fen, S.stock, S.low_stock_threshold)


async def _existing_products(
    session: AsyncSession, cooperative_id: str, names: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """The cooperative's products with these names, locked for this transaction."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for start in range(0, len(names), 500):
        rows = (
            await session.execute(
                select(*_PRODUCT_FIELDS)
                .where(P.cooperative_id == cooperative_id, P.name.in_(names[start : start + 500]))
                .order_by(P.id)
                .with_for_update()
            )
        ).all()
        for r in rows:
            found[r.name].append(dict(r._mapping))
    return found


async def _existing_skus(
    session: AsyncSession, product_ids: list[str]
) -> dict[str, dict[str, dict[str, Any]]]:
    """SKUs by product and code, locked: their stock is set from the file against what it is now."""
    skus: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for start in range(0, len(product_ids), 500):
        rows = (
            await session.execute(
                select(*_SKU_FIELDS)
                .where(S.product_id.in_(product_ids[start : start + 500]))
                .order_by(S.id)
                .with_for_update()
            )
        ).all()
        for r in rows:
            skus[r.product_id][r.code] = dict(r._mapping)
    return skus


_INSERT_PRODUCT = insert(_product_table)
_INSERT_SKU = insert(_sku_table)


def _new_sku(product_id: str, row: _Row, now: Any) -> dict[str, Any]:
    return {
        "id": new_id(),
        "product_id": product_id,
        "code": row.sku_code,
        "spec": row.spec,
        "price_fen": row.price_fen,
        "stock": row.stock,
        "low_stock_threshold": row.threshold or 0,
        "stock_version": stock_moves.initial_stock_version(row.stock),
        "created_at": now,
    }


async def _insert_skus(
    session: AsyncSession, principal: Principal, skus: list[dict[str, Any]], now: Any
) -> None:
    await session.execute(_INSERT_SKU, skus)
    history = stock_moves.opening_history(
        ((s["id"], s["stock"]) for s in skus),
        kind=stock_moves.IMPORTED,
        reason="SKU created by import",
        actor_id=principal.id,
        at=now,
    )
    await stock_moves.insert_history(session, history)


async def _create_product(
    session: AsyncSession,
    principal: Principal,
    cooperative_id: str,
    group: _ProductRows,
    now: Any,
    counts: _Counts,
) -> None:
    product_id = new_id()
    await session.execute(
        _INSERT_PRODUCT,
        [
            {
                "id": product_id,
                "cooperative_id": cooperative_id,
                "name": group.name,
                "category": group.category,
                "description": group.description or "",
                "unit": group.unit,
                "origin_village_code": group.village,
                "status": ACTIVE,
                "min_price_fen": min(r.price_fen for r in group.rows),
                "created_at": now,
                "updated_at": now,
            }
        ],
    )
    await _insert_skus(session, principal, [_new_sku(product_id, row, now) for row in group.rows], now)
    counts.created_products += 1
    counts.created_skus += len(group.rows)
    counts.product_ids.append(product_id)


async def _update_product(
    session: AsyncSession,
    principal: Principal,
    product: dict[str, Any],
    skus: dict[str, dict[str, Any]],
    group: _ProductRows,
    now: Any,
    counts: _Counts,
) -> None:
    product_id = product["id"]
    counts.product_ids.append(product_id)
    changes: dict[str, Any] = {}
    for column, value in (
        ("category", group.category),
        ("unit", group.unit),
        ("origin_village_code", group.village),
        ("description", group.description),
    ):
        if value is not None and product[column] != value:
            changes[column] = value
    prices = {code: sku["price_fen"] for code, sku in skus.items()}
    new_skus: list[dict[str, Any]] = []
    touched = bool(changes)
    for row in group.rows:
        sku = skus.get(row.sku_code)
        if sku is None:
            new_skus.append(_new_sku(product_id, row, now))
            prices[row.sku_code] = row.price_fen
            continue
        sku_changes: dict[str, Any] = {}
        if sku["spec"] != row.spec:
            sku_changes["spec"] = row.spec
        if sku["price_fen"] != row.price_fen:
            sku_changes["price_fen"] = row.price_fen
            prices[row.sku_code] = row.price_fen
        if row.threshold is not None and sku["low_stock_threshold"] != row.threshold:
            sku_changes["low_stock_threshold"] = row.threshold
        if sku_changes:
            await session.execute(update(_sku_table).where(S.id == sku["id"]).values(**sku_changes))
        stock_changed = row.stock != sku["stock"]
        if stock_changed:
            # The SKU row is locked since it was read, so this delta lands exactly on the file's stock.
            change = await stock_moves.change_stock(
                session,
                sku["id"],
                row.stock - sku["stock"],
                guard=stock_moves.WITHIN_LIMITS,
                kind=stock_moves.IMPORTED,
                reason="stock set by import",
                actor_id=principal.id,
            )
            if change is None or change.stock != row.stock:
                raise Conflict("The stock changed during the import; try again.", code="concurrent_update")
        if sku_changes or stock_changed:
            counts.updated_skus += 1
            touched = True
        else:
            counts.unchanged_skus += 1
    if new_skus:
        await _insert_skus(session, principal, new_skus, now)
        counts.created_skus += len(new_skus)
        touched = True
    lowest = min(prices.values())
    if lowest != product["min_price_fen"]:
        changes["min_price_fen"] = lowest
    if touched or changes:
        changes["updated_at"] = now
        await session.execute(update(_product_table).where(P.id == product_id).values(**changes))
        counts.updated_products += 1
    else:
        counts.unchanged_products += 1


# --- export ------------------------------------------------------------------------------------

_EXPORT = (
    select(
        P.name,
        P.category,
        P.unit,
        P.origin_village_code,
        P.description,
        S.code,
        S.spec,
        S.price_fen,
        S.stock,
        S.low_stock_threshold,
    )
    .join_from(_sku_table, _product_table, S.product_id == P.id)
    .where(P.cooperative_id == bindparam("cooperative_id"))
    .order_by(P.id, S.id)
)


async def export_products(
    conn: AsyncConnection,
    principal: Principal,
    cooperative_id: str,
    *,
    file_format: ExportFormat,
    status: ProductStatusFilter = "all",
    language: str = i18n.ENGLISH,
) -> tuple[bytes, str, str]:
    """The cooperative's products as the import reads them, one row per SKU: ``(content, media
    type, file name)``. Its managers only."""
    require_managed_cooperative(principal, cooperative_id)
    stmt = _EXPORT if status == "all" else _EXPORT.where(P.status == status)
    category = COLUMNS.index("category")
    rows = [
        tuple(i18n.label(language, "category", v) if i == category else v for i, v in enumerate(r))
        for r in (await conn.execute(stmt, {"cooperative_id": cooperative_id})).all()
    ]
    header = [i18n.label(language, "column", c) for c in COLUMNS]
    if file_format == "xlsx":
        content = await asyncio.to_thread(tabular.write_xlsx, header, rows, sheet_title="products")
        return content, tabular.XLSX_MEDIA_TYPE, f"products-{cooperative_id}.xlsx"
    return tabular.write_csv(header, rows), tabular.CSV_MEDIA_TYPE, f"products-{cooperative_id}.csv"


__all__ = [
    "COLUMNS",
    "REQUIRED_COLUMNS",
    "export_products",
    "import_products",
    "require_import_rights",
]
