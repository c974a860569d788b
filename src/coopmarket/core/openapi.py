"""OpenAPI description of the error answers: the ``Problem`` body and ``responses=`` entries for routes.

Every error is an RFC 9457 problem (``application/problem+json``) built by the one mapping in
``app.py``. Routes declare the statuses they can answer with ``problems(...)``; the stable ``code``
values are listed in each response's description.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated

import msgspec
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import SecurityRequirement
from msgspec import Meta

PROBLEM_MEDIA_TYPE = "application/problem+json"

# The bearer scheme ``app.py`` declares in the document's components; it applies to every operation
# that does not say otherwise.
BEARER_SCHEME = "BearerToken"
# ``security=`` of public routes: no token needed, none looked at.
NO_TOKEN_NEEDED: list[SecurityRequirement] = [{}]
# ``security=`` of routes that answer anyone but show more to a signed-in caller (a bad token is 401).
TOKEN_OPTIONAL: list[SecurityRequirement] = [{}, {BEARER_SCHEME: []}]


class ProblemFieldError(msgspec.Struct):
    """One invalid field of a 422 answer."""

    field: Annotated[
        str, Meta(description="Where: `phone`, `lines[0].sku_id`, `charter.patronage_return_bps`")
    ]
    message: Annotated[str, Meta(description="What is wrong with it, for humans")]


class Problem(msgspec.Struct):
    """RFC 9457 problem details; ``code`` is the stable, machine-readable reason."""

    type: Annotated[str, Meta(description="Always `about:blank`")]
    title: Annotated[str, Meta(description="The HTTP status phrase")]
    status: Annotated[int, Meta(description="The HTTP status code")]
    detail: Annotated[str, Meta(description="What went wrong, for humans (English)")]
    code: Annotated[str, Meta(description="Stable reason, e.g. `out_of_stock`; see each response")]
    errors: Annotated[
        list[ProblemFieldError] | None,
        Meta(description="The invalid fields (422 `validation_error` and others)"),
    ] = None
    request_id: Annotated[str | None, Meta(description="Quote it to support (500 `internal_error`)")] = None
    sku_id: Annotated[str | None, Meta(description="With 409 `out_of_stock`: the SKU short of stock")] = None
    expected_fen: Annotated[
        int | None, Meta(description="With 422 `amount_mismatch`: the amount outstanding, in fen")
    ] = None
    outstanding_fen: Annotated[
        int | None, Meta(description="With 409 `receipt_exceeds_due`: what the instalment still owes, in fen")
    ] = None
    earliest_effective_on: Annotated[
        str | None,
        Meta(description="With 409 `amendment_overlaps_settled_period`: the first day an amendment may take effect"),
    ] = None


DESCRIPTIONS: dict[int, str] = {
    400: "Bad request: the body is not valid JSON, or a required header is missing or malformed.",
    401: "Not signed in: the bearer token is missing (where one is needed), malformed, invalid or expired.",
    403: "Forbidden: the caller's role or scope does not allow this.",
    404: "Not found, or not the caller's to see: another tenant's object answers 404, so ids cannot be probed.",
    409: "Conflict with the current state: a status, the stock, a unique value or a concurrent request.",
    413: "The request body is over the size limit.",
    422: "The request is well-formed but invalid, or breaks a rule; `errors` names the fields when it can.",
    429: "Too many requests: retry after the seconds in `Retry-After`.",
    502: "An upstream service answered with an error.",
    503: "An upstream service is unavailable or not configured here; retry later (`Retry-After` when known).",
}

# Codes every route answering these statuses can give, whatever it does.
USUAL_CODES: dict[int, tuple[str, ...]] = {
    400: ("bad_request",),
    401: ("not_authenticated", "invalid_token"),
    413: ("payload_too_large",),
    422: ("validation_error",),
    429: ("rate_limited",),
}

IDEMPOTENCY_CODES: dict[int, tuple[str, ...]] = {
    400: ("idempotency_key_required", "idempotency_key_invalid"),
    409: ("idempotency_request_in_progress",),
    422: ("idempotency_key_reused",),
}


def problem(status: int, *codes: str, usual: bool = True) -> ResponseSpec:
    """A problem response for ``status`` listing ``codes`` (after the status's usual ones unless ``usual=False``)."""
    listed = list(dict.fromkeys([*(USUAL_CODES.get(status, ()) if usual else ()), *codes]))
    description = DESCRIPTIONS.get(status, "Error.")
    if listed:
        description += " Codes: " + ", ".join(f"`{code}`" for code in listed) + "."
    return ResponseSpec(
        data_container=Problem,
        media_type=PROBLEM_MEDIA_TYPE,
        description=description,
        generate_examples=False,
    )


def problems(
    *statuses: int,
    codes: Mapping[int, Iterable[str]] | None = None,
    idempotent: bool = False,
) -> dict[int, ResponseSpec]:
    """``responses=`` entries for ``statuses`` and every status in ``codes`` (its extra stable codes).

    ``idempotent=True`` adds what the ``Idempotency-Key`` handling answers (400, 409, 422).
    """
    extra: dict[int, list[str]] = {}
    if idempotent:
        for status, status_codes in IDEMPOTENCY_CODES.items():
            extra.setdefault(status, []).extend(status_codes)
    for status, more in (codes or {}).items():
        extra.setdefault(status, []).extend(more)
    wanted = sorted({*statuses, *extra})
    return {status: problem(status, *extra.get(status, ())) for status in wanted}


__all__ = [
    "BEARER_SCHEME",
    "NO_TOKEN_NEEDED",
    "PROBLEM_MEDIA_TYPE",
    "TOKEN_OPTIONAL",
    "Problem",
    "ProblemFieldError",
    "problem",
    "problems",
]
