"""The real Redis the tests share (COOPMARKET_TEST_REDIS_URL); each test keeps to a namespace of its
own (the ``redis_namespace`` fixture in conftest.py)."""

from __future__ import annotations

import os

REDIS_URL = os.environ.get("COOPMARKET_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
