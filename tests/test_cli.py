"""The ``coopmarket`` command, called in-process with settings from the environment."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from litestar.testing import TestClient
from sqlalchemy import create_engine
from sqlalchemy import text as sa_text

from coopmarket.app import create_app
from coopmarket.cli import main
from coopmarket.core import clock
from coopmarket.migrate import alembic_config
from coopmarket.settings import Settings, get_settings

JWT_SECRET = "cli-test-secret-0123456789abcdef"
PASSWORD = "district staff pw 1"


@pytest.fixture(autouse=True)
def _cli_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Settings come from COOPMARKET_* variables; get_settings() caches them, so clear around each test."""
    monkeypatch.setenv("COOPMARKET_ENVIRONMENT", "test")
    # Photos (seed-demo makes some) go to the test's directory, never to ./var of the checkout.
    monkeypatch.setenv("COOPMARKET_STORAGE_LOCAL_DIR", str(tmp_path / "uploads"))
    monkeypatch.setenv("COOPMARKET_JWT_SECRET", JWT_SECRET)
    monkeypatch.setenv("COOPMARKET_RUN_BACKGROUND_JOBS", "false")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _use_database(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("COOPMARKET_DATABASE_URL", url)


def _login(database_url: str, phone: str, password: str) -> Any:
    settings = Settings(
        environment="test", database_url=database_url, jwt_secret=JWT_SECRET, run_background_jobs=False
    )
    with TestClient(app=create_app(settings)) as client:
        response = client.post("/api/v1/auth/login", json={"phone": phone, "password": password})
        me = None
        if response.status_code == 200:
            token = response.json()["access_token"]
            me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
        return response.status_code, me


def _create_staff(phone: str, *extra: str) -> int:
    return main(
        [
            "create-staff",
            "--phone",
            phone,
            "--display-name",
            "坊子区农业农村局",
            "--role",
            "district_staff",
            *extra,
        ]
    )


def test_migrate_then_create_staff_gives_a_working_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an empty SQLite database named by the environment
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}"
    _use_database(monkeypatch, url)

    # When it is migrated and a district staff account is created
    assert main(["migrate"]) == 0
    assert f"is at revision {_head_revision()}" in capsys.readouterr().out
    assert _create_staff("13800000001", "--password", PASSWORD, "--region-code", "370704") == 0

    # Then that staff member can sign in through the API, with their role and region
    status, me = _login(url, "13800000001", PASSWORD)
    assert status == 200
    assert me["role"] == "district_staff"
    assert me["region_code"] == "370704"
    assert me["display_name"] == "坊子区农业农村局"
    assert me["phone_masked"] == "138****0001"


