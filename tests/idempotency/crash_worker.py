"""A worker that claims an Idempotency-Key, writes an order, and hangs before committing.

Run as a child process by ``test_leases.py`` and killed there with SIGKILL: the real
``idempotency.service.execute`` and the real ``orders.checkout.place_order``, stopped between the
claim (committed) and the commit of the order and its answer (never reached).

Usage: python -m tests.idempotency.crash_worker READY_FILE TOKEN KEY BODY_JSON
(settings from the ``COOPMARKET_*`` environment).
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
from sqlmodel.ext.asyncio.session import AsyncSession

from coopmarket.accounts import service as accounts_service
from coopmarket.coops import service as coops_service
from coopmarket.db import Database
from coopmarket.idempotency import service as idempotency_service
from coopmarket.orders import checkout
from coopmarket.orders.schemas import PlaceOrderIn
from coopmarket.settings import Settings

SCOPE = "POST /api/v1/orders"  # what the route claims keys under


async def main(ready_file: Path, token: str, key: str, body_json: str) -> None:
    settings = Settings()
    db = Database(settings)
    async with db.read() as conn:
        principal = await accounts_service.authenticate(
            conn, settings, token, coops_service.managed_cooperative_ids
        )
    body = msgspec.convert(json.loads(body_json), PlaceOrderIn, strict=True)

    async def run(session: AsyncSession) -> tuple[int, Any]:
        answer = await checkout.place_order(session, settings, principal, body)
        await session.flush()
        await asyncio.to_thread(ready_file.write_text, "claimed; order written; not committed")
        await asyncio.sleep(3600)  # the parent kills the process here
        return 201, answer

    await idempotency_service.execute(
        db,
        user_id=principal.id,
        key=key,
        scope=SCOPE,
        body=body,
        ttl=timedelta(hours=settings.idempotency_ttl_hours),
        lease=timedelta(seconds=settings.idempotency_lease_seconds),
        run=run,
    )


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]))
