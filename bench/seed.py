"""Seed the benchmark database with a realistic catalogue, fast (COPY, no ORM).

Usage: ``python bench/seed.py DSN`` (a plain ``postgresql://`` DSN; the schema must already be
migrated). Writes cooperatives of Fangzi District's villages, products with Chinese names and two
SKUs each, prices in fen, stock; a marker row in ``bench_meta`` records the shape, so a second run
on a database of the same shape does nothing (``BENCH_RESEED=1`` is handled by ``bench/run``,
which drops the database first). ``bench_sku_stock`` keeps every SKU's seeded stock so the runner
can put stock back before each order-placement scenario.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import os
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg

SEED_VERSION = 2  # 2: brand licences (branded=true), triggers off while seeding
APPROVED_COOPS = int(os.environ.get("BENCH_COOPS", "240"))
PRODUCTS = int(os.environ.get("BENCH_PRODUCTS", "50000"))
# Extra rows that the public list must skip: products of non-approved cooperatives and archived ones.
HIDDEN_COOPS = 15  # 10 pending, 5 suspended
HIDDEN_COOP_PRODUCTS = 1000
ARCHIVED_PRODUCTS = 1000

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, as coopmarket.core.ids


def _encode(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        out.append(_ALPHABET[rem])
    return "".join(reversed(out))


class Ids:
    """Time-ordered 26-character ids (48-bit ms + 80 random bits), unique across the seed."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.seen: set[str] = set()

    def at(self, when: datetime) -> str:
        ms = int(when.timestamp() * 1000)
        while True:
            value = _encode(ms, 10) + _encode(self.rng.getrandbits(79), 16)
            if value not in self.seen:
                self.seen.add(value)
                return value


# (category, unit, [(item, [(spec, price range in fen)])]) — typical produce of Fangzi District.
CATALOGUE: list[tuple[str, str, list[tuple[str, list[tuple[str, tuple[int, int]]]]]]] = [
    (
        "fruit",
        "箱",
        [
            ("红富士苹果", [("5斤装", (2990, 4990)), ("10斤装", (5500, 8900))]),
            ("黄金梨", [("6枚礼盒", (3990, 5990)), ("12枚礼盒", (6990, 9990))]),
            ("大樱桃", [("2斤装", (5990, 9990)), ("5斤装", (12900, 19900))]),
            ("奶油草莓", [("3斤装", (4590, 6990)), ("5斤装", (6990, 9900))]),
            ("巨峰葡萄", [("5斤装", (3590, 5590)), ("10斤装", (6590, 9990))]),
            ("水蜜桃", [("12枚装", (3990, 5990)), ("24枚装", (6990, 10900))]),
        ],
    ),
    (
        "vegetables",
        "箱",
        [
            ("潍县萝卜", [("5斤装", (1990, 2990)), ("10斤装", (3490, 4990))]),
            ("章丘大葱", [("5斤装", (1590, 2590)), ("10斤装", (2790, 4590))]),
            ("安丘生姜", [("3斤装", (2290, 3290)), ("5斤装", (3390, 4990))]),
            ("西红柿", [("5斤装", (1990, 2990)), ("10斤装", (3290, 4990))]),
            ("旱黄瓜", [("5斤装", (1690, 2690)), ("10斤装", (2890, 4290))]),
            ("大白菜", [("2颗装", (990, 1590)), ("4颗装", (1690, 2690))]),
        ],
    ),
    (
        "grain_oil",
        "袋",
        [
            ("小米", [("2.5公斤", (2590, 3990)), ("5公斤", (4590, 6990))]),
            ("玉米面", [("2.5公斤", (1590, 2390)), ("5公斤", (2790, 4290))]),
            ("石磨面粉", [("5公斤", (3290, 4590)), ("10公斤", (5990, 8590))]),
            ("压榨花生油", [("1.8升", (4590, 6590)), ("5升", (11900, 15900))]),
        ],
    ),
    (
        "tea",
        "盒",
        [
            ("崂山绿茶", [("250克", (6800, 12800)), ("500克", (12800, 23800))]),
            ("菊花茶", [("100克", (1990, 3990)), ("250克", (3990, 6990))]),
        ],
    ),
    (
        "livestock_poultry",
        "份",
        [
            ("散养土鸡", [("1只约3斤", (6800, 9800)), ("2只约6斤", (12800, 18800))]),
            ("黑猪五花肉", [("1公斤", (6990, 9990)), ("2公斤", (13500, 18900))]),
            ("鲁西黄牛肉", [("1公斤", (11900, 15900)), ("2公斤", (22900, 29900))]),
        ],
    ),
    (
        "eggs",
        "盒",
        [
            ("散养土鸡蛋", [("30枚", (3290, 4590)), ("60枚", (5990, 8590))]),
            ("咸鸭蛋", [("20枚", (2990, 4290)), ("40枚", (5490, 7990))]),
        ],
    ),
    (
        "aquatic",
        "份",
        [
            ("峡山水库鲫鱼", [("2斤", (3990, 5990)), ("5斤", (8990, 12900))]),
        ],
    ),
    (
        "processed",
        "袋",
        [
            ("手工煎饼", [("2斤", (1990, 2990)), ("5斤", (3990, 5990))]),
            ("地瓜粉皮", [("1公斤", (1990, 2990)), ("2.5公斤", (4290, 5990))]),
            ("朝天锅酱料", [("500克", (1590, 2590)), ("1公斤", (2790, 3990))]),
        ],
    ),
    (
        "handicraft",
        "件",
        [
            ("潍坊风筝", [("小号", (2990, 5990)), ("大号", (8990, 19900))]),
            ("杨家埠木版年画", [("单幅", (3990, 8990)), ("四幅套装", (12900, 29900))]),
            ("核雕手串", [("标准款", (9900, 19900)), ("精品款", (29900, 59900))]),
        ],
    ),
]
CATEGORY_WEIGHTS = [30, 25, 12, 4, 9, 8, 2, 7, 3]  # fruit and vegetables dominate
QUALIFIERS = ["", "", "有机", "绿色", "农家", "新鲜", "精选", "原生态", "头茬", "特级"]
COOP_SPECIALITIES = [
    "果蔬",
    "种植",
    "生姜",
    "大葱",
    "樱桃",
    "苹果",
    "粮油",
    "养殖",
    "蛋鸡",
    "手工艺",
    "蔬菜",
    "农机服务",
]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "建国军民华志强伟明永平秀英玉兰桂芳春梅海涛红霞德胜长青家兴福"


