"""Prometheus metrics: HTTP traffic per route, the database pool, job backlogs, payments by status.

- HTTP metrics are counted by the request middleware (``ops/middleware.py``) per route *template*
  (``/api/v1/products/{product_id}``), never per raw path, so ids cannot blow up the series.
- With several uvicorn workers, ``coopmarket serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh
  directory; each worker writes its counters there and a scrape of any worker sums them all.
- Figures that live in the database (jobs waiting, payments by status) are read at scrape time
  through the ``GaugeSource`` functions the slices offer; the connection-pool gauges are those of
  the worker that answers, labelled with its pid.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy.ext.asyncio import AsyncConnection

from coopmarket.db import Database

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

HTTP_REQUESTS = Counter(
    "coopmarket_http_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_SERVER_ERRORS = Counter(
    "coopmarket_http_server_errors_total",
    "HTTP requests answered with a 5xx status, by method and route template.",
    ["method", "route"],
)
HTTP_DURATION = Histogram(
    "coopmarket_http_request_duration_seconds",
    "Time from the request's arrival to the end of its answer, by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HTTP_IN_PROGRESS = Gauge(
    "coopmarket_http_requests_in_progress",
    "HTTP requests being answered now.",
    multiprocess_mode="livesum",
)


@dataclass(frozen=True)
class Sample:
    """One value of a database-derived gauge: ``name`` without prefix, its labels and value."""

    name: str
    help: str
    labels: dict[str, str]
    value: float


GaugeSource = Callable[[AsyncConnection], Awaitable[Sequence[Sample]]]


# (method, route, status) -> its request counter and duration histogram: ``labels()`` takes a lock
# and builds its key on every call; the series of a route are few and live as long as the process.
_SERIES: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request (called by the edge middleware, ``ops/middleware.py``)."""
    key = (method, route, status)
    series = _SERIES.get(key)
    if series is None:
        series = _SERIES[key] = (
            HTTP_REQUESTS.labels(method, route, str(status)),
            HTTP_DURATION.labels(method, route),
        )
    series[0].inc()
    series[1].observe(seconds)
    if status >= 500:
        HTTP_SERVER_ERRORS.labels(method, route).inc()


def _pool_families(db: Database) -> list[GaugeMetricFamily]:
    pool = db.engine.pool
    pid = str(os.getpid())
    family = GaugeMetricFamily(
        "coopmarket_db_pool_connections",
        "Database connections of the answering worker's pool, by state.",
        labels=["pid", "state"],
    )
    checked_out = getattr(pool, "checkedout", None)
    size = getattr(pool, "size", None)
    idle = getattr(pool, "checkedin", None)
    overflow = getattr(pool, "overflow", None)
    if callable(checked_out):
        family.add_metric([pid, "checked_out"], float(checked_out()))
    if callable(idle):
        family.add_metric([pid, "idle"], float(idle()))
    if callable(overflow):
        family.add_metric([pid, "overflow"], float(max(overflow(), 0)))
    # Of the checked-out ones, those the driver path keeps between statements (db.KeptConnections).
    family.add_metric([pid, "kept"], float(db.kept.kept))
    capacity = GaugeMetricFamily(
        "coopmarket_db_pool_size", "Connections the answering worker's pool keeps open.", labels=["pid"]
    )
    if callable(size):
        capacity.add_metric([pid], float(size()))
    return [family, capacity]


async def _database_families(db: Database, sources: Sequence[GaugeSource]) -> list[GaugeMetricFamily]:
    samples: list[Sample] = []
    async with db.read() as conn:
        for source in sources:
            samples.extend(await source(conn))
    families: dict[str, GaugeMetricFamily] = {}
    for sample in samples:
        name = f"coopmarket_{sample.name}"
        family = families.get(name)
        if family is None:
            family = families[name] = GaugeMetricFamily(name, sample.help, labels=list(sample.labels))
        family.add_metric(list(sample.labels.values()), sample.value)
    return list(families.values())


class _Snapshot:
    """A collector that yields families computed just before the scrape."""

    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self._families = families

    def collect(self) -> list[GaugeMetricFamily]:
        return self._families


async def exposition(db: Database, sources: Sequence[GaugeSource]) -> tuple[bytes, str]:
    """The text a Prometheus scrape reads: process counters (all workers) and live gauges."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        traffic = generate_latest(registry)
    else:
        traffic = generate_latest(REGISTRY)
    live = CollectorRegistry(auto_describe=False)
    live.register(_Snapshot(_pool_families(db) + await _database_families(db, sources)))
    return traffic + generate_latest(live), CONTENT_TYPE_LATEST


def worker_exited(pid: int) -> None:
    """Drop a stopped worker's live gauges from the shared directory (multiprocess mode)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)
