"""Demonstration data for ``coopmarket seed-demo``: a district staff login, a few approved
cooperatives of Fangzi District with products, generated photos, their certificates, a harvest
batch with its trace code and a granted brand licence, and three villages' registers of assets
and contracts (``villages/demo.py``), all created through the slices' own services (photos go
through the same upload target, store and checked attach as a client's).

Idempotent: when the demo staff phone already exists nothing is created. The random passwords
are printed once and only their hashes are stored; they are never logged.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text

from coopmarket.accounts import service as accounts_service
from coopmarket.accounts.schemas import RegisterIn
from coopmarket.brand import service as brand_service
from coopmarket.brand.schemas import LicenceDecisionIn, LicenceIn
from coopmarket.coops import service as coops_service
from coopmarket.coops.schemas import Charter, CooperativeIn, MemberIn
from coopmarket.coops.uscc import check_character
from coopmarket.core import clock
from coopmarket.core.errors import Conflict
from coopmarket.core.money import format_yuan
from coopmarket.core.principal import BUYER, COOP_MANAGER, DISTRICT_STAFF, Principal
from coopmarket.db import Database
from coopmarket.demo_photos import PhotoStyle, product_photo
from coopmarket.flows import payment as payment_flow
from coopmarket.orders import checkout, fulfilment, member_volume
from coopmarket.orders.schemas import OrderLineIn, PlaceOrderIn, ShipIn, ShippingAddressIn
from coopmarket.payments.schemas import OfflinePaymentIn
from coopmarket.products import certifications as certification_service
from coopmarket.products import image_uploads
from coopmarket.products import service as products_service
from coopmarket.products import trace as trace_service
from coopmarket.products.schemas import (
    BatchIn,
    CertificationIn,
    ImageAttachIn,
    ImageUploadIn,
    ProductIn,
    SkuIn,
)
from coopmarket.reports import disclosures as disclosure_service
from coopmarket.reports import distribution
from coopmarket.reports import income as income_service
from coopmarket.reports.schemas import IncomeIn, IncomeReversalIn, SurplusDistributionIn
from coopmarket.storage.base import ObjectStorage
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
    label: str  # drawn on the generated photo when no CJK font is installed
    photo: PhotoStyle
    # Besides the compliance certificate every demo product gets: (kind, number, issuer, valid
    # from so many days before the seeding day, to so many days after it).
    certificates: tuple[tuple[str, str, str, int, int], ...] = ()


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
    # (product name, supplying member's name, quantity, unit, harvested so many days ago)
    batch: tuple[str, str, int, str, int] | None = None
    # Products named in a brand licence granted for a year from the seeding day.
    licensed_products: tuple[str, ...] = field(default_factory=tuple)

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
                label="Fangzi sweet potato",
                photo=PhotoStyle((250, 214, 165), (214, 120, 60), (170, 70, 60), "tuber"),
            ),
            DemoProduct(
                name="青萝卜",
                category="vegetables",
                unit="box",
                description="皮青肉翠，脆甜多汁，可生吃。",
                skus=(("JJ-LB-5", "5斤装", 2580, 150),),
                label="Green radish",
                photo=PhotoStyle((225, 240, 215), (150, 195, 130), (90, 170, 90), "root"),
            ),
        ),
        batch=("坊子烟薯", "蒋秀芳", 1200, "斤", 3),
        licensed_products=("坊子烟薯", "青萝卜"),
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
                label="Fangzi watermelon",
                photo=PhotoStyle((255, 228, 225), (235, 120, 120), (60, 140, 60), "round"),
                certificates=(("green_food", "LB-15-2603370704A", "中国绿色食品发展中心（演示）", 300, 795),),
            ),
            DemoProduct(
                name="大棚草莓",
                category="fruit",
                unit="box",
                description="红颜品种，当天采摘，冷链发货。",
                skus=(("DAT-CM-2", "2斤装", 6800, 60),),
                label="Greenhouse strawberries",
                photo=PhotoStyle((255, 240, 240), (250, 180, 190), (215, 35, 55), "berry"),
                certificates=(("organic", "227OP2600001", "有机产品认证机构（演示）", 30, 334),),
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
                label="Qililan ginger",
                photo=PhotoStyle((250, 245, 220), (225, 200, 140), (220, 180, 90), "tuber"),
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
                label="Free-range eggs",
                photo=PhotoStyle((240, 235, 225), (200, 185, 160), (225, 185, 140), "egg"),
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


@dataclass
class Seeded:
    """What seeding one cooperative made."""

    products: int = 0
    skus: int = 0
    certificates: int = 0
    trace_urls: list[str] = field(default_factory=list)
    licences: list[str] = field(default_factory=list)  # "number (product, product)"
    photos: int = 0
    cooperative_id: str = ""
    manager: Principal | None = None


PHOTOS_PER_PRODUCT = 2


async def _add_photos(
    db: Database, storage: ObjectStorage, manager: Principal, product_id: str, spec: DemoProduct
) -> int:
    """Generated photos, uploaded to an issued target and attached as a client's would be."""
    for variant in range(PHOTOS_PER_PRODUCT):
        content = product_photo(
            spec.name, spec.label, spec.photo, variant=variant, brand=db.settings.brand_name
        )
        async with db.unit_of_work() as session:
            issued = await image_uploads.issue_upload(
                session,
                storage,
                db.settings,
                manager,
                product_id,
                ImageUploadIn(
                    filename=f"demo-{variant + 1}.jpg", content_type="image/jpeg", size=len(content)
                ),
            )
        await storage.put(issued.key, content, "image/jpeg")
        await image_uploads.attach_image(
            db, storage, db.settings, manager, product_id, ImageAttachIn(key=issued.key)
        )
    return PHOTOS_PER_PRODUCT


