"""The dashboard in a real headless browser: Debian's Chromium (``/usr/bin/chromium``, installed by
.ci/run) driven by Playwright, against a real server on a seeded SQLite database.

Staff sign in through the page's form; the page must log no console error (its strict Content
Security Policy included), its charts must be drawn, and street staff must see only their street.
Skipped where Chromium is missing, except in CI (``CI`` set), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from coopmarket.settings import Settings
from tests.factories import Actor, make_staff
from tests.ledger.builders import post_income
from tests.live import serve, settings_env
from tests.reports.builders import STREET_A, STREET_B, V1, V2, V3, V4

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("COOPMARKET_CHROMIUM", "/usr/bin/chromium")
TIMEOUT_MS = 15_000


def _browser_or_skip() -> None:
    missing = []
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        missing.append(f"Chromium ({CHROMIUM}; apt-get install chromium)")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install -e '.[test]')")
    if missing:
        message = "the browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def settings_overrides(database_url: str) -> dict[str, Any]:
    if not database_url.startswith("sqlite"):
        pytest.skip("one database is enough for the browser; the figures are tested on both")
    return {}


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Any]:
    _browser_or_skip()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            # As root (CI) Chromium needs --no-sandbox; no GPU on these machines.
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 1600}, locale="zh-CN")
            yield await context.new_page()
        finally:
            await browser.close()


async def seed(client: AsyncTestClient[Any], db: Database) -> tuple[Actor, Actor]:
    """Income in two streets within the last months (the server's clock is the real one)."""
    recent = datetime.now(UTC) - timedelta(days=3)
    await post_income(db, V1, "subsidy_income", 8_000_000, occurred_at=recent)
    await post_income(db, V2, "operating_income", 1_000, occurred_at=recent - timedelta(days=40))
    await post_income(db, V3, "contracting_income", 60_000_000, occurred_at=recent)
    await post_income(db, V4, "investment_income", 9_000_000, occurred_at=recent - timedelta(days=70))
    district = await make_staff(client, db)
    street = await make_staff(client, db, role="street_staff", region_code=STREET_A)
    return district, street


async def sign_in_and_read(page: Any, base_url: str, staff: Actor) -> dict[str, Any]:
    """Open the page, sign in with the form, wait for the charts; what the page shows."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{base_url}/dashboard")
    await page.wait_for_selector("#sign-in-form", state="visible", timeout=TIMEOUT_MS)
    await page.fill("#phone", staff.phone)
    await page.fill("#password", staff.password)
    await page.click("#sign-in-form button[type=submit]")
    await page.wait_for_selector("body[data-state=ready]", timeout=TIMEOUT_MS)
    # Hovering a bar shows a tooltip: it too must keep within the page's policy.
    box = await page.locator("#chart-villages canvas").first.bounding_box()
    await page.mouse.move(box["x"] + 200, box["y"] + 40)
    await page.wait_for_timeout(300)
    shown: dict[str, Any] = await page.evaluate(
        """() => {
            const charts = [...document.querySelectorAll('.chart')]
              .filter((el) => !el.closest('[hidden]'))
              .map((el) => {
                const chart = echarts.getInstanceByDom(el);
                const canvas = el.querySelector('canvas');
                let inked = 0;
                if (canvas) {
                  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
                  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) inked++;
                }
                return {id: el.id, instance: !!chart, width: canvas ? canvas.width : 0, inked};
              });
            const villages = echarts.getInstanceByDom(document.getElementById('chart-villages'))
              .getOption().yAxis[0].data;
            const streetsEl = document.getElementById('chart-streets');
            const streets = echarts.getInstanceByDom(streetsEl).getOption().xAxis[0].data;
            return {charts, villages, streets, token: sessionStorage.getItem('coopmarket.dashboard.token') !== null,
                    cookies: document.cookie};
        }"""
    )
    shown["errors"] = errors
    return shown


async def test_staff_sign_in_and_see_the_charts_of_their_scope_only(
    client: AsyncTestClient[Any], db: Database, settings: Settings, tmp_path: Path, page: Any
) -> None:
    # Given a real server on a database with income in two streets
    district, street = await seed(client, db)
    names = await region_names(client, district)
    with serve(settings_env(settings), tmp_path / "server.log") as server:
        # When district staff sign in on the page
        shown = await sign_in_and_read(page, server.base_url, district)

        # Then nothing went wrong, every chart is drawn, and both streets are there
        assert shown["errors"] == []
        assert len(shown["charts"]) == 5
        for chart in shown["charts"]:
            assert chart["instance"] and chart["width"] > 0 and chart["inked"] > 0, chart
        assert {names[STREET_A], names[STREET_B]} <= set(shown["streets"])
        assert {names[V1], names[V3]} <= set(shown["villages"])
        # and the token is in this tab's session storage, not in a cookie
        assert shown["token"] and shown["cookies"] == ""

        # When street A's staff sign in (after signing out)
        await page.click("#sign-out")
        await page.wait_for_selector("#sign-in-form", state="visible", timeout=TIMEOUT_MS)
        shown = await sign_in_and_read(page, server.base_url, street)

        # Then they see street A's villages only
        assert shown["errors"] == []
        assert shown["streets"] == [names[STREET_A]]
        assert names[V1] in shown["villages"] and names[V2] in shown["villages"]
        assert names[V3] not in shown["villages"] and names[V4] not in shown["villages"]
        for chart in shown["charts"]:
            assert chart["instance"] and chart["inked"] > 0, chart


async def region_names(client: AsyncTestClient[Any], staff: Actor) -> dict[str, str]:
    names = {}
    for code in (STREET_A, STREET_B, V1, V2, V3, V4):
        response = await client.get(f"/api/v1/regions/{code}", headers=staff.headers)
        assert response.status_code == 200, response.text
        names[code] = response.json()["name"]
    return names
