"""District staff deactivate and reactivate accounts: old tokens stop at once, sign-in is refused,
every decision is audited in the same transaction; nobody deactivates themselves."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import text

from coopmarket.db import Database
from tests.factories import OTHER_STREET, STREET, make_staff, register_buyer


def _deactivate(user_id: str) -> str:
    return f"/api/v1/users/{user_id}/deactivate"


def _reactivate(user_id: str) -> str:
    return f"/api/v1/users/{user_id}/reactivate"


async def _audit_actions(db: Database, user_id: str) -> list[tuple[str, str | None]]:
    async with db.read() as conn:
        rows = (
            await conn.execute(
                text("SELECT action, actor_id FROM audit_entry WHERE entity = 'user' AND entity_id = :id"),
                {"id": user_id},
            )
        ).all()
    return sorted((r[0], r[1]) for r in rows)


async def test_deactivation_ends_old_tokens_and_sign_in_until_reactivated(
    client: AsyncTestClient[Any], db: Database
) -> None:
    staff = await make_staff(client, db)
    buyer = await register_buyer(client)
    response = await client.post(_deactivate(buyer.id), json={"reason": "投诉核实"}, headers=staff.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["is_active"]) == (buyer.id, False)
    assert "phone" not in body and body["phone_masked"] != buyer.phone

    refused = await client.get("/api/v1/me", headers=buyer.headers)
    assert refused.status_code == 401
    assert refused.json()["code"] == "invalid_token"
    login = await client.post("/api/v1/auth/login", json={"phone": buyer.phone, "password": buyer.password})
    assert login.status_code == 401

    again = await client.post(_reactivate(buyer.id), headers=staff.headers)
    assert again.status_code == 200
    assert again.json()["is_active"] is True
    # The old token stays dead; a fresh sign-in works.
    assert (await client.get("/api/v1/me", headers=buyer.headers)).status_code == 401
    fresh = await client.post("/api/v1/auth/login", json={"phone": buyer.phone, "password": buyer.password})
    assert fresh.status_code == 200
    assert await _audit_actions(db, buyer.id) == sorted(
        [("user.deactivate", staff.id), ("user.reactivate", staff.id)]
    )


async def test_the_audit_entry_carries_the_reason_and_no_phone(
    client: AsyncTestClient[Any], db: Database
) -> None:
    staff = await make_staff(client, db)
    buyer = await register_buyer(client)
    await client.post(_deactivate(buyer.id), json={"reason": "冒用身份"}, headers=staff.headers)
    entries = (await client.get(f"/api/v1/audit?entity=user&id={buyer.id}", headers=staff.headers)).json()
    [entry] = entries["items"]
    assert entry["action"] == "user.deactivate"
    assert (entry["before"]["is_active"], entry["after"]["is_active"]) == (True, False)
    assert buyer.phone not in str(entries)


async def test_a_repeated_decision_changes_nothing_and_writes_no_entry(
    client: AsyncTestClient[Any], db: Database
) -> None:
    staff = await make_staff(client, db)
    buyer = await register_buyer(client)
    assert (await client.post(_reactivate(buyer.id), headers=staff.headers)).status_code == 200
    assert await _audit_actions(db, buyer.id) == []
    assert (await client.get("/api/v1/me", headers=buyer.headers)).status_code == 200


async def test_staff_cannot_deactivate_themselves(client: AsyncTestClient[Any], db: Database) -> None:
    staff = await make_staff(client, db)
    response = await client.post(_deactivate(staff.id), json={"reason": "x"}, headers=staff.headers)
    assert response.status_code == 409
    assert response.json()["code"] == "own_account"
    assert (await client.get("/api/v1/me", headers=staff.headers)).status_code == 200
    assert await _audit_actions(db, staff.id) == []


async def test_district_staff_can_deactivate_other_staff_in_scope(
    client: AsyncTestClient[Any], db: Database
) -> None:
    district = await make_staff(client, db)
    street = await make_staff(client, db, role="street_staff", region_code=STREET)
    response = await client.post(_deactivate(street.id), json={"reason": "离职"}, headers=district.headers)
    assert response.status_code == 200
    assert (await client.get("/api/v1/me", headers=street.headers)).status_code == 401


async def test_unknown_user_is_404(client: AsyncTestClient[Any], db: Database) -> None:
    staff = await make_staff(client, db)
    response = await client.post(_deactivate("no-such-user"), json={"reason": "x"}, headers=staff.headers)
    assert response.status_code == 404
    assert response.json()["code"] == "user_not_found"


async def test_other_roles_are_403_and_anonymous_401(client: AsyncTestClient[Any], db: Database) -> None:
    target = await register_buyer(client)
    street = await make_staff(client, db, role="street_staff", region_code=OTHER_STREET)
    buyer = await register_buyer(client)
    for actor in (street, buyer):
        response = await client.post(_deactivate(target.id), json={"reason": "x"}, headers=actor.headers)
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden_role"
        assert (await client.post(_reactivate(target.id), headers=actor.headers)).status_code == 403
    assert (await client.post(_deactivate(target.id), json={"reason": "x"})).status_code == 401
    assert (await client.post(_reactivate(target.id))).status_code == 401
    assert (await client.get("/api/v1/me", headers=target.headers)).status_code == 200


async def test_a_reason_is_required(client: AsyncTestClient[Any], db: Database) -> None:
    staff = await make_staff(client, db)
    buyer = await register_buyer(client)
    response = await client.post(_deactivate(buyer.id), json={}, headers=staff.headers)
    assert response.status_code in (400, 422)
    assert (await client.get("/api/v1/me", headers=buyer.headers)).status_code == 200