async def _seed_cooperative(
    db: Database, storage: ObjectStorage, staff: Principal, spec: DemoCooperative, password: str
) -> Seeded:
    """Register, approve and stock one cooperative, with photos, certificates, a batch and a licence."""
    async with db.unit_of_work() as session:
        token = await accounts_service.register(
            session,
            db.settings,
            RegisterIn(phone=spec.manager_phone, password=password, display_name=spec.chairperson),
        )
    applicant = Principal(id=token.user.id, role=BUYER, display_name=spec.chairperson)
    async with db.unit_of_work() as session:
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
    async with db.unit_of_work() as session:
        await coops_service.decide(
            session,
            staff,
            cooperative.id,
            "approve",
            "材料齐全，同意入驻（演示数据）",
            today=clock.now().date(),
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
    member_ids: dict[str, str] = {}
    for member in members:
        async with db.unit_of_work() as session:
            member_ids[member.name] = (
                await coops_service.add_member(session, manager, cooperative.id, member)
            ).id
    seeded = Seeded(cooperative_id=cooperative.id, manager=manager)
    product_ids: dict[str, str] = {}
    for product in spec.products:
        async with db.unit_of_work() as session:
            created = await products_service.create_product(
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
                        SkuIn(
                            code=code,
                            spec=sku_spec,
                            price_fen=price,
                            stock=stock,
                            # Each SKU supplied by a household member, so sales count towards
                            # their transaction volume (Art. 43) and the distribution has a basis.
                            supplier_member_id=member_ids[spec.households[index % len(spec.households)][0]],
                        )
                        for index, (code, sku_spec, price, stock) in enumerate(product.skus)
                    ],
                ),
            )
        product_ids[product.name] = created.id
        seeded.products += 1
        seeded.skus += len(product.skus)
        seeded.photos += await _add_photos(db, storage, manager, created.id, product)
        seeded.certificates += await _seed_certificates(db, manager, spec, product, created.id)
    await _seed_batch_and_licence(db, staff, manager, spec, cooperative.id, product_ids, member_ids, seeded)
    return seeded


async def _seed_certificates(
    db: Database, manager: Principal, spec: DemoCooperative, product: DemoProduct, product_id: str
) -> int:
    """The compliance certificate (承诺达标合格证) every product gets, and the product's others."""
    today = clock.today(db.settings.report_timezone)
    certificates = [
        ("compliance_certificate", f"CN-{spec.uscc[-6:]}-{product.skus[0][0]}", spec.name, 30, 730),
        *product.certificates,
    ]
    for kind, number, issuer, days_before, days_after in certificates:
        async with db.unit_of_work() as session:
            await certification_service.add_certification(
                session,
                manager,
                product_id,
                CertificationIn(
                    kind=kind,  # type: ignore[arg-type]
                    number=number,
                    issuer=issuer,
                    valid_from=today - timedelta(days=days_before),
                    valid_to=today + timedelta(days=days_after),
                ),
                today=today,
            )
    return len(certificates)


