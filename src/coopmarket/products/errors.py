"""Refusals of the catalogue, each with a stable ``code``."""

from __future__ import annotations

from coopmarket.core.errors import Conflict, NotFound, RuleViolated, ValidationFailed


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


class ImageNotFound(NotFound):
    default_code = "image_not_found"


class InvalidImage(RuleViolated):
    """An upload or stored object that may not become a product photo (the code says why:
    ``image_type_not_allowed``, ``image_too_large``, ``image_not_uploaded``, ``image_undecodable``,
    ``image_too_many_pixels``, ``image_key_outside_product``, ``image_key_not_issued``)."""

    default_code = "invalid_image"


class ImageConflict(Conflict):
    """``too_many_images``, ``too_many_pending_uploads``, ``image_already_attached``."""

    default_code = "image_conflict"


class InvalidImageChange(ValidationFailed):
    """``invalid_position``, ``cover_required``."""

    default_code = "invalid_image_change"


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
