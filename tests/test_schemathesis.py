"""The OpenAPI document is the truth: schemathesis fuzzes the served API against it (issue 10).

A real server (tests/live.py) on the test's database is seeded with real data (a buyer with an
order, a manager with an approved cooperative, products and members, street and district staff),
then ``schemathesis run`` tests every operation of the served document, with every check it has,
once per identity: anonymous, buyer, manager, street staff and district staff. Path parameters are
real ids, so operations are reached beyond their 404. The run is seeded and bounded (examples per
operation), so it is repeatable and takes a few minutes; any failure fails this test, with
schemathesis's own report of it in the assertion message.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import tomllib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from coopmarket.db import Database
from coopmarket.settings import Settings
from tests.factories import (
    STREET,
    VILLAGE,
    Actor,
    approved_cooperative,
    coop_payload,
    create_product,
    make_staff,
    register_buyer,
)
from tests.live import LiveServer, serve, settings_env
from tests.orders.builders import new_key, order_body
from tests.villages.builders import create_contract, instalments

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
SEED = 20261203
MAX_EXAMPLES = int(os.environ.get("COOPMARKET_FUZZ_EXAMPLES", "20"))
IDENTITIES = ("anonymous", "buyer", "manager", "street_staff", "district_staff")


@dataclass
class World:
    server: LiveServer
    actors: dict[str, Actor]
    ids: dict[str, str]


class _WechatStandIn(BaseHTTPRequestHandler):
    """WeChat's jscode2session, refusing every code (the fuzzer has no real one)."""

    def do_GET(self) -> None:
        body = json.dumps({"errcode": 40029, "errmsg": "invalid code"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def wechat_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _WechatStandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
async def world(settings: Settings, db: Database, tmp_path: Path, wechat_url: str) -> AsyncIterator[World]:
    """A real server with one of everything, and the ids to aim at."""
    env = settings_env(
        settings,
        wechat_appid="wx-fuzz",
        wechat_secret="fuzz-secret",
        wechat_api_base=wechat_url,
        # /metrics answers as in production: 401 without its own token (no fuzzed identity has it).
        metrics_token="fuzz-metrics-token-0000000000",
    )
    with serve(env, tmp_path / "server.log") as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as http:
            client: Any = http
            district = await make_staff(client, db)
            street = await make_staff(client, db, role="street_staff", region_code=STREET)
            manager, coop = await approved_cooperative(client, district)
            product = await create_product(
                client,
                manager,
                coop["id"],
                skus=[
                    {"code": "FZ-1", "spec": "5斤装", "price_fen": 3990, "stock": 1000},
                    {"code": "FZ-2", "spec": "10斤装", "price_fen": 6990, "stock": 1000},
                ],
            )
            member = await client.post(
                f"/api/v1/cooperatives/{coop['id']}/members",
                json={"name": "赵大明", "kind": "household", "capital_fen": 100000},
                headers=manager.headers,
            )
            assert member.status_code == 201, member.text
            pending = await client.post(
                "/api/v1/cooperatives", json=coop_payload(), headers=(await register_buyer(client)).headers
            )
            assert pending.status_code == 201, pending.text
            buyer = await register_buyer(client)
            order = await client.post(
                "/api/v1/orders",
                json=order_body([(product["skus"][0]["id"], 2)]),
                headers={**buyer.headers, "Idempotency-Key": new_key()},
            )
            assert order.status_code == 201, order.text
            paid = await client.post(
                f"/api/v1/orders/{order.json()['id']}/offline-payments",
                json={"reference": "BANK-FUZZ-1", "amount_fen": order.json()["total_fen"]},
                headers=manager.headers,
            )
            assert paid.status_code == 201, paid.text
            refund = await client.post(
                f"/api/v1/orders/{order.json()['id']}/refunds",
                json={"part_id": order.json()["parts"][0]["id"], "amount_fen": 100, "reason": "少了一个"},
                headers={**buyer.headers, "Idempotency-Key": new_key()},
            )
            assert refund.status_code == 201, refund.text
            # The village register (kept by the village's own staff): an asset let under a contract
            # with its instalments, so the contract and instalment operations are reached too.
            keeper = await make_staff(client, db, role="village_staff", region_code=VILLAGE)
            contract = await create_contract(client, keeper)
            instalment = (await instalments(client, keeper, contract["id"]))[0]
        yield World(
            server,
            {"buyer": buyer, "manager": manager, "street_staff": street, "district_staff": district},
            {
                "cooperative_id": coop["id"],
                "product_id": product["id"],
                "sku_id": product["skus"][0]["id"],
                "member_id": member.json()["id"],
                "order_id": order.json()["id"],
                "part_id": order.json()["parts"][0]["id"],
                "refund_id": refund.json()["id"],
                "code": VILLAGE,
                "user_id": manager.id,
                "asset_id": contract["asset_id"],
                "contract_id": contract["id"],
                "instalment_id": instalment["id"],
            },
        )
        assert "Traceback" not in server.log(), server.log()[-5000:]


def _config(world: World, identity: str) -> str:
    """schemathesis.toml for one identity: the real ids, every check, a fixed seed."""
    lines = [
        f"seed = {SEED}",
        "workers = 1",
        "continue-on-failure = true",
        f'hooks = "{REPO / "tests" / "schemathesis_hooks.py"}"',
        "[generation]",
        f"max-examples = {MAX_EXAMPLES}",
        "[checks]",
        "enabled = true",
        # A valid shape may still break a documented rule (422 with the rule's code); the hook
        # check makes sure it is never refused for its shape (tests/schemathesis_hooks.py).
        "[checks.positive_data_acceptance]",
        'expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]',
        "[parameters]",
        *(f'"path.{name}" = "{value}"' for name, value in world.ids.items()),
    ]
    actor = world.actors.get(identity)
    if actor is not None:
        lines[4:4] = ["[headers]", f'Authorization = "Bearer {actor.token}"']
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)  # fail here, not inside schemathesis, on a config typo
    return text


# Operations that end the identity's own session: once the fuzzer has signed out everywhere, every
# later request of the run carries a dead token and answers 401, so the run would test nothing but
# the 401 (as it did: "110 operations returned only 401/403"). They are fuzzed anonymously only, and
# tested as the signed-in user in tests/accounts.
SESSION_ENDING = ("/api/v1/me/sign-out-everywhere",)


def _run_schemathesis(world: World, identity: str, work: Path) -> subprocess.CompletedProcess[str]:
    config = work / f"schemathesis-{identity}.toml"
    config.write_text(_config(world, identity))
    excluded = [] if identity == "anonymous" else [f"--exclude-path={path}" for path in SESSION_ENDING]
    return subprocess.run(  # noqa: S603 - our own interpreter and a pinned tool
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(config),
            "--no-color",
            "run",
            f"{world.server.base_url}/schema/openapi.json",
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            *excluded,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=work,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("COOPMARKET_")}, "NO_COLOR": "1"},
    )


