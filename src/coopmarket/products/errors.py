"""Refusals of the catalogue, each with a stable ``code``."""

from __future__ import annotations

from coopmarket.core.errors import Conflict, NotFound, ValidationFailed


class ProductNotFound(NotFound):
    default_code = "product_not_found"


class SkuNotFound(NotFound):
    default_code = "sku_not_found"


class CooperativeNotApproved(Conflict):
    default_code = "cooperative_not_approved"


class InsufficientStock(Conflict):
    default_code = "insufficient_stock"


class InvalidProduct(ValidationFailed):
    """A body that parses but breaks a catalogue rule (duplicate SKU code, not a village, ...)."""

    default_code = "invalid_product"
