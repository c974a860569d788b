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
from datetime import date, timedelta

from coopmarket.accounts import service as accounts_service
from coopmarket.accounts.schemas import RegisterIn
from coopmarket.brand import service as brand_service
from coopmarket.brand.schemas import LicenceDecisionIn, LicenceIn
from coopmarket.coops import service as coops_service
from coopmarket.coops.schemas import Charter, CooperativeIn, MemberIn
from coopmarket.coops.uscc import check_character
from coopmarket.core import clock
from coopmarket.core.errors import Conflict
from coopmarket.core.principal import BUYER, COOP_MANAGER, DISTRICT_STAFF, Principal
from coopmarket.db import Database
from coopmarket.demo_photos import PhotoStyle, product_photo
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
    seeded = Seeded(cooperative_id=cooperative.id)
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
                        SkuIn(code=code, spec=sku_spec, price_fen=price, stock=stock)
                        for code, sku_spec, price, stock in product.skus
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
    try:
        for spec in COOPERATIVES:
            password = _new_password()
            seeded = await _seed_cooperative(db, storage, staff, spec, password)
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
    out("Demo logins (shown only now; only password hashes are stored):")
    for login in logins:
        out(f"  {login.phone}  password {login.password}  {login.label}")
    return True
