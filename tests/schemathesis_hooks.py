"""Schemathesis hooks for tests/test_schemathesis.py (loaded by the schemathesis process).

``positive_data_acceptance`` is configured to accept 422 as an answer to a request the document
calls valid, because a valid shape can still break a documented rule the schema cannot express
(a USCC check digit, a village that is not in the district, a cursor not issued by the API,
stock over its ceiling): those answers carry the rule's own code. What must never happen is the
server refusing a schema-valid request on its *shape*: that would mean the document and the
server's validation disagree. This check says exactly that.
"""

from __future__ import annotations

from typing import Any

import schemathesis

# The codes the input checks answer with (core/inputs.py, msgspec, Idempotency-Key handling).
SHAPE_CODES = frozenset(
    {
        "bad_request",
        "validation_error",
        "invalid_encoding",
        "json_too_deep",
        "unsupported_media_type",
        "idempotency_key_required",
        "idempotency_key_invalid",
    }
)


@schemathesis.check
def schema_valid_requests_pass_the_shape_checks(ctx: Any, response: Any, case: Any) -> None:
    """A request the document calls valid is never refused for its shape."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code not in (400, 415, 422):
        return
    try:
        code = response.json().get("code")
    except ValueError:
        code = None
    if code in SHAPE_CODES:
        raise AssertionError(
            f"The document calls this request valid, but the server refused its shape ({response.status_code} "
            f"`{code}`): {response.text[:500]}"
        )
