"""``OPTIONS`` and ``405`` answers list every method of the path (RFC 9110 ``Allow``).

Litestar builds a path's automatic ``OPTIONS`` handler when the path's first handler is
registered, so a path whose methods come from several handlers (``GET`` and ``POST`` on
``/api/v1/cooperatives``) answered ``Allow: GET, OPTIONS``. The app's edge middleware
(``ops/middleware.py``) rewrites ``Allow`` on ``OPTIONS`` answers with ``allow_for``: the
route's final method set.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=4096)
def allow_for(app: Any, path_template: str) -> bytes | None:
    """The ``Allow`` value of the route ``path_template`` of ``app``; None for no such route."""
    for route in app.routes:
        if route.path == path_template or route.path_format == path_template:
            methods = set(getattr(route, "methods", ())) | {"OPTIONS"}
            return ", ".join(sorted(methods)).encode()
    return None
