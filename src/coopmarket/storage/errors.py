"""Refusals of the local store's upload and file routes, each with a stable ``code``.

They mirror what S3 itself answers to a bad presigned POST or GET (403 for a bad or expired
signature or a broken policy, 400 for a malformed form, 413 for an object over the limit).
"""

from __future__ import annotations

from typing import ClassVar

from coopmarket.core.errors import BadRequest, DomainError, NotFound, PermissionDenied, RuleViolated


class UploadMalformed(BadRequest):
    """A multipart body that cannot be parsed (a broken form, a field that is not UTF-8)."""

    default_code = "upload_malformed"


class UploadIncomplete(RuleViolated):
    """A well-formed form that is not the one an upload target describes: a policy field missing
    or empty before the file, the file not last or empty, a field sent twice or too long."""

    default_code = "upload_incomplete"


class UploadSignatureInvalid(PermissionDenied):
    default_code = "upload_signature_invalid"


class UploadExpired(PermissionDenied):
    default_code = "upload_expired"


class UploadPolicyViolated(PermissionDenied):
    """The form's key or ``Content-Type`` differs from the signed policy's."""

    default_code = "upload_policy_violated"


class UploadTooLarge(DomainError):
    status_code: ClassVar[int] = 413
    title: ClassVar[str] = "Content too large"
    default_code: ClassVar[str] = "upload_too_large"


class UploadUnsupportedMediaType(DomainError):
    status_code: ClassVar[int] = 415
    title: ClassVar[str] = "Unsupported media type"
    default_code: ClassVar[str] = "unsupported_media_type"


class FileSignatureInvalid(PermissionDenied):
    """A file URL whose signature is not ours, or has expired."""

    default_code = "file_signature_invalid"


class FileNotFound(NotFound):
    default_code = "file_not_found"
