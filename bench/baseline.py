"""The raw baseline: a bare ASGI callable on asyncpg, no framework.

It answers ``GET /api/v1/products`` (``limit``, ``category``, ``q``; newest first) and
``POST /api/v1/orders`` with the same JSON as the app, issuing the same SQL statements, in the
same transactions, as the app does for those requests (captured from PostgreSQL's
``log_statement=all`` with the app serving one request of each):

- list: one autocommit SELECT;
- order: the caller's row (autocommit); the idempotency claim (one autocommit INSERT); then
  ``BEGIN``, region lookup, SKUs joined to products, cooperative briefs, one conditional stock
  UPDATE per SKU (in id order) that also records the change in the SKU's stock history (one
  statement: a data-modifying CTE), INSERT order, parts, lines, UPDATE of the claim with the stored
  answer, ``COMMIT``.

Served by uvicorn like the app: ``uvicorn baseline:app --app-dir bench``. Configured by
``BENCH_BASELINE_DSN``, ``COOPMARKET_JWT_SECRET`` and ``BENCH_BASELINE_POOL`` (max connections,
like the app's pool_size + max_overflow). Error handling is minimal: it exists to be measured.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import asyncpg
import jwt
import msgspec
from msgspec import Meta

DSN = os.environ.get("BENCH_BASELINE_DSN", "postgresql://postgres@127.0.0.1:5432/coopmarket_bench")
JWT_SECRET = os.environ.get("COOPMARKET_JWT_SECRET", "")
JWT_ISSUER = os.environ.get("COOPMARKET_JWT_ISSUER", "coopmarket")
POOL_MIN = int(os.environ.get("BENCH_BASELINE_POOL_MIN", "10"))
POOL_MAX = int(os.environ.get("BENCH_BASELINE_POOL", "20"))
PLATFORM_FEE_BPS = int(os.environ.get("COOPMARKET_PLATFORM_FEE_BPS", "300"))
PAYMENT_TIMEOUT = timedelta(seconds=int(os.environ.get("COOPMARKET_ORDER_PAYMENT_TIMEOUT_SECONDS", "1800")))
CATEGORIES = {
    "fruit",
    "vegetables",
    "grain_oil",
    "tea",
    "livestock_poultry",
    "eggs",
    "aquatic",
    "processed",
    "handicraft",
}
ORDER_SCOPE = "POST /api/v1/orders"
SHANGHAI = ZoneInfo("Asia/Shanghai")  # the app's report time zone: "today" for is_branded

# --- SQL, as the app sends it ----------------------------------------------------------------

# $1 'granted', $2 today (Asia/Shanghai), $3 'active', $4 'approved'; then the filters' values in
# the app's order (branded, category, q), then the limit.
_BRANDED_IDS = (
    "SELECT brand_licence_product.product_id \n"
    "FROM brand_licence_product JOIN brand_licence ON brand_licence_product.licence_id = brand_licence.id \n"
    "WHERE brand_licence.status = ${n}::VARCHAR AND brand_licence.valid_to >= $2::DATE "
    "AND brand_licence.valid_from <= $2::DATE"
)
_LIST_HEAD = (
    "SELECT product.id, product.name, product.category, product.unit, product.cooperative_id, "
    "product.origin_village_code, product.min_price_fen, product.created_at, "
    "product.id IN (" + _BRANDED_IDS.format(n=1) + ") AS is_branded, product_image.thumb_key AS cover_thumb_key \n"
    "FROM product LEFT OUTER JOIN product_image ON product_image.product_id = product.id "
    "AND product_image.is_cover IS true \n"
    "WHERE product.status = $3::VARCHAR AND product.cooperative_id IN (SELECT cooperative.id \n"
    "FROM cooperative \n"
    "WHERE cooperative.status = $4::VARCHAR)"
)
# q: the search index holds every one- and two-character substring (Latin capitals folded); a
# query of one or two characters is looked up as is, a longer one by its bigrams, then ILIKE.
_GRAMS = " AND product.search_grams @> ${n}::TEXT[]"
_CHECKED = (
    " AND (product.search_grams @> ${n}::TEXT[]) AND (product.name ILIKE ${n1}::VARCHAR ESCAPE '\\'"
    " OR product.description ILIKE ${n2}::VARCHAR ESCAPE '\\')"
)
_LIST_SQL: dict[tuple[bool, bool, int], str] = {}


def list_sql(branded: bool, category: bool, q_kind: int) -> str:
    """The app's newest-first listing for these filters (q_kind: 0 none, 1 one or two characters,
    2 longer), numbered as SQLAlchemy numbers it."""
    key = (branded, category, q_kind)
    if key not in _LIST_SQL:
        sql, n = _LIST_HEAD, 5
        if branded:
            sql += " AND product.id IN (" + _BRANDED_IDS.format(n=n) + ")"
            n += 1
        if category:
            sql += f" AND product.category = ${n}::VARCHAR"
            n += 1
        if q_kind == 1:
            sql += _GRAMS.format(n=n)
            n += 1
        elif q_kind == 2:
            sql += _CHECKED.format(n=n, n1=n + 1, n2=n + 2)
            n += 3
        _LIST_SQL[key] = sql + f" ORDER BY product.id DESC \n LIMIT ${n}::INTEGER"
    return _LIST_SQL[key]


_FOLD_LATIN = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def query_grams(q: str) -> list[str]:
    """As coopmarket.products.search.query_grams."""
    folded = q.translate(_FOLD_LATIN)
    if len(folded) <= 2:
        return [folded]
    return sorted({folded[i : i + 2] for i in range(len(folded) - 1)})


SQL_USER = (
    "SELECT user_account.id, user_account.role, user_account.display_name, user_account.region_code, "
    "user_account.is_active, user_account.token_version \n"
    "FROM user_account \n"
    "WHERE user_account.id = $1::VARCHAR"
)
SQL_CLAIM = (
    "INSERT INTO idempotency_key (id, user_id, key, scope, request_hash, status, claim_token, "
    "lease_expires_at, response_status, response_body, created_at, completed_at) VALUES ($1::VARCHAR, "
    "$2::VARCHAR, $3::VARCHAR, $4::VARCHAR, $5::VARCHAR, $6::VARCHAR, $7::VARCHAR, "
    "$8::TIMESTAMP WITH TIME ZONE, $9::INTEGER, $10::VARCHAR, $11::TIMESTAMP WITH TIME ZONE, "
    "$12::TIMESTAMP WITH TIME ZONE)"
)
SQL_RELEASE = (
    "DELETE FROM idempotency_key WHERE idempotency_key.user_id = $1::VARCHAR "
    "AND idempotency_key.key = $2::VARCHAR AND idempotency_key.status = $3::VARCHAR "
    "AND idempotency_key.claim_token = $4::VARCHAR"
)
# The claim's lease (the app's COOPMARKET_IDEMPOTENCY_LEASE_SECONDS).
CLAIM_LEASE = timedelta(seconds=int(os.environ.get("COOPMARKET_IDEMPOTENCY_LEASE_SECONDS", "300")))
SQL_REGION = (
    "SELECT region.code, region.name, region.level, region.parent_code, region.kind \n"
    "FROM region \n"
    "WHERE region.code = $1::VARCHAR"
)
_SQL_SKUS_HEAD = (
    "SELECT sku.id, sku.product_id, product.name, sku.spec, product.category, product.unit, sku.price_fen, "
    "product.cooperative_id, CASE WHEN (product.status = $1::VARCHAR AND product.cooperative_id IN "
    "(SELECT cooperative.id \n"
    "FROM cooperative \n"
    "WHERE cooperative.status = $2::VARCHAR)) THEN $3::BOOLEAN ELSE $4::BOOLEAN END AS is_sellable, "
    "coalesce(product_batch.member_id, sku.supplier_member_id) AS member_id, sku.batch_id \n"
    "FROM sku JOIN product ON sku.product_id = product.id LEFT OUTER JOIN product_batch "
    "ON product_batch.id = sku.batch_id \n"
    "WHERE sku.id IN ("
)
_SQL_COOPS_HEAD = (
    "SELECT cooperative.id, cooperative.name, cooperative.village_code, cooperative.status, "
    "cooperative.collective_sales_share_bps \n"
    "FROM cooperative \n"
    "WHERE cooperative.id IN ("
)
# Taking stock and recording it in the SKU's history: one statement.
SQL_TAKE_STOCK = (
    "WITH changed AS \n(UPDATE sku SET stock=(sku.stock + $1::INTEGER), stock_version=(sku.stock_version + 1) "
    "WHERE sku.id = $2::VARCHAR AND sku.stock >= $3::INTEGER RETURNING sku.id, sku.stock, sku.stock_version)\n "
    "INSERT INTO stock_adjustment (id, sku_id, seq, kind, delta, stock_after, reason, actor_id, order_id, "
    "created_at) SELECT $4::VARCHAR AS anon_1, changed.id, changed.stock_version, $5::VARCHAR AS anon_2, "
    "$6::INTEGER AS anon_3, changed.stock, $7::VARCHAR AS anon_4, $8::VARCHAR AS anon_5, $9::VARCHAR AS anon_6, "
    "$10::TIMESTAMP WITH TIME ZONE AS anon_7 \nFROM changed RETURNING stock_adjustment.stock_after, "
    "stock_adjustment.seq"
)
SQL_INSERT_ORDER = (
    "INSERT INTO orders (id, buyer_id, status, total_fen, paid_fen, refunded_fen, payment_method, "
    "shipping_name, shipping_phone, shipping_detail, shipping_region_code, expires_at, created_at, updated_at, "
    "is_related_party) "
    "VALUES ($1::VARCHAR, $2::VARCHAR, $3::VARCHAR, $4::BIGINT, $5::BIGINT, $6::BIGINT, $7::VARCHAR, "
    "$8::VARCHAR, $9::VARCHAR, $10::VARCHAR, $11::VARCHAR, $12::TIMESTAMP WITH TIME ZONE, "
    "$13::TIMESTAMP WITH TIME ZONE, $14::TIMESTAMP WITH TIME ZONE, $15::BOOLEAN)"
)
# With a note the app's INSERT names the note column too (SQLAlchemy leaves out unset NULL columns).
SQL_INSERT_ORDER_NOTE = (
    "INSERT INTO orders (id, buyer_id, status, total_fen, paid_fen, refunded_fen, payment_method, "
    "shipping_name, shipping_phone, shipping_detail, shipping_region_code, note, expires_at, created_at, "
    "updated_at, is_related_party) VALUES ($1::VARCHAR, $2::VARCHAR, $3::VARCHAR, $4::BIGINT, $5::BIGINT, "
    "$6::BIGINT, $7::VARCHAR, $8::VARCHAR, $9::VARCHAR, $10::VARCHAR, $11::VARCHAR, $12::VARCHAR, "
    "$13::TIMESTAMP WITH TIME ZONE, $14::TIMESTAMP WITH TIME ZONE, $15::TIMESTAMP WITH TIME ZONE, $16::BOOLEAN)"
)
SQL_INSERT_PART = (
    "INSERT INTO order_part (id, order_id, cooperative_id, status, subtotal_fen, refunded_fen, settled_fen, "
    "village_code, collective_sales_share_bps, platform_fee_bps, is_related_party) VALUES ($1::VARCHAR, "
    "$2::VARCHAR, $3::VARCHAR, $4::VARCHAR, $5::BIGINT, $6::BIGINT, $7::BIGINT, $8::VARCHAR, $9::INTEGER, "
    "$10::INTEGER, $11::BOOLEAN)"
)
SQL_INSERT_LINE = (
    "INSERT INTO order_line (id, order_id, part_id, sku_id, product_id, product_name, sku_spec, category, "
    "quantity, unit_price_fen, line_total_fen, member_id, batch_id) VALUES ($1::VARCHAR, $2::VARCHAR, "
    "$3::VARCHAR, $4::VARCHAR, $5::VARCHAR, $6::VARCHAR, $7::VARCHAR, $8::VARCHAR, $9::INTEGER, $10::BIGINT, "
    "$11::BIGINT, $12::VARCHAR, $13::VARCHAR)"
)
# The order.placed event in the outbox, and the live subscriptions of its kind (none in the bench).
SQL_INSERT_EVENT = (
    "INSERT INTO outbox_event (id, occurred_at, kind, entity, entity_id, payload) VALUES ($1::VARCHAR, "
    "$2::TIMESTAMP WITH TIME ZONE, $3::VARCHAR, $4::VARCHAR, $5::VARCHAR, $6::VARCHAR)"
)
SQL_SUBSCRIBERS = (
    "SELECT webhook_subscription.id \n"
    "FROM webhook_subscription \n"
    "WHERE webhook_subscription.deleted_at IS NULL AND webhook_subscription.kinds LIKE $1::VARCHAR"
)
SQL_COMPLETE_CLAIM = (
    "UPDATE idempotency_key SET status=$1::VARCHAR, lease_expires_at=$2::TIMESTAMP WITH TIME ZONE, "
    "response_status=$3::INTEGER, response_body=$4::VARCHAR, completed_at=$5::TIMESTAMP WITH TIME ZONE "
    "WHERE idempotency_key.user_id = $6::VARCHAR AND idempotency_key.key = $7::VARCHAR "
    "AND idempotency_key.status = $8::VARCHAR AND idempotency_key.claim_token = $9::VARCHAR"
)


def _in_list(head: str, first: int, count: int) -> str:
    return head + ", ".join(f"${first + i}::VARCHAR" for i in range(count)) + ")"


# --- ids (same layout as coopmarket.core.ids) ------------------------------------------------

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_id_lock = threading.Lock()
_last_ms = -1
_last_rand = 0


def _encode(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        out.append(_ALPHABET[rem])
    return "".join(reversed(out))


def new_id(now: datetime) -> str:
    global _last_ms, _last_rand
    ms = int(now.timestamp() * 1000)
    with _id_lock:
        if ms <= _last_ms:
            ms = _last_ms
            _last_rand += 1
        else:
            _last_ms = ms
            _last_rand = int.from_bytes(os.urandom(10), "big") >> 1
        rand = _last_rand
    return _encode(ms, 10) + _encode(rand, 16)


# --- request bodies (the same constraints as the app's schemas) ------------------------------


class OrderLineIn(msgspec.Struct, forbid_unknown_fields=True):
    sku_id: Annotated[str, Meta(min_length=1, max_length=26)]
    quantity: Annotated[int, Meta(ge=1, le=10_000)]


class ShippingAddressIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=64)]
    phone: Annotated[str, Meta(pattern=r"^1[3-9][0-9]{9}$")]
    detail: Annotated[str, Meta(min_length=1, max_length=500)]
    region_code: Annotated[str, Meta(min_length=6, max_length=12)]


class PlaceOrderIn(msgspec.Struct, forbid_unknown_fields=True):
    lines: Annotated[list[OrderLineIn], Meta(min_length=1, max_length=50)]
    shipping_address: ShippingAddressIn
    payment_method: Literal["offline", "stripe"] = "offline"
    note: Annotated[str, Meta(max_length=500)] | None = None


_order_decoder = msgspec.json.Decoder(PlaceOrderIn)
_encode_json = msgspec.json.Encoder().encode


class Problem(Exception):
    def __init__(self, status: int, code: str, title: str) -> None:
        super().__init__(title)
        self.status = status
        self.code = code
        self.title = title


# --- ASGI plumbing ---------------------------------------------------------------------------

_pool: asyncpg.Pool | None = None


async def _no_reset(_conn: asyncpg.Connection) -> None:
    """Like SQLAlchemy's pool: only an open transaction is rolled back on release (asyncpg does that)."""


