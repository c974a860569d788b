"""Periodic jobs of the products slice: sweep image uploads that were never attached."""

from __future__ import annotations

from coopmarket.core.jobs import PeriodicJob
from coopmarket.db import Database
from coopmarket.products import image_uploads
from coopmarket.storage.base import ObjectStorage

SWEEP_INTERVAL_SECONDS = 3600.0


def periodic_jobs(db: Database, storage: ObjectStorage) -> list[PeriodicJob]:
    """The products slice's jobs, for ``app.py`` to start."""
    return [
        PeriodicJob(
            "sweep expired image uploads",
            SWEEP_INTERVAL_SECONDS,
            lambda: image_uploads.sweep_expired_uploads(db, storage),
        )
    ]
