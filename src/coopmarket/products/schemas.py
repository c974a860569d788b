"""Request and response shapes for the catalogue."""

from __future__ import annotations

import msgspec


class SkuForOrder(msgspec.Struct, frozen=True):
    """What checkout needs to know about a SKU (prices come from here, never from the client)."""

    sku_id: str
    product_id: str
    product_name: str
    spec: str
    category: str
    unit: str
    price_fen: int
    cooperative_id: str
    is_sellable: bool  # product active and its cooperative approved
