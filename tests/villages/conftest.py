"""Village tests move the clock forward by months and years: tokens live long enough to follow."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"jwt_ttl_seconds": 10 * 366 * 24 * 3600}