def _short_village(name: str) -> str:
    for suffix in ("社区居民委员会", "社区居委会", "村民委员会", "村委会", "居委会"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _uscc(rng: random.Random) -> str:
    from coopmarket.coops.uscc import ALPHABET, check_character

    body = "93" + "370704" + "MA" + "".join(rng.choice(ALPHABET) for _ in range(7))
    return body + check_character(body)


def migrations_fingerprint() -> str:
    """A hash of the app's migration scripts: a regenerated 0001 means the database must be rebuilt."""
    spec = importlib.util.find_spec("coopmarket.migrations")
    if spec is None or not spec.submodule_search_locations:
        return "unknown"
    digest = hashlib.sha256()
    for location in spec.submodule_search_locations:
        versions = Path(location) / "versions"
        for script in sorted(versions.glob("*.py")):
            digest.update(script.name.encode() + b"\0" + script.read_bytes())
    return digest.hexdigest()[:16]


def shape() -> dict[str, int | str]:
    return {
        "version": SEED_VERSION,
        "migrations": migrations_fingerprint(),
        "approved_cooperatives": APPROVED_COOPS,
        "products": PRODUCTS,
        "hidden_cooperatives": HIDDEN_COOPS,
        "hidden_coop_products": HIDDEN_COOP_PRODUCTS,
        "archived_products": ARCHIVED_PRODUCTS,
    }


async def current_shape(conn: asyncpg.Connection) -> dict[str, int | str] | None:
    exists = await conn.fetchval("SELECT to_regclass('public.bench_meta') IS NOT NULL")
    if not exists:
        return None
    value = await conn.fetchval("SELECT value FROM bench_meta WHERE key = 'shape'")
    return json.loads(value) if value else None


async def seed(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        if await current_shape(conn) == shape():
            counts = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM product) AS products, (SELECT count(*) FROM sku) AS skus,"
                " (SELECT count(*) FROM cooperative WHERE status = 'approved') AS coops"
            )
            print(
                f"seed: reusing the seeded database ({counts['products']} products, {counts['skus']} SKUs, "
                f"{counts['coops']} approved cooperatives; BENCH_RESEED=1 to rebuild)",
                flush=True,
            )
            return
        if await conn.fetchval("SELECT count(*) FROM product") > 0:
            raise SystemExit("seed: the database holds products of another shape; run with BENCH_RESEED=1")
        started = time.perf_counter()
        # Triggers off while seeding (the catalogue version's, migration 0015, would fire once per
        # copied row); the rows are consistent by construction. Needs a superuser, as bench/run uses.
        await conn.execute("SET session_replication_role = replica")
        await _seed(conn)
        await conn.execute("SET session_replication_role = DEFAULT")
        await conn.execute("ANALYZE")
        print(f"seed: done in {time.perf_counter() - started:.1f}s", flush=True)
    finally:
        await conn.close()


