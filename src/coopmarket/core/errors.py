"""Domain errors. Slices raise subclasses; ``app.py`` maps them to RFC 9457 problem details."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class DomainError(Exception):
    """A refusal the client can act on. ``code`` is stable; ``detail`` is for humans."""

    status_code: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"
    default_code: ClassVar[str] = "bad_request"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.errors = errors or []
        self.headers = headers or {}
        self.extra = extra or {}


class BadRequest(DomainError):
    status_code = 400
    title = "Bad request"
    default_code = "bad_request"


class Unauthorized(DomainError):
    status_code = 401
    title = "Unauthorized"
    default_code = "unauthorized"


class PermissionDenied(DomainError):
    status_code = 403
    title = "Forbidden"
    default_code = "forbidden"


class NotFound(DomainError):
    status_code = 404
    title = "Not found"
    default_code = "not_found"


class Conflict(DomainError):
    status_code = 409
    title = "Conflict"
    default_code = "conflict"


class UnsupportedMediaType(DomainError):
    status_code = 415
    title = "Unsupported media type"
    default_code = "unsupported_media_type"


class RuleViolated(DomainError):
    status_code = 422
    title = "Unprocessable content"
    default_code = "rule_violated"


class ValidationFailed(RuleViolated):
    default_code = "validation_error"


class TooManyRequests(DomainError):
    status_code = 429
    title = "Too many requests"
    default_code = "rate_limited"


class UpstreamUnavailable(DomainError):
    status_code = 503
    title = "Service unavailable"
    default_code = "upstream_unavailable"


class BadGateway(DomainError):
    status_code = 502
    title = "Bad gateway"
    default_code = "upstream_error"
