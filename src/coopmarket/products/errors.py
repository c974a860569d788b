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


class ImportRejected(ValidationFailed):
    """Rows of an import file (or its header) are bad; ``errors`` names each as ``rows[N].column``
    (or ``rows[N]``), the header being row 1. Nothing was imported."""

    default_code = "import_rows_invalid"


class UnreadableImport(ValidationFailed):
    """Not a CSV (UTF-8 or GB18030) or XLSX table."""

    default_code = "import_file_unreadable"


class ImportTooLarge(ValidationFailed):
    """More data rows than ``COOPMARKET_IMPORT_MAX_ROWS``."""

    default_code = "import_too_many_rows"
