"""Request and response shapes of brand licences."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from coopmarket.coops.schemas import LicenceDecisionOut
from coopmarket.core.text import MultilineText, Text

MAX_LICENCE_PRODUCTS = 100

ProductIds = Annotated[
    list[Annotated[Text, Meta(min_length=1, max_length=26)]],
    Meta(min_length=1, max_length=MAX_LICENCE_PRODUCTS, description="Active products of the cooperative"),
]


class LicenceIn(msgspec.Struct, forbid_unknown_fields=True):
    product_ids: ProductIds
    valid_from: date
    valid_to: Annotated[
        date, Meta(description="Last day of the term (inclusive); at most 5 years after valid_from")
    ]


class LicenceDecisionIn(msgspec.Struct, forbid_unknown_fields=True):
    """``reason`` is required to suspend or revoke, optional to grant."""

    reason: Annotated[MultilineText, Meta(max_length=500)] | None = None


class LicensedProduct(msgspec.Struct):
    id: str
    name: str


class LicenceOut(msgspec.Struct):
    """A brand licence. ``status``: applied, granted, suspended, revoked, or expired (by date, once
    ``valid_to`` has passed); ``number`` is given at the first grant."""

    id: str
    number: str | None
    brand: str
    cooperative_id: str
    cooperative_name: str
    status: str
    status_reason: str | None
    valid_from: date
    valid_to: date
    products: list[LicensedProduct]
    applied_by: str
    applied_at: datetime
    granted_at: datetime | None
    updated_at: datetime
    decisions: list[LicenceDecisionOut]


class LicenceList(msgspec.Struct):
    items: list[LicenceOut]
    next_cursor: str | None
