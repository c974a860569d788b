"""Report shapes."""

from __future__ import annotations

from datetime import date
from typing import Literal

import msgspec

GroupBy = Literal["village", "street", "community", "district"]
ExportFormat = Literal["json", "csv", "xlsx"]


class IncomeByCategory(msgspec.Struct):
    """Income per category (财农〔2021〕121号), in fen."""

    operating_income: int = 0
    contracting_income: int = 0
    investment_income: int = 0
    subsidy_income: int = 0
    other_income: int = 0


class CollectiveIncomeItem(msgspec.Struct):
    region_code: str
    region_name: str
    total_fen: int
    by_category: IncomeByCategory
    band: str
    rank: int
    # Of ``total_fen``: income from sales whose buyer managed the selling cooperative (self-dealing
    # risk: the sale and the collective's share rest on one person's word), for a closer look.
    related_party_fen: int = 0


class CollectiveIncomeReport(msgspec.Struct):
    """Village collective income per region of one level, for local dates ``from``..``to`` inclusive."""

    from_: date = msgspec.field(name="from")
    to: date = msgspec.field()
    group_by: str = msgspec.field()
    region_code: str = msgspec.field()
    items: list[CollectiveIncomeItem] = msgspec.field()
    total_fen: int = msgspec.field()
    related_party_fen: int = msgspec.field(default=0)
