"""Demonstration data for ``coopmarket seed-demo``: a district staff login, a few approved
cooperatives of Fangzi District with products, and three villages' registers of assets and
contracts (``villages/demo.py``), created through the slices' own services.

Idempotent: when the demo staff phone already exists nothing is created. The random passwords
are printed once and only their hashes are stored; they are never logged.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from coopmarket.accounts import service as accounts_service
from coopmarket.accounts.schemas import RegisterIn
from coopmarket.coops import service as coops_service
from coopmarket.coops.schemas import Charter, CooperativeIn, MemberIn
from coopmarket.coops.uscc import check_character
from coopmarket.core.errors import Conflict
from coopmarket.core.principal import BUYER, COOP_MANAGER, DISTRICT_STAFF, Principal
from coopmarket.db import Database
from coopmarket.products import service as products_service
from coopmarket.products.schemas import ProductIn, SkuIn
from coopmarket.villages import demo as villages_demo

DISTRICT_CODE = "370704"
STAFF_PHONE = "13800000000"
STAFF_NAME = "坊子区农业农村局（演示）"


@dataclass(frozen=True)
class DemoProduct:
    name: str
    category: str
    unit: str
    description: str
    skus: tuple[tuple[str, str, int, int], ...]  # code, spec, price in fen, stock


@dataclass(frozen=True)
class DemoCooperative:
    name: str
    uscc_body: str  # positions 9-17 of the USCC; the check character is computed
    village_code: str
    village_collective: str
    party_organization: str
    chairperson: str
    manager_phone: str
    founded_on: date
    reserve_rate_bps: int
    patronage_return_bps: int
    collective_sales_share_bps: int
    collective_capital_fen: int
    households: tuple[tuple[str, int], ...]  # member name, capital in fen
    products: tuple[DemoProduct, ...]

    @property
    def uscc(self) -> str:
        first17 = "93" + DISTRICT_CODE + self.uscc_body
        return first17 + check_character(first17)


COOPERATIVES: tuple[DemoCooperative, ...] = (
    DemoCooperative(
        name="潍坊市坊子区蒋家一村烟薯种植专业合作社",
        uscc_body="MA3CFJ8N1",
        village_code="370704005201",  # 蒋家一村委会, 坊城街道
        village_collective="坊城街道蒋家一村股份经济合作社",
        party_organization="中共潍坊市坊子区坊城街道蒋家一村支部委员会",
        chairperson="蒋立新",
        manager_phone="13800000001",
        founded_on=date(2019, 4, 16),
        reserve_rate_bps=1000,
        patronage_return_bps=6000,
        collective_sales_share_bps=1500,
        collective_capital_fen=30_000_000,
        households=(("蒋立新", 5_000_000), ("蒋秀芳", 3_000_000), ("王德利", 2_000_000)),
        products=(
            DemoProduct(
                name="坊子烟薯",
                category="vegetables",
                unit="box",
                description="坊城街道沙壤土种植的烟薯，蒸烤后流蜜，软糯香甜。",
                skus=(("JJ-YS-5", "5斤装", 3990, 200), ("JJ-YS-10", "10斤装", 6990, 120)),
            ),
            DemoProduct(
                name="青萝卜",
                category="vegetables",
                unit="box",
                description="皮青肉翠，脆甜多汁，可生吃。",
                skus=(("JJ-LB-5", "5斤装", 2580, 150),),
            ),
        ),
    ),
    DemoCooperative(
        name="潍坊市坊子区东安泰西瓜种植专业合作社",
        uscc_body="MA3D2Q7W5",
        village_code="370704007201",  # 东安泰村委会, 黄旗堡街道
        village_collective="黄旗堡街道东安泰村股份经济合作社",
        party_organization="中共潍坊市坊子区黄旗堡街道东安泰村支部委员会",
        chairperson="安明德",
        manager_phone="13800000002",
        founded_on=date(2020, 3, 2),
        reserve_rate_bps=1000,
        patronage_return_bps=7000,
        collective_sales_share_bps=1000,
        collective_capital_fen=20_000_000,
        households=(("安明德", 4_000_000), ("颜丽华", 2_500_000)),
        products=(
            DemoProduct(
                name="坊子西瓜",
                category="fruit",
                unit="piece",
                description="大棚早熟西瓜，薄皮红瓤，含糖量高。",
                skus=(("DAT-XG-1", "单个约8斤", 2990, 80), ("DAT-XG-2", "两个装约16斤", 5590, 40)),
            ),
            DemoProduct(
                name="大棚草莓",
                category="fruit",
                unit="box",
                description="红颜品种，当天采摘，冷链发货。",
                skus=(("DAT-CM-2", "2斤装", 6800, 60),),
            ),
        ),
    ),
    DemoCooperative(
        name="潍坊市坊子区七里兰生姜种植专业合作社",
        uscc_body="MA3EK9T4X",
        village_code="370704008203",  # 七里兰村委会, 太保庄街道
        village_collective="太保庄街道七里兰村股份经济合作社",
        party_organization="中共潍坊市坊子区太保庄街道七里兰村支部委员会",
        chairperson="王秀兰",
        manager_phone="13800000003",
        founded_on=date(2018, 11, 20),
        reserve_rate_bps=1000,
        patronage_return_bps=6500,
        collective_sales_share_bps=2000,
        collective_capital_fen=50_000_000,
        households=(("王秀兰", 6_000_000), ("刘振华", 3_500_000), ("李春燕", 3_000_000)),
        products=(
            DemoProduct(
                name="七里兰生姜",
                category="vegetables",
                unit="box",
                description="窖藏大姜，姜块饱满，辛香浓郁。",
                skus=(("QLL-SJ-5", "老姜5斤装", 3500, 300), ("QLL-NJ-3", "鲜嫩姜3斤装", 2800, 100)),
            ),
        ),
    ),
    DemoCooperative(
        name="潍坊市坊子区穆村一村蛋鸡养殖专业合作社",
        uscc_body="MA3FH6R2P",
        village_code="370704006201",  # 穆村一村村委会, 九龙街道
        village_collective="九龙街道穆村一村股份经济合作社",
        party_organization="中共潍坊市坊子区九龙街道穆村一村支部委员会",
        chairperson="穆春生",
        manager_phone="13800000004",
        founded_on=date(2021, 6, 8),
        reserve_rate_bps=1000,
        patronage_return_bps=6000,
        collective_sales_share_bps=500,
        collective_capital_fen=10_000_000,
        households=(("穆春生", 8_000_000), ("穆红梅", 2_000_000)),
        products=(
            DemoProduct(
                name="散养土鸡蛋",
                category="eggs",
                unit="box",
                description="林下散养，谷物喂养，蛋黄橙红。",
                skus=(("MC-JD-30", "30枚装", 4500, 150), ("MC-JD-60", "60枚装", 8500, 80)),
            ),
        ),
    ),
)


@dataclass(frozen=True)
class Login:
    label: str
    phone: str
    password: str


READABLE_CHARACTERS = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # easy to copy by hand


def _new_password() -> str:
    return "".join(secrets.choice(READABLE_CHARACTERS) for _ in range(16))


async def _seed_cooperative(
    db: Database, staff: Principal, spec: DemoCooperative, password: str
) -> tuple[str, int, int]:
    """Register, approve and stock one cooperative; (its id, products, skus) created."""
    async with db.session() as session:
        token = await accounts_service.register(
            session,
            db.settings,
            RegisterIn(phone=spec.manager_phone, password=password, display_name=spec.chairperson),
        )
    applicant = Principal(id=token.user.id, role=BUYER, display_name=spec.chairperson)
    async with db.session() as session:
        cooperative = await coops_service.register_cooperative(
            session,
            applicant,
            CooperativeIn(
                name=spec.name,
                uscc=spec.uscc,
                village_code=spec.village_code,
                party_organization=spec.party_organization,
                chairperson=spec.chairperson,
                founded_on=spec.founded_on,
                charter=Charter(
                    reserve_rate_bps=spec.reserve_rate_bps,
                    patronage_return_bps=spec.patronage_return_bps,
                    collective_sales_share_bps=spec.collective_sales_share_bps,
                ),
            ),
        )
    async with db.session() as session:
        await coops_service.decide(
            session, staff, cooperative.id, "approve", "材料齐全，同意入驻（演示数据）"
        )
    manager = Principal(
        id=applicant.id,
        role=COOP_MANAGER,
        display_name=spec.chairperson,
        cooperative_ids=frozenset({cooperative.id}),
    )
    members = [
        MemberIn(
            name=spec.village_collective, kind="village_collective", capital_fen=spec.collective_capital_fen
        )
    ]
    members += [
        MemberIn(name=name, kind="household", capital_fen=capital) for name, capital in spec.households
    ]
    for member in members:
        async with db.session() as session:
            await coops_service.add_member(session, manager, cooperative.id, member)
    skus = 0
    for product in spec.products:
        async with db.session() as session:
            await products_service.create_product(
                session,
                manager,
                cooperative.id,
                ProductIn(
                    name=product.name,
                    category=product.category,  # type: ignore[arg-type]
                    unit=product.unit,
                    origin_village_code=spec.village_code,
                    description=product.description,
                    skus=[
                        SkuIn(code=code, spec=sku_spec, price_fen=price, stock=stock)
                        for code, sku_spec, price, stock in product.skus
                    ],
                ),
            )
        skus += len(product.skus)
    return cooperative.id, len(spec.products), skus


async def seed(db: Database, out: Callable[[str], object] = print) -> bool:
    """Create the demo data once; False (and nothing changed) when it is already there."""
    staff_password = _new_password()
    try:
        async with db.session() as session:
            staff_user = await accounts_service.create_staff_unchecked(
                session,
                phone=STAFF_PHONE,
                password=staff_password,
                display_name=STAFF_NAME,
                role=DISTRICT_STAFF,
                region_code=DISTRICT_CODE,
            )
    except Conflict as exc:
        if exc.code != "phone_taken":
            raise
        out(f"Demo data already present (a user with phone {STAFF_PHONE} exists): nothing changed.")
        return False
    staff = Principal(
        id=staff_user.id, role=DISTRICT_STAFF, display_name=STAFF_NAME, region_code=DISTRICT_CODE
    )
    logins = [Login("district staff (approves cooperatives)", STAFF_PHONE, staff_password)]
    products = skus = 0
    cooperatives: dict[str, tuple[str, str]] = {}
    try:
        for spec in COOPERATIVES:
            password = _new_password()
            cooperative_id, made_products, made_skus = await _seed_cooperative(db, staff, spec, password)
            cooperatives[spec.village_code] = (cooperative_id, spec.name)
            products += made_products
            skus += made_skus
            logins.append(Login(f"manager of {spec.name}", spec.manager_phone, password))
        village_logins = await villages_demo.seed_villages(db, staff, cooperatives, _new_password)
        logins += [Login(label, phone, password) for label, phone, password in village_logins]
    except Exception:
        out(
            "Seeding stopped half-way. Remove the demo database (./var/ by default) and run "
            "`coopmarket migrate` and `coopmarket seed-demo` again."
        )
        raise
    out(
        f"Demo data loaded: {len(COOPERATIVES)} approved cooperatives of Fangzi District, "
        f"{products} products, {skus} SKUs."
    )
    out(
        f"Village registers: {len(villages_demo.VILLAGES)} villages with assets and contracts, "
        "receipts, arrears, a write-off, findings and idle assets (see GET /api/v1/contract-campaign)."
    )
    out("Demo logins (shown only now; only password hashes are stored):")
    for login in logins:
        out(f"  {login.phone}  password {login.password}  {login.label}")
    return True