def test_create_staff_reads_the_password_from_stdin_without_echoing_it(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a migrated database and a password piped in (stdin is not a terminal)
    _use_database(monkeypatch, database_url)
    monkeypatch.setattr("sys.stdin", io.StringIO("piped secret 42\n"))

    # When create-staff runs without --password
    code = _create_staff("13800000002")

    # Then the account signs in with the piped password, which was printed nowhere
    assert code == 0
    out, err = capsys.readouterr()
    assert "piped secret 42" not in out + err
    assert _login(database_url, "13800000002", "piped secret 42")[0] == 200


def test_create_staff_refuses_a_duplicate_phone(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a staff account for a phone number
    _use_database(monkeypatch, database_url)
    assert _create_staff("13800000003", "--password", PASSWORD) == 0
    capsys.readouterr()

    # When a second account is created for the same phone
    code = _create_staff("13800000003", "--password", "another password 9")

    # Then the command fails with a clear message and the first account is unchanged
    assert code == 1
    assert (
        capsys.readouterr().err
        == "error: a user with phone 13800000003 already exists; nothing was created\n"
    )
    assert _login(database_url, "13800000003", PASSWORD)[0] == 200
    assert _login(database_url, "13800000003", "another password 9")[0] == 401


def test_create_staff_refuses_a_region_of_the_wrong_level(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a migrated database
    _use_database(monkeypatch, database_url)

    # When street staff are created for the district code
    code = main(
        [
            "create-staff",
            "--phone",
            "13800000004",
            "--password",
            PASSWORD,
            "--display-name",
            "凤凰街道",
            "--role",
            "street_staff",
            "--region-code",
            "370704",
        ]
    )

    # Then it is refused and no account exists
    assert code == 2
    assert capsys.readouterr().err == "error: street_staff needs a street region code.\n"
    assert _login(database_url, "13800000004", PASSWORD)[0] == 401


def test_create_staff_refuses_a_short_password_before_touching_the_database(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _use_database(monkeypatch, database_url)

    code = _create_staff("13800000005", "--password", "short")

    assert code == 2
    assert capsys.readouterr().err == "error: the password must be 8 to 128 characters long\n"
    assert _login(database_url, "13800000005", "short")[0] == 401


def test_settings_that_refuse_to_load_stop_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given production mode with the development JWT secret
    _use_database(monkeypatch, f"sqlite+aiosqlite:///{tmp_path / 'never.sqlite3'}")
    monkeypatch.setenv("COOPMARKET_ENVIRONMENT", "production")
    monkeypatch.delenv("COOPMARKET_JWT_SECRET")

    # When any command runs
    code = main(["migrate"])

    # Then it stops with the reason and creates no database
    assert code == 2
    assert "COOPMARKET_JWT_SECRET must be set outside development" in capsys.readouterr().err
    assert not (tmp_path / "never.sqlite3").exists()


def _printed_logins(out: str) -> dict[str, str]:
    """phone -> password from the lines seed-demo prints."""
    logins = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "password":
            logins[parts[0]] = parts[2]
    return logins


def _catalogue(database_url: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    settings = Settings(
        environment="test", database_url=database_url, jwt_secret=JWT_SECRET, run_background_jobs=False
    )
    with TestClient(app=create_app(settings)) as client:
        coops = client.get("/api/v1/cooperatives", params={"limit": 100}).json()["items"]
        products = client.get("/api/v1/products", params={"limit": 100}).json()["items"]
    return coops, products


def test_seed_demo_loads_approved_cooperatives_and_a_staff_login(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a migrated, empty database
    _use_database(monkeypatch, database_url)

    # When the demo data is seeded
    assert main(["seed-demo"]) == 0

    # Then the printed district staff login works
    logins = _printed_logins(capsys.readouterr().out)
    assert sorted(logins) == [f"1380000000{n}" for n in range(8)]
    status, me = _login(database_url, "13800000000", logins["13800000000"])
    assert status == 200
    assert (me["role"], me["region_code"]) == ("district_staff", "370704")
    # And four approved cooperatives in four different streets offer six products publicly
    coops, products = _catalogue(database_url)
    assert len(coops) == 4
    assert {c["status"] for c in coops} == {"approved"}
    assert len({c["village_code"][:9] for c in coops}) == 4
    assert sorted(p["name"] for p in products) == sorted(
        ["坊子烟薯", "青萝卜", "坊子西瓜", "大棚草莓", "七里兰生姜", "散养土鸡蛋"]
    )
    assert {p["name"]: p["price_fen"] for p in products}["坊子烟薯"] == 3990


def test_seed_demo_shows_photos_certificates_a_trace_code_and_a_branded_product(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the demo data
    _use_database(monkeypatch, database_url)
    assert main(["seed-demo"]) == 0
    out = capsys.readouterr().out
    assert "6 products, 10 SKUs, 12 photos, 8 certificates." in out

    # Then it prints the granted licence and a trace URL
    assert "Brand licence granted: YFSP-" in out
    trace_lines = [line for line in out.splitlines() if line.startswith("Trace a harvest batch: ")]
    assert len(trace_lines) == 1
    url = trace_lines[0].split()[4]
    assert url.startswith("http://127.0.0.1:8000/trace/")
    code = url.rsplit("/", 1)[1]
    settings = Settings(
        environment="test", database_url=database_url, jwt_secret=JWT_SECRET, run_background_jobs=False
    )
    with TestClient(app=create_app(settings)) as client:
        # And the licensed products show the badge, the others do not
        products = client.get("/api/v1/products", params={"limit": 100}).json()["items"]
        assert sorted(p["name"] for p in products if p["is_branded"]) == ["坊子烟薯", "青萝卜"]
        branded = client.get("/api/v1/products", params={"branded": "true"}).json()["items"]
        assert sorted(p["name"] for p in branded) == ["坊子烟薯", "青萝卜"]
        # And every product carries a valid compliance certificate
        for item in products:
            certificates = client.get(f"/api/v1/products/{item['id']}").json()["certifications"]
            assert ("compliance_certificate", True) in {(c["kind"], c["is_valid"]) for c in certificates}
        # And the trace code answers publicly, as JSON and as the page the URL opens
        trace = client.get(f"/api/v1/trace/{code}")
        assert trace.status_code == 200
        assert (trace.json()["product"]["name"], trace.json()["is_branded"]) == ("坊子烟薯", True)
        assert client.get(f"/trace/{code}").status_code == 200
        # Then every product in the list has a cover picture a newcomer sees
        assert len(products) == 6
        assert all(p["cover_image_url"] for p in products)
        for product in products:
            # And its answer carries two photos, the first the cover, whose URLs serve JPEG and WebP
            images = client.get(f"/api/v1/products/{product['id']}").json()["images"]
            assert [(i["position"], i["is_cover"]) for i in images] == [(1, True), (2, False)]
            assert (images[0]["width"], images[0]["height"]) == (1200, 900)
            photo = client.get(images[0]["url"])
            assert (photo.status_code, photo.headers["content-type"]) == (200, "image/jpeg")
            assert photo.content[:3] == b"\xff\xd8\xff"
            thumb = client.get(product["cover_image_url"])
            assert (thumb.status_code, thumb.headers["content-type"]) == (200, "image/webp")


def test_seed_demo_twice_changes_nothing(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given seeded demo data
    _use_database(monkeypatch, database_url)
    assert main(["seed-demo"]) == 0
    first_password = _printed_logins(capsys.readouterr().out)["13800000000"]
    before = _catalogue(database_url)

    # When seed-demo runs again
    code = main(["seed-demo"])

    # Then it says so, prints no password, and the data and the first password are unchanged
    assert code == 0
    out = capsys.readouterr().out
    assert out == "Demo data already present (a user with phone 13800000000 exists): nothing changed.\n"
    assert _catalogue(database_url) == before
    assert _login(database_url, "13800000000", first_password)[0] == 200


def test_seed_demo_stores_no_password_in_plain_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a fresh SQLite database seeded with the demo data
    database = tmp_path / "demo.sqlite3"
    _use_database(monkeypatch, f"sqlite+aiosqlite:///{database}")
    assert main(["migrate"]) == 0
    assert main(["seed-demo"]) == 0
    passwords = list(_printed_logins(capsys.readouterr().out).values())

    # When the database files are read byte by byte
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("demo.sqlite3*"))

    # Then none of the printed passwords is in them
    assert len(passwords) == 8
    assert [p for p in passwords if p.encode() in stored] == []


def test_expire_orders_cancels_an_overdue_unpaid_order_and_releases_its_stock(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the demo catalogue and a buyer's unpaid order of 3 boxes of sweet potatoes
    _use_database(monkeypatch, database_url)
    assert main(["seed-demo"]) == 0
    capsys.readouterr()
    settings = Settings(
        environment="test", database_url=database_url, jwt_secret=JWT_SECRET, run_background_jobs=False
    )
    with TestClient(app=create_app(settings)) as client:
        products = client.get("/api/v1/products", params={"limit": 100}).json()["items"]
        product_id = next(p["id"] for p in products if p["name"] == "坊子烟薯")
        sku = next(
            s for s in client.get(f"/api/v1/products/{product_id}").json()["skus"] if s["spec"] == "5斤装"
        )
        buyer = client.post(
            "/api/v1/auth/register",
            json={"phone": "13900000077", "password": "buyer password 1", "display_name": "张三"},
        ).json()
        headers = {"Authorization": f"Bearer {buyer['access_token']}"}
        placed = client.post(
            "/api/v1/orders",
            json={
                "lines": [{"sku_id": sku["id"], "quantity": 3}],
                "shipping_address": {
                    "name": "张三",
                    "phone": "13900000077",
                    "detail": "凤凰街道赵家村 8 号",
                    "region_code": "370704003200",
                },
                "payment_method": "offline",
            },
            headers={**headers, "Idempotency-Key": "cli-expire-test-1"},
        )
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["id"]

        # When the payment window has passed and expire-orders runs
        clock.advance(timedelta(seconds=settings.order_payment_timeout_seconds + 60))
        code = main(["expire-orders"])

        # Then that one order is cancelled and the stock is back
        assert code == 0
        assert capsys.readouterr().out == "expired 1 overdue order(s)\n"
        assert client.get(f"/api/v1/orders/{order_id}", headers=headers).json()["status"] == "cancelled"
        skus = client.get(f"/api/v1/products/{product_id}").json()["skus"]
        assert next(s["stock"] for s in skus if s["id"] == sku["id"]) == sku["stock"]


def test_seed_demo_fills_the_village_contracts_campaign(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the demo data
    _use_database(monkeypatch, database_url)
    assert main(["seed-demo"]) == 0
    logins = _printed_logins(capsys.readouterr().out)
    settings = Settings(
        environment="test", database_url=database_url, jwt_secret=JWT_SECRET, run_background_jobs=False
    )
    with TestClient(app=create_app(settings)) as client:
        token = client.post(
            "/api/v1/auth/login", json={"phone": "13800000000", "password": logins["13800000000"]}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        # When district staff open this year's campaign, the arrears and the idle assets
        year = clock.today(settings.report_timezone).year
        campaign = client.get(
            "/api/v1/contract-campaign",
            params={"from": f"{year}-01-01", "to": f"{year}-12-31"},
            headers=headers,
        )
        arrears = client.get("/api/v1/arrears", headers=headers).json()
        idle = client.get("/api/v1/idle-assets", headers=headers).json()
        village = client.post(
            "/api/v1/auth/login", json={"phone": "13800000005", "password": logins["13800000005"]}
        )
    # Then three villages in three streets show arrears, recoveries, a write-off, findings and idle assets
    assert campaign.status_code == 200, campaign.text
    total = campaign.json()["total"]
    villages = [v["region_code"] for s in campaign.json()["streets"] for v in s["villages"]]
    assert villages == ["370704005201", "370704007201", "370704008203"]
    for figure in ("arrears_closing_fen", "arrears_recovered_fen", "arrears_written_off_fen"):
        assert total[figure] > 0, figure
    assert (total["irregular_found"], total["irregular_resolved"], total["idle_assets_put_back"]) == (2, 1, 1)
    assert arrears["total_fen"] == total["arrears_closing_fen"]  # the campaign stops at today
    assert {item["name"] for item in idle["items"]} == {"老村委会办公楼", "北岭林地"}
    # And the village staff login works
    assert (village.status_code, village.json()["user"]["role"]) == (200, "village_staff")


def test_seed_demo_adds_a_year_of_settled_sales_other_income_and_a_distribution(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a migrated, empty database, when the demo data is seeded
    _use_database(monkeypatch, database_url)
    assert main(["seed-demo"]) == 0
    out = capsys.readouterr().out
    assert "Surplus distribution confirmed:" in out
    logins = _printed_logins(out)
    settings = Settings(
        environment="test", database_url=database_url, jwt_secret=JWT_SECRET, run_background_jobs=False
    )
    last_year = clock.today(settings.report_timezone).year - 1
    with TestClient(app=create_app(settings)) as client:
        token = client.post(
            "/api/v1/auth/login", json={"phone": "13800000000", "password": logins["13800000000"]}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        # Then last year's report by village has every demo village's income in every category
        report = client.get(
            "/api/v1/reports/collective-income",
            params={"from": f"{last_year}-01-01", "to": f"{last_year}-12-31", "interval": "month"},
            headers=headers,
        ).json()
        earning = [i for i in report["items"] if i["total_fen"]]
        assert len(earning) == 4
        for item in earning:
            assert all(amount > 0 for amount in item["by_category"].values()), item
        # and every month of the year has sales income
        assert len(report["periods"]) == 12
        assert all(
            sum(i["by_category"]["operating_income"] for i in p["items"]) > 0 for p in report["periods"]
        )
        # And one village's last closed quarter is disclosed, frozen and public, with income in it
        published = re.search(r"Disclosure published \(frozen, public\): village (\d{12}), (\d{4}-Q\d): (\S+)", out)
        assert published is not None, out
        village_code, period, page = published.groups()
        listed = client.get(f"/api/v1/public/villages/{village_code}/disclosures").json()["items"]
        assert [(d["period"], d["corrects"]) for d in listed] == [(period, None)]
        disclosure = client.get(f"/api/v1/public/disclosures/{listed[0]['id']}").json()
        assert disclosure["figures"]["income_total_fen"] > 0, disclosure["figures"]
        html = client.get(page)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    # And the ledger balances, and its rollup is the postings summed by month, village and category
    engine = create_engine(database_url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg"))
    with engine.connect() as conn:
        assert (
            conn.execute(sa_text("SELECT coalesce(sum(amount_fen), 0) FROM ledger_posting")).scalar_one() == 0
        )
        rollup = {
            (f"collective_income:{village}:{category}", int(amount))
            for village, category, amount in conn.execute(
                sa_text(
                    "SELECT village_code, category, sum(amount_fen) FROM collective_income_month"
                    " GROUP BY village_code, category HAVING sum(amount_fen) <> 0"
                )
            )
        }
        postings = {
            (account, -int(amount))
            for account, amount in conn.execute(
                sa_text(
                    "SELECT account, sum(amount_fen) FROM ledger_posting WHERE account LIKE 'collective_income:%'"
                    " GROUP BY account HAVING sum(amount_fen) <> 0"
                )
            )
        }
        assert rollup == postings
        assert len(postings) >= 4 * 5
        assert (
            conn.execute(
                sa_text("SELECT count(*) FROM surplus_distribution WHERE status = 'confirmed'")
            ).scalar_one()
            == 1
        )
        assert (
            conn.execute(
                sa_text("SELECT count(*) FROM ledger_transaction WHERE kind = 'part_settled'")
            ).scalar_one()
            > 100
        )
    engine.dispose()
