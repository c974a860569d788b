"""Background jobs of the products slice: sweep image uploads that were never attached."""

from __future__ import annotations

import asyncio

from coopmarket.core.jobs import every
from coopmarket.db import Database
from coopmarket.products import image_uploads
from coopmarket.storage.base import ObjectStorage

SWEEP_INTERVAL_SECONDS = 3600.0


def start(db: Database, storage: ObjectStorage) -> list[asyncio.Task[None]]:
    """The products slice's periodic jobs, as tasks of the running loop."""
    return [
        asyncio.create_task(
            every(
                SWEEP_INTERVAL_SECONDS,
                "sweep expired image uploads",
                lambda: image_uploads.sweep_expired_uploads(db, storage),
            )
        )
    ]
