"""Registering an existing number does not say that it is registered: one generic 409 for every
existing account (buyer, staff, deactivated), the same work as a success (the password is hashed
either way), the existing account untouched; probing is bounded by the per-phone limit
(tests/accounts/test_phone_rate_limit.py)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.accounts import security
from coopmarket.db import Database
from tests.factories import make_staff, register_buyer, unique_phone

REGISTER = "/api/v1/auth/register"


def _body(phone: str) -> dict[str, str]:
    return {"phone": phone, "password": "someone else 123", "display_name": "冒名者"}


def _visible(response: Any) -> tuple[int, str, str, str]:
    body = response.json()
    return response.status_code, body["code"], body["title"], body["detail"]


async def test_every_existing_account_gets_the_same_generic_answer(
    client: AsyncTestClient[Any], db: Database
) -> None:
    buyer = await register_buyer(client)
    staff = await make_staff(client, db)
    deactivated = await register_buyer(client)
    assert (
        await client.post(
            f"/api/v1/users/{deactivated.id}/deactivate", json={"reason": "x"}, headers=staff.headers
        )
    ).status_code == 200

    answers = [_visible(await client.post(REGISTER, json=_body(a.phone))) for a in (buyer, staff, deactivated)]
    assert len(set(answers)) == 1
    status, code, _title, detail = answers[0]
    assert (status, code) == (409, "registration_refused")
    for word in ("registered", "taken", "exists", "staff"):
        assert word not in detail.lower()


async def test_the_chinese_sentence_does_not_say_registered_either(client: AsyncTestClient[Any]) -> None:
    buyer = await register_buyer(client)
    response = await client.post(REGISTER, json=_body(buyer.phone), headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 409
    assert "已注册" not in response.json()["detail"]


async def test_the_existing_account_is_untouched(client: AsyncTestClient[Any]) -> None:
    buyer = await register_buyer(client)
    await client.post(REGISTER, json=_body(buyer.phone))
    assert (await client.get("/api/v1/me", headers=buyer.headers)).status_code == 200
    old = await client.post("/api/v1/auth/login", json={"phone": buyer.phone, "password": buyer.password})
    assert old.status_code == 200
    new = await client.post("/api/v1/auth/login", json={"phone": buyer.phone, "password": "someone else 123"})
    assert new.status_code == 401


async def test_an_existing_number_costs_the_same_password_hashing_as_a_new_one(
    client: AsyncTestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    buyer = await register_buyer(client)
    calls: list[str] = []
    real = security.hash_password

    def counting(password: str) -> str:
        calls.append(password)
        return real(password)

    monkeypatch.setattr(security, "hash_password", counting)
    refused = await client.post(REGISTER, json=_body(buyer.phone))
    on_refusal = len(calls)
    created = await client.post(REGISTER, json=_body(unique_phone()))
    assert (refused.status_code, created.status_code) == (409, 201)
    assert on_refusal == 1
    assert len(calls) == 2