async def _seed_batch_and_licence(
    db: Database,
    staff: Principal,
    manager: Principal,
    spec: DemoCooperative,
    cooperative_id: str,
    product_ids: dict[str, str],
    member_ids: dict[str, str],
    seeded: Seeded,
) -> None:
    """A harvest batch with its trace code, and a brand licence granted for a year."""
    settings = db.settings
    today = clock.today(settings.report_timezone)
    if spec.batch is not None:
        product_name, member_name, quantity, unit, days_ago = spec.batch
        async with db.unit_of_work() as session:
            batch = await trace_service.record_batch(
                session,
                manager,
                product_ids[product_name],
                BatchIn(
                    produced_on=today - timedelta(days=days_ago),
                    quantity=quantity,
                    unit=unit,
                    member_id=member_ids[member_name],
                ),
                today=today,
                public_base=settings.public_base,
            )
        seeded.trace_urls.append(f"{batch.trace_url}  ({product_name}, trace code {batch.trace_code})")
    if spec.licensed_products:
        async with db.unit_of_work() as session:
            applied = await brand_service.apply_for_licence(
                session,
                manager,
                cooperative_id,
                LicenceIn(
                    product_ids=[product_ids[name] for name in spec.licensed_products],
                    valid_from=today,
                    valid_to=today + timedelta(days=364),
                ),
                today=today,
                brand=settings.brand_name,
            )
        async with db.unit_of_work() as session:
            granted = await brand_service.grant_licence(
                session,
                staff,
                applied.id,
                LicenceDecisionIn(reason="产品证书齐全，准予使用区域公用品牌（演示数据）"),
                today=today,
                settings=settings,
            )
        seeded.licences.append(f"{granted.number} ({'、'.join(spec.licensed_products)})")


# --- a year of sales, other income and a distribution ----------------------------------------

DEMO_BUYERS = (("13800000101", "刘晓梅"), ("13800000102", "陈国强"), ("13800000103", "赵雪"))
# (category, month, day, amount in fen, source, document): other income of each demo village,
# in the months of the year before the seeding day's (and of this year while the day has passed).
DEMO_INCOME: tuple[tuple[str, int, int, int, str, str], ...] = (
    ("contracting_income", 3, 15, 4_800_000, "村东机动地发包（演示）", "FB-{year}-01"),
    ("contracting_income", 9, 15, 4_800_000, "村东机动地发包（演示）", "FB-{year}-02"),
    ("subsidy_income", 5, 20, 2_000_000, "区农业农村局村级组织运转补助（演示）", "BZ-{year}-05"),
    ("subsidy_income", 11, 20, 1_500_000, "街道人居环境整治奖补（演示）", "BZ-{year}-11"),
    ("investment_income", 6, 30, 1_200_000, "入股光伏电站分红（演示）", "TZ-{year}-06"),
    ("other_income", 8, 8, 300_000, "闲置仓库临时租用（演示）", "QT-{year}-08"),
)
SALES_YEARS_BACK = 1  # from 1 January of last year to the seeding day


@dataclass
class SalesSeeded:
    orders: int = 0
    settled: int = 0
    lines: int = 0
    sales_fen: int = 0
    incomes: int = 0
    distribution: str = ""
    disclosure: str = ""
    first_year: int = 0


def _months(first: date, last: date) -> list[date]:
    months, month = [], first.replace(day=1)
    while month <= last:
        months.append(month)
        month = date(month.year + 1, 1, 1) if month.month == 12 else date(month.year, month.month + 1, 1)
    return months


async def _sellable_skus(db: Database, cooperative_id: str) -> list[tuple[str, int]]:
    """(sku id, price) of the cooperative's SKUs, in a fixed order."""
    async with db.read() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT sku.id, sku.price_fen FROM sku JOIN product ON product.id = sku.product_id"
                    " WHERE product.cooperative_id = :c ORDER BY product.name, sku.code"
                ),
                {"c": cooperative_id},
            )
        ).all()
    return [(row.id, int(row.price_fen)) for row in rows]


async def _one_sale(
    db: Database,
    staff: Principal,
    buyer: Principal,
    manager: Principal,
    lines: list[OrderLineIn],
    address: ShippingAddressIn,
    placed_at: datetime,
    now: datetime,
    reference: str,
) -> tuple[int, bool]:
    """Order, pay offline (staff record it), ship and receive, each at its time in the past
    through the real services: receipt settles the part in the ledger. (total, settled)"""
    settled = False
    async with db.unit_of_work() as session:
        with clock.frozen_at(placed_at):
            order = await checkout.place_order(
                session, db.settings, buyer, PlaceOrderIn(lines=lines, shipping_address=address)
            )
            await payment_flow.record_offline_payment(
                session, staff, order.id, OfflinePaymentIn(reference=reference, amount_fen=order.total_fen)
            )
        part = order.parts[0]
        with clock.frozen_at(placed_at + timedelta(days=1)):
            await fulfilment.ship_part(
                session,
                manager,
                order.id,
                part.id,
                ShipIn(carrier="中国邮政（演示）", tracking_number=reference),
            )
        received_at = placed_at + timedelta(days=3)
        if received_at < now:
            with clock.frozen_at(received_at):
                await fulfilment.receive_part(session, buyer, order.id, part.id)
            settled = True
    return order.total_fen, settled


