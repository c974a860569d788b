"""Builders for test data, with unique values per call. They go through the real API or services."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Any

from litestar.testing import AsyncTestClient

from coopmarket.accounts import service as accounts_service
from coopmarket.coops.uscc import ALPHABET, check_character
from coopmarket.db import Database

_counter = itertools.count(1)
_rng = random.Random(20261128)

DISTRICT = "370704"
STREET = "370704003"  # 凤凰街道
VILLAGE = "370704003200"  # 赵家村委会, 凤凰街道
OTHER_STREET = "370704004"  # 坊安街道
OTHER_VILLAGE = "370704004201"  # 河北郎郡庄村委会, 坊安街道


def unique_phone() -> str:
    return f"139{next(_counter) + _rng.randrange(10_000_000):08d}"[:11]


def unique_uscc(prefix: str = "93370704") -> str:
    """A valid farmers'-cooperative USCC never returned before in this run."""
    body = "MA" + "".join(_rng.choice(ALPHABET) for _ in range(6)) + ALPHABET[next(_counter) % 31]
    first17 = (prefix + body)[:17]
    return first17 + check_character(first17)


@dataclass
class Actor:
    """A signed-in user and the headers that act as them."""

    id: str
    token: str
    role: str
    phone: str
    password: str
    cooperative_ids: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def register_buyer(client: AsyncTestClient[Any], *, display_name: str = "买家") -> Actor:
    phone, password = unique_phone(), "correct horse battery"
    response = await client.post(
        "/api/v1/auth/register", json={"phone": phone, "password": password, "display_name": display_name}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Actor(body["user"]["id"], body["access_token"], body["user"]["role"], phone, password)


async def login(client: AsyncTestClient[Any], phone: str, password: str) -> Actor:
    response = await client.post("/api/v1/auth/login", json={"phone": phone, "password": password})
    assert response.status_code == 200, response.text
    body = response.json()
    return Actor(
        body["user"]["id"],
        body["access_token"],
        body["user"]["role"],
        phone,
        password,
        body["user"]["cooperative_ids"],
    )


async def make_staff(
    client: AsyncTestClient[Any], db: Database, *, role: str = "district_staff", region_code: str = DISTRICT
) -> Actor:
    """Staff are bootstrapped like the CLI does, then signed in over HTTP."""
    phone, password = unique_phone(), "staff password 123"
    async with db.unit_of_work() as session:
        await accounts_service.create_staff_unchecked(
            session,
            phone=phone,
            password=password,
            display_name=f"{role}-{phone[-4:]}",
            role=role,
            region_code=region_code,
        )
    return await login(client, phone, password)


def coop_payload(**overrides: Any) -> dict[str, Any]:
    n = next(_counter)
    payload: dict[str, Any] = {
        "name": f"坊子区测试种植专业合作社{n}",
        "uscc": unique_uscc(),
        "village_code": VILLAGE,
        "party_organization": "赵家村党支部",
        "chairperson": "赵建国",
        "founded_on": "2021-03-15",
        "charter": {
            "reserve_rate_bps": 1000,
            "patronage_return_bps": 7000,
            "collective_sales_share_bps": 1000,
        },
    }
    payload.update(overrides)
    return payload


async def approved_cooperative(
    client: AsyncTestClient[Any],
    staff: Actor,
    manager: Actor | None = None,
    **payload_overrides: Any,
) -> tuple[Actor, dict[str, Any]]:
    """Register a cooperative as ``manager`` (a new user by default) and approve it as ``staff``.

    Returns the manager signed in again (their token now carries the cooperative) and the
    approved cooperative as the API answered it.
    """
    manager = manager or await register_buyer(client, display_name="合作社理事长")
    response = await client.post(
        "/api/v1/cooperatives", json=coop_payload(**payload_overrides), headers=manager.headers
    )
    assert response.status_code == 201, response.text
    coop = response.json()
    response = await client.post(
        f"/api/v1/cooperatives/{coop['id']}/approve", json={"reason": "材料齐全"}, headers=staff.headers
    )
    assert response.status_code == 200, response.text
    manager = await login(client, manager.phone, manager.password)
    return manager, response.json()


def product_payload(**overrides: Any) -> dict[str, Any]:
    n = next(_counter)
    payload: dict[str, Any] = {
        "name": f"坊子烟薯{n}号",
        "category": "vegetables",
        "description": "坊子区沙土地种植的烟薯，香甜软糯。",
        "unit": "box",
        "origin_village_code": VILLAGE,
        "skus": [{"code": f"YS-{n}-5KG", "spec": "5斤装", "price_fen": 3990, "stock": 100}],
    }
    payload.update(overrides)
    return payload


async def create_product(
    client: AsyncTestClient[Any], manager: Actor, cooperative_id: str, **overrides: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/cooperatives/{cooperative_id}/products",
        json=product_payload(**overrides),
        headers=manager.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def ledger_balances(db: Database, prefix: str = "") -> dict[str, int]:
    """Non-zero ledger balances of the accounts starting with ``prefix``."""
    from coopmarket.ledger import service as ledger_service

    async with db.read() as conn:
        return {
            account: balance for account, balance in await ledger_service.balances(conn, prefix) if balance
        }