# CI's 20 minutes: COOPMARKET_FUZZ_SQLITE_IDENTITIES=anonymous fuzzes only the anonymous caller on
# SQLite (the input layer is the same code on both; the signed-in identities run on PostgreSQL).
# Unset, every identity runs on both databases.
SQLITE_IDENTITIES = os.environ.get("COOPMARKET_FUZZ_SQLITE_IDENTITIES", ",".join(IDENTITIES)).split(",")


@pytest.fixture(autouse=True)
def _identities_for_this_database(request: pytest.FixtureRequest) -> None:
    # Autouse, so it runs before `world` starts a server and seeds it.
    params = getattr(request.node, "callspec", None)
    if params is None:
        return
    backend, identity = params.params.get("database_url"), params.params.get("identity")
    if backend == "sqlite" and identity not in SQLITE_IDENTITIES:
        pytest.skip(f"{identity} is fuzzed on PostgreSQL only here (COOPMARKET_FUZZ_SQLITE_IDENTITIES)")


@pytest.mark.parametrize("identity", IDENTITIES)
async def test_the_api_keeps_to_its_openapi_document(world: World, identity: str, tmp_path: Path) -> None:
    # When schemathesis runs every operation with every check, as this identity
    result = _run_schemathesis(world, identity, tmp_path)

    # Then it finds nothing
    report = Path(os.environ.get("COOPMARKET_FUZZ_REPORT_DIR", tmp_path)) / f"schemathesis-{identity}.out"
    report.write_text(result.stdout + result.stderr)
    assert result.returncode == 0, f"full report: {report}\n" + result.stdout[-20000:] + result.stderr[-3000:]
    # And the identity was signed in throughout: its token still works after the run (before, the
    # fuzzer signed itself out everywhere early and 110 of 130 operations saw nothing but 401)
    actor = world.actors.get(identity)
    if actor is not None:
        async with httpx.AsyncClient(base_url=world.server.base_url, timeout=30) as http:
            me = await http.get("/api/v1/me", headers=actor.headers)
        assert me.status_code == 200, f"the {identity} token died during the run: {me.text}; report: {report}"