async def _send_json(send: Any, status: int, body: bytes, content_type: bytes = b"application/json") -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_problem(send: Any, problem: Problem) -> None:
    body = _encode_json(
        {"type": "about:blank", "title": problem.title, "status": problem.status, "code": problem.code}
    )
    await _send_json(send, problem.status, body, b"application/problem+json")


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The whole baseline server."""
    global _pool
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _pool = await asyncpg.create_pool(DSN, min_size=POOL_MIN, max_size=POOL_MAX, reset=_no_reset)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if _pool is not None:
                    await _pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    path = scope["path"].rstrip("/")
    method = scope["method"]
    try:
        if path == "/api/v1/products" and method == "GET":
            await _send_json(send, 200, await list_products(scope["query_string"]))
        elif path == "/api/v1/orders" and method == "POST":
            headers = dict(scope["headers"])
            body = await _read_body(receive)
            await _send_json(send, 201, await place_order(headers, body))
        else:
            raise Problem(404, "not_found", "Not found.")
    except Problem as problem:
        await _send_problem(send, problem)


# --- GET /api/v1/products --------------------------------------------------------------------


# As coopmarket.core.pagination: the payload, then an HMAC of it (12 bytes) under a key derived
# from the JWT secret.
_CURSOR_KEY = hmac.new(JWT_SECRET.encode(), b"coopmarket pagination cursor v1", hashlib.sha256).digest()


def _cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()
    payload = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    mac = hmac.new(_CURSOR_KEY, payload.encode("ascii"), hashlib.sha256).digest()[:12]
    return f"{payload}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


async def list_products(query_string: bytes) -> bytes:
    params = parse_qs(query_string.decode("latin-1"))
    try:
        limit = int(params.get("limit", ["20"])[0])
    except ValueError:
        raise Problem(400, "validation_failed", "limit must be an integer") from None
    if not 1 <= limit <= 100:
        raise Problem(400, "validation_failed", "limit must be 1..100")
    category = params.get("category", [None])[0]
    if category is not None and category not in CATEGORIES:
        raise Problem(400, "validation_failed", "unknown category")
    q = params.get("q", [None])[0]
    q = q.strip() if q else None
    if q is not None and len(q) > 100:
        raise Problem(400, "validation_failed", "q too long")
    assert _pool is not None
    branded_value = params.get("branded", [None])[0]
    if branded_value not in (None, "true", "false"):
        raise Problem(400, "validation_failed", "branded must be true or false")
    branded = branded_value == "true"  # the app filters only on branded=true
    args: list[Any] = ["granted", datetime.now(SHANGHAI).date(), "active", "approved"]
    if branded:
        args.append("granted")
    if category:
        args.append(category)
    q_kind = 0
    if q:
        args.append(query_grams(q))
        q_kind = 1
        if len(q) > 2:
            pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            args += [pattern, pattern]
            q_kind = 2
    rows = await _pool.fetch(list_sql(branded, bool(category), q_kind), *args, limit + 1)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = _cursor(["newest", rows[-1]["id"]])
    items = [
        {
            "id": r["id"],
            "name": r["name"],
            "category": r["category"],
            "unit": r["unit"],
            "cooperative_id": r["cooperative_id"],
            "origin_village_code": r["origin_village_code"],
            "is_branded": bool(r["is_branded"]),
            "price_fen": r["min_price_fen"],
            "cover_image_url": None,
            "created_at": r["created_at"],
        }
        for r in rows
    ]
    return _encode_json({"items": items, "next_cursor": next_cursor})


# --- POST /api/v1/orders ---------------------------------------------------------------------


async def _authenticate(headers: dict[bytes, bytes]) -> str:
    scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "not_authenticated", "Sign in first.")
    try:
        claims = jwt.decode(
            token.strip(),
            JWT_SECRET,
            algorithms=["HS256"],
            issuer=JWT_ISSUER,
            options={"require": ["sub", "exp", "iat", "iss"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError:
        raise Problem(401, "invalid_token", "The access token is invalid or expired.") from None
    now = int(datetime.now(UTC).timestamp())
    if int(claims["exp"]) <= now or int(claims["iat"]) > now + 60:
        raise Problem(401, "invalid_token", "The access token is invalid or expired.")
    assert _pool is not None
    row = await _pool.fetchrow(SQL_USER, str(claims["sub"]))
    if row is None or not row["is_active"] or row["token_version"] != int(claims.get("ver", 0)):
        raise Problem(401, "invalid_token", "The access token is invalid or expired.")
    if row["role"] not in ("buyer", "coop_manager"):
        raise Problem(403, "forbidden_role", "Not a shopper.")
    return row["id"]


async def place_order(headers: dict[bytes, bytes], body: bytes) -> bytes:
    user_id = await _authenticate(headers)
    try:
        data = _order_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise Problem(400, "validation_failed", str(exc)) from None
    key = headers.get(b"idempotency-key", b"").decode("latin-1")
    if not key or len(key) > 255:
        raise Problem(400, "idempotency_key_required", "This request needs an Idempotency-Key header.")
    fingerprint = hashlib.sha256(ORDER_SCOPE.encode() + b"\x00" + _encode_json(data)).hexdigest()
    assert _pool is not None
    now = datetime.now(UTC)
    token = secrets.token_urlsafe(16)
    # The claim: one autocommit INSERT (a replay or a busy key is out of scope here).
    try:
        await _pool.execute(
            SQL_CLAIM,
            new_id(now),
            user_id,
            key,
            ORDER_SCOPE,
            fingerprint,
            "in_progress",
            token,
            now + CLAIM_LEASE,
            None,
            None,
            now,
            None,
        )
    except asyncpg.UniqueViolationError:
        raise Problem(409, "idempotency_request_in_progress", "Key already used.") from None
    try:
        async with _pool.acquire() as conn, conn.transaction(isolation="read_committed"):
            answer = await _place(conn, user_id, data)
            encoded = _encode_json(answer)
            status = await conn.execute(
                SQL_COMPLETE_CLAIM,
                "completed",
                None,
                201,
                encoded.decode(),
                datetime.now(UTC),
                user_id,
                key,
                "in_progress",
                token,
            )
            if status != "UPDATE 1":
                raise Problem(409, "idempotency_request_in_progress", "The claim was lost.")
    except BaseException:
        await _pool.execute(SQL_RELEASE, user_id, key, "in_progress", token)  # autocommit, like the claim
        raise
    return encoded


async def _place(conn: asyncpg.Connection, user_id: str, data: PlaceOrderIn) -> dict[str, Any]:
    if data.payment_method != "offline":
        raise Problem(422, "payment_method_unavailable", "Payment method not available.")
    sku_ids = [line.sku_id for line in data.lines]
    if len(set(sku_ids)) != len(sku_ids):
        raise Problem(422, "duplicate_sku", "Each SKU may appear on one line only.")
    address = data.shipping_address
    if await conn.fetchrow(SQL_REGION, address.region_code) is None:
        raise Problem(422, "invalid_region", "Unknown shipping region.")
    unique_ids = sorted(set(sku_ids))
    rows = await conn.fetch(
        _in_list(_SQL_SKUS_HEAD, 5, len(unique_ids)), "active", "approved", True, False, *unique_ids
    )
    skus = {r["id"]: r for r in rows}
    if any(s not in skus for s in sku_ids):
        raise Problem(422, "unknown_sku", "Some SKUs do not exist.")
    if any(not skus[s]["is_sellable"] for s in sku_ids):
        raise Problem(409, "sku_unavailable", "Some products are not on sale.")
    coop_ids = list({skus[s]["cooperative_id"] for s in sku_ids})
    # The app flags the parts of cooperatives the buyer manages (from the caller's cooperatives, no
    # query); the bench's buyer manages none.
    managed: frozenset[str] = frozenset()
    coops = {r["id"]: r for r in await conn.fetch(_in_list(_SQL_COOPS_HEAD, 1, len(coop_ids)), *coop_ids)}

    quantities = {line.sku_id: line.quantity for line in data.lines}
    now = datetime.now(UTC)
    order_id = new_id(now)
    for sku_id in sorted(quantities):
        quantity = quantities[sku_id]
        taken = await conn.fetchrow(
            SQL_TAKE_STOCK,
            -quantity,
            sku_id,
            quantity,
            new_id(now),
            "order",
            -quantity,
            "order placed",
            user_id,
            order_id,
            now,
        )
        if taken is None:
            raise Problem(409, "out_of_stock", "Not enough stock.")
    by_coop: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for line in data.lines:
        by_coop[skus[line.sku_id]["cooperative_id"]].append((line.sku_id, line.quantity))
    parts: list[dict[str, Any]] = []
    part_rows: list[tuple[Any, ...]] = []
    line_rows: list[tuple[Any, ...]] = []
    total = 0
    for coop_id in sorted(by_coop):
        coop = coops[coop_id]
        part_id = new_id(now)
        subtotal = 0
        lines_out = []
        for sku_id, quantity in by_coop[coop_id]:
            sku = skus[sku_id]
            line_total = sku["price_fen"] * quantity
            subtotal += line_total
            line_rows.append(
                (
                    new_id(now),
                    order_id,
                    part_id,
                    sku_id,
                    sku["product_id"],
                    sku["name"],
                    sku["spec"],
                    sku["category"],
                    quantity,
                    sku["price_fen"],
                    line_total,
                    sku["member_id"],
                    sku["batch_id"],
                )
            )
            lines_out.append(
                {
                    "sku_id": sku_id,
                    "product_id": sku["product_id"],
                    "product_name": sku["name"],
                    "sku_spec": sku["spec"],
                    "quantity": quantity,
                    "unit_price_fen": sku["price_fen"],
                    "line_total_fen": line_total,
                    "member_id": sku["member_id"],
                }
            )
        total += subtotal
        part_rows.append(
            (
                part_id,
                order_id,
                coop_id,
                "pending_payment",
                subtotal,
                0,
                0,
                coop["village_code"],
                coop["collective_sales_share_bps"],
                PLATFORM_FEE_BPS,
                coop_id in managed,
            )
        )
        parts.append(
            {
                "id": part_id,
                "cooperative_id": coop_id,
                "status": "pending_payment",
                "subtotal_fen": subtotal,
                "refunded_fen": 0,
                "carrier": None,
                "tracking_number": None,
                "shipped_at": None,
                "received_at": None,
                "lines": lines_out,  # already in line-id order: ids grow within the request
                "is_related_party": coop_id in managed,
            }
        )
    expires_at = now + PAYMENT_TIMEOUT
    common = (
        order_id,
        user_id,
        "pending_payment",
        total,
        0,
        0,
        data.payment_method,
        address.name,
        address.phone,
        address.detail,
        address.region_code,
    )
    related = any(p["is_related_party"] for p in parts)
    if data.note is None:
        await conn.execute(SQL_INSERT_ORDER, *common, expires_at, now, now, related)
    else:
        await conn.execute(SQL_INSERT_ORDER_NOTE, *common, data.note, expires_at, now, now, related)
    if len(part_rows) == 1:
        await conn.execute(SQL_INSERT_PART, *part_rows[0])
    else:
        await conn.executemany(SQL_INSERT_PART, part_rows)
    if len(line_rows) == 1:
        await conn.execute(SQL_INSERT_LINE, *line_rows[0])
    else:
        await conn.executemany(SQL_INSERT_LINE, line_rows)
    event = {
        "order_id": order_id,
        "buyer_id": user_id,
        "status": "pending_payment",
        "total_fen": total,
        "payment_method": data.payment_method,
        "expires_at": expires_at.isoformat(),
        "parts": [{"part_id": p[0], "cooperative_id": p[2], "subtotal_fen": p[4]} for p in part_rows],
    }
    await conn.execute(
        SQL_INSERT_EVENT,
        new_id(now),
        now,
        "order.placed",
        "order",
        order_id,
        json.dumps(event, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str),
    )
    if await conn.fetch(SQL_SUBSCRIBERS, "%,order.placed,%"):
        raise Problem(500, "bench_subscriber", "The bench database has webhook subscriptions.")
    return {
        "id": order_id,
        "status": "pending_payment",
        "total_fen": total,
        "paid_fen": 0,
        "refunded_fen": 0,
        "payment_method": data.payment_method,
        "expires_at": expires_at,
        "created_at": now,
        "parts": parts,
        "payment": {
            "provider": data.payment_method,
            "status": "requires_payment",
            "amount_fen": total,
            "succeeded_at": None,
        },
        "shipping_address": {
            "name": address.name,
            "phone": address.phone,
            "detail": address.detail,
            "region_code": address.region_code,
        },
        "note": data.note,
        "cancel_reason": None,
        "is_related_party": related,
    }