async def seed_sales(
    db: Database, staff: Principal, cooperatives: list[tuple[DemoCooperative, Seeded]]
) -> SalesSeeded:
    """A year and more of settled orders of the demo cooperatives (from 1 January of last year),
    placed, paid, shipped and received through the real services at their dates; other income of
    the demo villages in every category, one of them corrected by a reversing entry; and the
    largest seller's confirmed surplus distribution of last year. The ledger balances and the
    monthly rollup is kept by the same postings."""
    timezone = db.settings.report_timezone
    zone = ZoneInfo(timezone)
    now = clock.now()
    today = clock.today(timezone)
    first_day = date(today.year - SALES_YEARS_BACK, 1, 1)
    done = SalesSeeded(first_year=first_day.year)
    buyers: list[Principal] = []
    for phone, name in DEMO_BUYERS:
        async with db.unit_of_work() as session:
            token = await accounts_service.register(
                session, db.settings, RegisterIn(phone=phone, password=_new_password(), display_name=name)
            )
        buyers.append(Principal(id=token.user.id, role=BUYER, display_name=name))
    sales_by_coop: dict[str, int] = {}
    for index, (spec, seeded) in enumerate(cooperatives):
        assert seeded.manager is not None
        skus = await _sellable_skus(db, seeded.cooperative_id)
        address = ShippingAddressIn(
            name="收货人（演示）",
            phone="13800000199",
            detail="坊子区演示路1号",
            region_code=spec.village_code,
        )
        for month_number, month in enumerate(_months(first_day, today)):
            # One order early each month, and a second one in every other month: uneven figures.
            days = (6, 20) if (month_number + index) % 2 == 0 else (11,)
            for day_index, day in enumerate(days):
                placed_on = month.replace(day=day)
                placed_at = datetime.combine(placed_on, time(10, 30), tzinfo=zone).astimezone(UTC)
                if placed_at >= now:
                    continue
                n = done.orders + 1
                first_sku = (month_number + day_index) % len(skus)
                lines = [OrderLineIn(sku_id=skus[first_sku][0], quantity=1 + (month_number + index) % 2)]
                if len(skus) > 1 and day_index == 0:
                    lines.append(OrderLineIn(sku_id=skus[(first_sku + 1) % len(skus)][0], quantity=1))
                total, settled = await _one_sale(
                    db,
                    staff,
                    buyers[n % len(buyers)],
                    seeded.manager,
                    lines,
                    address,
                    placed_at,
                    now,
                    f"DEMO-{placed_on:%Y%m%d}-{n:04d}",
                )
                done.orders += 1
                done.lines += len(lines)
                if settled:
                    done.settled += 1
                    done.sales_fen += total
                    if placed_on.year == first_day.year:
                        sales_by_coop[seeded.cooperative_id] = (
                            sales_by_coop.get(seeded.cooperative_id, 0) + total
                        )
    # Other income of each demo village.
    corrected = False
    for spec, _seeded in cooperatives:
        for year in range(first_day.year, today.year + 1):
            for category, month_of_year, day, amount, source, document in DEMO_INCOME:
                occurred_on = date(year, month_of_year, day)
                if occurred_on >= today:
                    continue
                async with db.unit_of_work() as session:
                    recorded = await income_service.record_income(
                        session,
                        staff,
                        spec.village_code,
                        IncomeIn(
                            category,  # type: ignore[arg-type]
                            amount + (int(spec.village_code[-3:]) % 7) * 10_000,
                            occurred_on,
                            source,
                            document.format(year=year),
                        ),
                        timezone=timezone,
                    )
                done.incomes += 1
                if not corrected and category == "other_income":
                    # A correction: the first one was entered twice over; reversed, then entered right.
                    async with db.unit_of_work() as session:
                        await income_service.reverse_income(
                            session,
                            staff,
                            spec.village_code,
                            recorded.id,
                            IncomeReversalIn("金额录入有误，冲销后重录（演示）"),
                        )
                    corrected = True
    # The largest seller of last year distributes that year's surplus (from the ledger).
    if sales_by_coop:
        cooperative_id = max(sales_by_coop, key=lambda c: sales_by_coop[c])
        spec, seeded = next((sp, se) for sp, se in cooperatives if se.cooperative_id == cooperative_id)
        assert seeded.manager is not None
        async with db.unit_of_work() as session:
            drafted = await distribution.draft(
                session,
                seeded.manager,
                cooperative_id,
                SurplusDistributionIn(year=first_day.year),
                volumes=member_volume.member_volumes,
                timezone=timezone,
            )
        async with db.unit_of_work() as session:
            confirmed = await distribution.confirm(session, seeded.manager, drafted.id)
        done.distribution = (
            f"{spec.name}, {first_day.year}: surplus {format_yuan(confirmed.surplus_fen)} yuan, "
            f"reserve {format_yuan(confirmed.reserve_fen)}, returned to {len(confirmed.members)} members"
        )
    # The first demo village discloses its last closed quarter (frozen, public).
    spec = cooperatives[0][0]
    period = _last_closed_quarter(today)
    async with db.unit_of_work() as session:
        published = await disclosure_service.publish_disclosure(
            session, village_code=spec.village_code, period=period, published_by=staff.id, timezone=timezone
        )
    done.disclosure = f"village {spec.village_code}, {period}: /api/v1/public/disclosures/{published.id}?format=html"
    return done