async def _seed(conn: asyncpg.Connection) -> None:
    rng = random.Random(20240601)
    ids = Ids(rng)
    now = datetime.now(UTC).replace(microsecond=0)
    year_ago = now - timedelta(days=365)

    villages = [
        (r["code"], _short_village(r["name"]))
        for r in await conn.fetch("SELECT code, name FROM region WHERE level = 'village' ORDER BY code")
    ]
    village_names = dict(villages)
    if not villages:
        raise SystemExit("seed: no village regions: run the migrations first")

    # One district staff member who created the cooperatives, and one manager per cooperative.
    staff_id = ids.at(year_ago - timedelta(days=30))
    users = [
        (
            staff_id,
            "13900000000",
            None,
            "坊子区农业农村局",
            "district_staff",
            "370704",
            True,
            0,
            year_ago - timedelta(days=30),
        )
    ]

    total_coops = APPROVED_COOPS + HIDDEN_COOPS
    coops = []
    managers = []
    coop_villages: dict[str, str] = {}
    village_cycle = rng.sample(villages, len(villages))
    for i in range(total_coops):
        code, vname = village_cycle[i % len(village_cycle)]
        created = year_ago + timedelta(seconds=i * 3600)
        coop_id = ids.at(created)
        status = "approved" if i < APPROVED_COOPS else ("pending" if i < APPROVED_COOPS + 10 else "suspended")
        name = f"坊子区{vname}{rng.choice(COOP_SPECIALITIES)}专业合作社"
        if i >= len(village_cycle):
            name = name.replace("专业合作社", f"第{i // len(village_cycle) + 1}专业合作社")
        chair = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
        coops.append(
            (
                coop_id,
                name,
                _uscc(rng),
                code,
                f"中共{vname}支部委员会",
                chair,
                date(2008 + rng.randrange(15), rng.randrange(1, 13), rng.randrange(1, 28)),
                1000,
                6000,
                rng.choice([0, 500, 1000, 1500, 2000]),
                status,
                None,
                staff_id,
                created,
                created,
            )
        )
        coop_villages[coop_id] = code
        manager_id = ids.at(created)
        users.append((manager_id, f"138{i:08d}", None, chair, "coop_manager", None, True, 0, created))
        managers.append((coop_id, manager_id, created))

    await conn.copy_records_to_table(
        "user_account",
        records=users,
        columns=[
            "id",
            "phone",
            "password_hash",
            "display_name",
            "role",
            "region_code",
            "is_active",
            "token_version",
            "created_at",
        ],
    )
    await conn.copy_records_to_table(
        "cooperative",
        records=coops,
        columns=[
            "id",
            "name",
            "uscc",
            "village_code",
            "party_organization",
            "chairperson",
            "founded_on",
            "reserve_rate_bps",
            "patronage_return_bps",
            "collective_sales_share_bps",
            "status",
            "status_reason",
            "created_by",
            "created_at",
            "updated_at",
        ],
    )
    await conn.copy_records_to_table(
        "cooperative_manager", records=managers, columns=["cooperative_id", "user_id", "created_at"]
    )

    approved_ids = [c[0] for c in coops[:APPROVED_COOPS]]
    hidden_ids = [c[0] for c in coops[APPROVED_COOPS:]]
    n_products = PRODUCTS + HIDDEN_COOP_PRODUCTS + ARCHIVED_PRODUCTS
    # Creation times spread over the past year, in id order (ids sort by time).
    offsets = sorted(rng.randrange(365 * 86400) for _ in range(n_products))
    hidden_slots = set(rng.sample(range(n_products), HIDDEN_COOP_PRODUCTS + ARCHIVED_PRODUCTS))
    hidden_list = sorted(hidden_slots)
    archived_slots = set(hidden_list[:ARCHIVED_PRODUCTS])

    products = []
    skus = []
    for n, offset in enumerate(offsets):
        created = year_ago + timedelta(seconds=offset)
        product_id = ids.at(created)
        if n in hidden_slots and n not in archived_slots:
            coop_id = rng.choice(hidden_ids)
        else:
            coop_id = rng.choice(approved_ids)
        status = "archived" if n in archived_slots else "active"
        category, unit, items = rng.choices(CATALOGUE, weights=CATEGORY_WEIGHTS)[0]
        item, specs = rng.choice(items)
        village = coop_villages[coop_id]
        if rng.random() < 0.1:  # sometimes bought in from a neighbouring village
            village = rng.choice(villages)[0]
        vname = village_names[village] if rng.random() < 0.5 else ""
        name = f"{vname}{rng.choice(QUALIFIERS)}{item}"
        description = (
            f"产自潍坊市坊子区{village_names[village]}，合作社统一种植、统一采收、统一分级，"
            f"{item}当天发货，坏果包赔。"
        )
        prices = []
        for k, (spec, (low, high)) in enumerate(specs):
            price = rng.randrange(low, high + 1, 10)
            prices.append(price)
            stock = rng.randrange(200, 5001)
            skus.append(
                (ids.at(created), product_id, f"{item[:2]}-{n:06d}-{k + 1}", spec, price, stock, created)
            )
        products.append(
            (
                product_id,
                coop_id,
                name,
                category,
                description,
                unit,
                village,
                status,
                min(prices),
                created,
                created,
            )
        )

    await conn.copy_records_to_table(
        "product",
        records=products,
        columns=[
            "id",
            "cooperative_id",
            "name",
            "category",
            "description",
            "unit",
            "origin_village_code",
            "status",
            "min_price_fen",
            "created_at",
            "updated_at",
        ],
    )
    await conn.copy_records_to_table(
        "sku",
        records=skus,
        columns=["id", "product_id", "code", "spec", "price_fen", "stock", "created_at"],
    )
    # Brand licences: each approved cooperative holds one granted licence, valid today, naming
    # about one in ten of its public products (the `list_branded` scenario).
    manager_of = {coop_id: manager_id for coop_id, manager_id, _ in managers}
    today = now.date()
    covered: dict[str, list[str]] = {}
    for product in products:
        product_id, coop_id, status = product[0], product[1], product[7]
        if status == "active" and coop_id in manager_of and coop_id in set(approved_ids) and rng.random() < 0.1:
            covered.setdefault(coop_id, []).append(product_id)
    licences = []
    licence_products = []
    for n, (coop_id, product_ids) in enumerate(sorted(covered.items())):
        licence_id = ids.at(year_ago)
        licences.append(
            (
                licence_id,
                f"YFSP-{today.year}-{n + 1:04d}",
                "烟坊尚品",
                coop_id,
                today - timedelta(days=30),
                today + timedelta(days=335),
                "granted",
                manager_of[coop_id],
                year_ago,
                year_ago,
                year_ago,
            )
        )
        licence_products += [(licence_id, product_id) for product_id in product_ids]
    await conn.copy_records_to_table(
        "brand_licence",
        records=licences,
        columns=[
            "id",
            "number",
            "brand",
            "cooperative_id",
            "valid_from",
            "valid_to",
            "status",
            "applied_by",
            "applied_at",
            "granted_at",
            "updated_at",
        ],
    )
    await conn.copy_records_to_table(
        "brand_licence_product", records=licence_products, columns=["licence_id", "product_id"]
    )
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS bench_sku_stock (sku_id varchar(26) PRIMARY KEY, stock integer NOT NULL)"
    )
    await conn.execute("TRUNCATE bench_sku_stock")
    await conn.copy_records_to_table("bench_sku_stock", records=[(s[0], s[5]) for s in skus])
    await conn.execute("CREATE TABLE IF NOT EXISTS bench_meta (key text PRIMARY KEY, value text NOT NULL)")
    await conn.execute(
        "INSERT INTO bench_meta (key, value) VALUES ('shape', $1)"
        " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        json.dumps(shape()),
    )
    print(
        f"seed: {len(coops)} cooperatives ({APPROVED_COOPS} approved), {len(products)} products "
        f"({PRODUCTS} public), {len(skus)} SKUs, {len(licence_products)} products under "
        f"{len(licences)} brand licences",
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(seed(sys.argv[1]))
