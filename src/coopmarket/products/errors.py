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


class CertificationNotFound(NotFound):
    default_code = "certification_not_found"


class CertificationExists(Conflict):
    """The product already has this certificate (same kind and number) standing."""

    default_code = "certification_exists"


class CertificationWithdrawn(Conflict):
    default_code = "certification_withdrawn"


class InvalidCertification(ValidationFailed):
    default_code = "invalid_certification"


class InvalidBatch(ValidationFailed):
    default_code = "invalid_batch"


class TraceCodeNotFound(NotFound):
    """Any code that is not one: malformed, mistyped or unknown, all answered alike."""

    default_code = "trace_code_not_found"