def _last_closed_quarter(today: date) -> str:
    """``2026-Q3`` for any day of the fourth quarter of 2026; ``2025-Q4`` in the first of 2026."""
    quarter = (today.month - 1) // 3  # the current quarter's number minus one
    return f"{today.year}-Q{quarter}" if quarter else f"{today.year - 1}-Q4"


async def seed(db: Database, storage: ObjectStorage, out: Callable[[str], object] = print) -> bool:
    """Create the demo data once; False (and nothing changed) when it is already there."""
    staff_password = _new_password()
    try:
        async with db.unit_of_work() as session:
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
    total = Seeded()
    cooperatives: dict[str, tuple[str, str]] = {}
    seeded_coops: list[tuple[DemoCooperative, Seeded]] = []
    try:
        for spec in COOPERATIVES:
            password = _new_password()
            seeded = await _seed_cooperative(db, storage, staff, spec, password)
            seeded_coops.append((spec, seeded))
            cooperatives[spec.village_code] = (seeded.cooperative_id, spec.name)
            total.products += seeded.products
            total.skus += seeded.skus
            total.photos += seeded.photos
            total.certificates += seeded.certificates
            total.trace_urls += seeded.trace_urls
            total.licences += seeded.licences
            logins.append(Login(f"manager of {spec.name}", spec.manager_phone, password))
        village_logins = await villages_demo.seed_villages(db, staff, cooperatives, _new_password)
        logins += [Login(label, phone, password) for label, phone, password in village_logins]
        sales = await seed_sales(db, staff, seeded_coops)
    except Exception:
        out(
            "Seeding stopped half-way. Remove the demo database (./var/ by default) and run "
            "`coopmarket migrate` and `coopmarket seed-demo` again."
        )
        raise
    out(
        f"Demo data loaded: {len(COOPERATIVES)} approved cooperatives of Fangzi District, "
        f"{total.products} products, {total.skus} SKUs, {total.photos} photos, {total.certificates} certificates."
    )
    for licence in total.licences:
        out(f"Brand licence granted: {licence}; these products show is_branded.")
    for url in total.trace_urls:
        out(f"Trace a harvest batch: {url}")
    out(
        f"Village registers: {len(villages_demo.VILLAGES)} villages with assets and contracts, "
        "receipts, arrears, a write-off, findings and idle assets (see GET /api/v1/contract-campaign)."
    )
    out(
        f"Sales: {sales.orders} orders ({sales.lines} lines) since 1 January {sales.first_year}, "
        f"{sales.settled} received and settled ({format_yuan(sales.sales_fen)} yuan); "
        f"{sales.incomes} other incomes of the villages (one corrected by a reversing entry). "
        "See GET /api/v1/reports/collective-income?from=…&to=…&interval=month."
    )
    if sales.distribution:
        out(f"Surplus distribution confirmed: {sales.distribution}.")
    if sales.disclosure:
        out(f"Disclosure published (frozen, public): {sales.disclosure}")
    out("Demo logins (shown only now; only password hashes are stored):")
    for login in logins:
        out(f"  {login.phone}  password {login.password}  {login.label}")
    return True
