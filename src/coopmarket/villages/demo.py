"""Demonstration registers for ``coopmarket seed-demo``: three villages' assets and contracts, with
receipts, arrears of every age, a write-off, findings and idle assets, so the campaign view,
the arrears and the idle-asset list are filled. Dates are counted back from today, so the data
stays current whenever it is loaded. Everything goes through the slice's own services.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from coopmarket.accounts import service as accounts_service
from coopmarket.coops.uscc import check_character
from coopmarket.core.identity import resident_id_check_character
from coopmarket.core.principal import VILLAGE_STAFF, Principal
from coopmarket.db import Database
from coopmarket.villages import access, assets, collection, contracts
from coopmarket.villages.schemas import (
    AssetIn,
    ContractIn,
    CounterpartyIn,
    FlagResolveIn,
    ReceiptIn,
    WriteOffIn,
)

APPROVAL = "村民代表会议决议"


def _resident_id(first17: str) -> str:
    return first17 + resident_id_check_character(first17)


def _uscc(body: str) -> str:
    first17 = "91370704" + body
    return first17 + check_character(first17)


@dataclass(frozen=True)
class DemoContract:
    counterparty: CounterpartyIn | str  # a string names a demo cooperative's village: it takes the asset
    starts: tuple[int, int, int]  # (years before this year, month, day)
    ends: tuple[int, int, int]  # (years after this year, month, day); negative: before this year
    annual_rent_fen: int
    schedule: str
    approved: bool = True
    # Instalments (by position) received in full on time, received in full late (this year), one
    # part-payment received this year (position, fen), written off; and findings staff resolved.
    paid: tuple[int, ...] = ()
    paid_late: tuple[int, ...] = ()
    part_paid: tuple[int, int] | None = None
    written_off: tuple[int, ...] = ()
    findings_resolved: str | None = None


@dataclass(frozen=True)
class DemoAsset:
    kind: str
    name: str
    size: float
    size_unit: str
    location: str
    valuation_fen: int
    idle_since_years: int | None = None  # idle since 1 June that many years ago; None: in use
    contract: DemoContract | None = None


@dataclass(frozen=True)
class DemoVillage:
    code: str
    name: str
    staff_phone: str
    assets: tuple[DemoAsset, ...] = field(default_factory=tuple)


def _person(kind: str, name: str, first17: str | None = None) -> CounterpartyIn:
    return CounterpartyIn(kind=kind, name=name, id_number=_resident_id(first17) if first17 else None)  # type: ignore[arg-type]


VILLAGES: tuple[DemoVillage, ...] = (
    DemoVillage(
        code="370704005201",
        name="蒋家一村",
        staff_phone="13800000005",
        assets=(
            DemoAsset(
                "farmland",
                "东洼机动地",
                120,
                "mu",
                "村东，南邻坊城河",
                180_000_000,
                contract=DemoContract(
                    _person("person", "蒋立军", "37070419700101051"),
                    (2, 1, 1),
                    (2, 12, 31),
                    9_600_000,
                    "yearly",
                    paid=(0,),
                    part_paid=(1, 5_000_000),
                ),
            ),
            DemoAsset(
                "site",
                "村北大棚园区",
                30,
                "mu",
                "村北，烟薯大棚 12 座",
                60_000_000,
                contract=DemoContract(
                    "370704005201", (1, 3, 1), (3, 2, 28), 3_600_000, "half_yearly", paid=(0, 1)
                ),
            ),
            DemoAsset(
                "farmland",
                "西坡耕地",
                60,
                "mu",
                "村西坡地",
                90_000_000,
                idle_since_years=2,
                contract=DemoContract(
                    CounterpartyIn(
                        kind="company", name="潍坊沃野农业科技有限公司", id_number=_uscc("MA3CT7QW2")
                    ),
                    (1, 7, 1),
                    (4, 6, 30),
                    5_400_000,
                    "quarterly",
                    paid=(0, 1),
                    paid_late=(2,),
                ),
            ),
            DemoAsset(
                "farmland",
                "南场地块",
                25,
                "mu",
                "村南老场院",
                30_000_000,
                contract=DemoContract(
                    _person("person", "王德利", "37070419650315031"),
                    (1, 1, 1),
                    (-1, 12, 31),
                    2_250_000,
                    "single",
                    paid=(0,),
                ),
            ),
            DemoAsset(
                "farmland",
                "河滩地",
                40,
                "mu",
                "坊城河北岸",
                40_000_000,
                contract=DemoContract(
                    _person("household", "蒋秀兰户", "37070419580720042"),
                    (1, 1, 1),
                    (1, 12, 31),
                    1_200_000,
                    "yearly",
                    approved=False,
                ),
            ),
            DemoAsset(
                "building",
                "老村委会办公楼",
                600,
                "square_metre",
                "村中心大街 8 号",
                45_000_000,
                idle_since_years=3,
            ),
        ),
    ),
    DemoVillage(
        code="370704007201",
        name="东安泰村",
        staff_phone="13800000006",
        assets=(
            DemoAsset(
                "pond",
                "村南大湾",
                18,
                "mu",
                "村南",
                20_000_000,
                contract=DemoContract(
                    _person("person", "安明远", "37070419720903061"),
                    (3, 4, 1),
                    (1, 3, 31),
                    1_500_000,
                    "yearly",
                    paid=(0,),
                    written_off=(1,),
                ),
            ),
            DemoAsset("woodland", "北岭林地", 200, "mu", "村北岭", 80_000_000, idle_since_years=1),
        ),
    ),
    DemoVillage(
        code="370704008203",
        name="七里兰村",
        staff_phone="13800000007",
        assets=(
            DemoAsset(
                "equipment",
                "生姜恒温冷库",
                1,
                "item",
                "村委会东侧",
                35_000_000,
                contract=DemoContract(
                    "370704008203",
                    (1, 1, 1),
                    (1, 12, 31),
                    2_400_000,
                    "quarterly",
                    approved=False,
                    paid=(0, 1, 2),
                    paid_late=(3,),
                    findings_resolved="已补开村民代表会议并形成决议（演示）",
                ),
            ),
        ),
    ),
)


def _day(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, 28) if month == 2 else day)


async def seed_villages(
    db: Database,
    district: Principal,
    cooperatives: dict[str, tuple[str, str]],
    new_password: Callable[[], str],
) -> list[tuple[str, str, str]]:
    """Create the demo registers; returns (label, phone, password) of the village staff logins.

    ``cooperatives`` maps a village code to (cooperative id, name) of the demo cooperative there.
    """
    timezone = db.settings.report_timezone
    today = access.today(timezone)
    logins: list[tuple[str, str, str]] = []
    for village in VILLAGES:
        password = new_password()
        async with db.unit_of_work() as session:
            user = await accounts_service.create_staff_unchecked(
                session,
                phone=village.staff_phone,
                password=password,
                display_name=f"{village.name}村务工作人员（演示）",
                role=VILLAGE_STAFF,
                region_code=village.code,
            )
        logins.append((f"village staff of {village.name}", village.staff_phone, password))
        keeper = Principal(
            id=user.id, role=VILLAGE_STAFF, display_name=user.display_name, region_code=village.code
        )
        for spec in village.assets:
            idle = spec.idle_since_years is not None
            async with db.unit_of_work() as session:
                asset = await assets.register_asset(
                    session,
                    keeper,
                    village.code,
                    AssetIn(
                        kind=spec.kind,  # type: ignore[arg-type]
                        name=spec.name,
                        size=spec.size,
                        size_unit=spec.size_unit,  # type: ignore[arg-type]
                        location=spec.location,
                        status="idle" if idle else "in_use",
                        valuation_fen=spec.valuation_fen,
                        valued_on=date(today.year - 1, 12, 31),
                        status_since=date(today.year - spec.idle_since_years, 6, 1) if idle else None,  # type: ignore[operator]
                    ),
                    timezone=timezone,
                )
            if spec.contract is not None:
                await _seed_contract(
                    db, keeper, district, asset.id, village.code, spec.contract, cooperatives, today
                )
    return logins


async def _seed_contract(
    db: Database,
    keeper: Principal,
    district: Principal,
    asset_id: str,
    village_code: str,
    spec: DemoContract,
    cooperatives: dict[str, tuple[str, str]],
    today: date,
) -> None:
    timezone = db.settings.report_timezone
    if isinstance(spec.counterparty, str):
        cooperative_id, name = cooperatives[spec.counterparty]
        counterparty = CounterpartyIn(kind="cooperative", name=name, cooperative_id=cooperative_id)
    else:
        counterparty = spec.counterparty
    starts_on = _day(today.year - spec.starts[0], spec.starts[1], spec.starts[2])
    ends_on = _day(today.year + spec.ends[0], spec.ends[1], spec.ends[2])
    async with db.unit_of_work() as session:
        contract = await contracts.register_contract(
            session,
            db.settings,
            keeper,
            village_code,
            ContractIn(
                asset_id=asset_id,
                counterparty=counterparty,
                starts_on=starts_on,
                ends_on=ends_on,
                annual_rent_fen=spec.annual_rent_fen,
                schedule=spec.schedule,  # type: ignore[arg-type]
                document_ref=f"坊子区农村集体资产承包合同〔{starts_on.year}〕{asset_id[-4:]}号",
                approval_ref=f"{APPROVAL}〔{starts_on.year}〕" if spec.approved else None,
            ),
        )
    async with db.read() as conn:
        items = (await collection.list_instalments(conn, keeper, contract.id, timezone=timezone)).items
    this_year = min(today, date(today.year, 3, 15))
    payments: list[tuple[int, int | None, bool]] = [(position, None, False) for position in spec.paid]
    payments += [(position, None, True) for position in spec.paid_late]
    if spec.part_paid is not None:
        payments.append((spec.part_paid[0], spec.part_paid[1], True))
    for position, amount, late in payments:
        if position >= len(items) or items[position].due_on > today:
            continue
        instalment = items[position]
        on_time = min(today, _day(instalment.due_on.year, instalment.due_on.month, 10))
        async with db.unit_of_work() as session:
            await collection.record_receipt(
                session,
                keeper,
                instalment.id,
                ReceiptIn(
                    amount_fen=amount or instalment.amount_fen,
                    received_on=max(this_year, instalment.due_on) if late else on_time,
                    reference=f"收据{instalment.due_on:%Y%m}-{instalment.seq:02d}",
                ),
                timezone=timezone,
            )
    if spec.findings_resolved:
        for flag in contract.flags:
            async with db.unit_of_work() as session:
                await contracts.resolve_flag(
                    session,
                    district,
                    contract.id,
                    flag.code,
                    FlagResolveIn(spec.findings_resolved),
                    timezone=timezone,
                )
    for position in spec.written_off:
        if position < len(items) and items[position].due_on < today:
            async with db.unit_of_work() as session:
                await collection.write_off(
                    session,
                    district,
                    items[position].id,
                    WriteOffIn(reason="承包方外出务工多年无法联系，经街道审核、村民代表会议同意核销（演示）"),
                    timezone=timezone,
                )
