"""The import's size and row limits come from settings (small ones here)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coopmarket.db import Database
from tests.factories import VILLAGE
from tests.products.builders import Seller, product_count
from tests.products.test_import_export import csv_bytes, upload


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"import_max_bytes": 2048, "import_max_rows": 3}


async def test_limits_on_bytes_and_rows_come_from_settings(
    client: AsyncTestClient[Any], db: Database, seller: Seller
) -> None:
    too_big = csv_bytes(*[f"梨{n},fruit,箱,{VILLAGE},{'很甜' * 20},S,一箱,100,1" for n in range(20)])
    assert len(too_big) > 2048
    response = await upload(client, seller, too_big)
    assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")
    too_many = csv_bytes(*[f"梨{n},fruit,箱,{VILLAGE},,S,一箱,100,1" for n in range(4)])
    response = await upload(client, seller, too_many)
    assert (response.status_code, response.json()["code"]) == (422, "import_too_many_rows")
    assert await product_count(db) == 0
    assert (
        await upload(
            client, seller, csv_bytes(*[f"梨{n},fruit,箱,{VILLAGE},,S,一箱,100,1" for n in range(3)])
        )
    ).status_code == 200
