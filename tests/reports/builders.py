"""Collective income for report tests, posted through the ledger (no orders needed)."""

from __future__ import annotations

from datetime import UTC, datetime

from coopmarket.db import Database
from tests.ledger.builders import post_income, settle_part

STREET_A = "370704003"  # 凤凰街道
STREET_B = "370704004"  # 坊安街道
V1 = "370704003200"  # 赵家村委会
V2 = "370704003201"  # 辛冬一村村委会
V5 = "370704003202"  # 辛冬二村村委会
V3 = "370704004201"  # 河北郎郡庄村委会
V4 = "370704004202"  # 张疃村委会
COOP = "01hcoop0000000000000000001"
MID_APRIL = datetime(2026, 4, 15, 4, 0, tzinfo=UTC)
APRIL = {"from": "2026-04-01", "to": "2026-04-30"}


async def post_april_income(db: Database) -> None:
    """Village totals for April 2026 (fen):

    street A: V1 5,000,000 (100,000 from a settled sale + 4,900,000 subsidy; exactly the shell limit),
              V2 4,999,999 (399 from a settled sale + 4,999,600 investment), V5 10,000,000 subsidy;
    street B: V3 60,000,000 contracting, V4 5,000,000 other (ties with V1).
    """
    # 10% of 1,000,000 with a 3% fee: 30,000 fee / 100,000 collective / 870,000 cooperative
    await settle_part(db, cooperative_id=COOP, village_code=V1, subtotal_fen=1_000_000, occurred_at=MID_APRIL)
    await post_income(db, V1, "subsidy_income", 4_900_000, occurred_at=MID_APRIL)
    # 10% of 3,990 with a 3% fee: 120 / 399 / 3,471
    await settle_part(db, cooperative_id=COOP, village_code=V2, subtotal_fen=3990, occurred_at=MID_APRIL)
    await post_income(db, V2, "investment_income", 4_999_600, occurred_at=MID_APRIL)
    await post_income(db, V5, "subsidy_income", 10_000_000, occurred_at=MID_APRIL)
    await post_income(db, V3, "contracting_income", 60_000_000, occurred_at=MID_APRIL)
    await post_income(db, V4, "other_income", 5_000_000, occurred_at=MID_APRIL)
