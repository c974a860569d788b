"""OpenAPI description of the error answers: the ``Problem`` body and ``responses=`` entries for routes.

Every error is an RFC 9457 problem (``application/problem+json``) built by the one mapping in
``app.py``. Routes declare the statuses they can answer with ``problems(...)``; the stable ``code``
values are listed in each response's description.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

# Litestar's own schema plugin for msgspec Structs (private module; litestar is pinned).
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Schema, SecurityRequirement
from litestar.params import ParameterKwarg
from litestar.typing import FieldDefinition
from msgspec import Meta

from coopmarket.core.inputs import DATE_OUT_OF_RANGE, type_takes_dates
from coopmarket.core.text import (
    MULTILINE_TEXT_PATTERN,
    NAME_PATTERN,
    TEXT_PATTERN,
    refused_characters,
)

if TYPE_CHECKING:
    from litestar import Litestar, Request
    from litestar._openapi.schema_generation import SchemaCreator

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
    415: "The body is not JSON in UTF-8 (`Content-Type: application/json`, charset absent or utf-8).",
    422: "The request is well-formed but invalid, or breaks a rule; `errors` names the fields when it can.",
    429: "Too many requests: retry after the seconds in `Retry-After`.",
    502: "An upstream service answered with an error.",
    503: "An upstream service is unavailable or not configured here; retry later (`Retry-After` when known).",
}

# Codes every route answering these statuses can give, whatever it does.
USUAL_CODES: dict[int, tuple[str, ...]] = {
    400: ("bad_request",),
    404: ("not_found",),
    415: ("unsupported_media_type",),
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


# --- the document is the truth ----------------------------------------------------------------
#
# Litestar writes most of the document from the code; what it gets wrong or cannot know is put
# right here, once, for every route (tests/test_openapi.py and tests/test_schemathesis.py hold it
# to the server's behaviour):
# - request Structs that refuse unknown fields say ``additionalProperties: false``, and a
#   constraint equal to 0 (``ge=0``) is not lost (``StrictStructSchemaPlugin``);
# - the ``Idempotency-Key`` header is required, 1–255 characters (the route answers 400
#   ``idempotency_key_required`` without it);
# - a body with a default (``JSONBody[X | None] = None``) is not required;
# - query strings say what ``core/inputs.py`` enforces (one line, no control characters), and
#   a query constraint equal to 0 is not lost;
# - what the input checks answer is documented everywhere they can: 400, 413, 415 and 422 for a
#   body, 422 for query parameters, 404 for path parameters, 422 ``date_out_of_range`` where a
#   date is taken (a rule JSON Schema cannot state for ``format: date``);
# - routes list extra answer media types in ``opt[ALTERNATIVE_MEDIA_TYPES]`` (e.g. a CSV export);
# - the text rules of ``core/text.py`` are written as ``not: {type: string, pattern: "[refused]"}``
#   ("contains none of these characters"): the same set as the server's look-ahead pattern, in the
#   form JSON Schema tools read best (a fuzzer draws from the allowed characters directly).

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
ALTERNATIVE_MEDIA_TYPES = "openapi_alternative_media_types"
CSV_MEDIA_TYPE = "text/csv"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def export_media_types() -> dict[str, dict[str, dict[str, str]]]:
    """``opt=`` of a route that answers ``format=csv|xlsx`` too: both answers in the document."""
    return {
        ALTERNATIVE_MEDIA_TYPES: {
            CSV_MEDIA_TYPE: {"type": "string", "description": "With format=csv (UTF-8 with a BOM)"},
            XLSX_MEDIA_TYPE: {"type": "string", "format": "binary", "description": "With format=xlsx"},
        }
    }
BODY_CODES: dict[int, tuple[str, ...]] = {
    400: ("bad_request", "invalid_encoding", "json_too_deep"),
    413: ("payload_too_large",),
    415: ("unsupported_media_type",),
    422: ("validation_error",),
}
_KWARG_TO_SCHEMA = {
    "ge": "minimum",
    "gt": "exclusiveMinimum",
    "le": "maximum",
    "lt": "exclusiveMaximum",
    "min_length": "minLength",
    "max_length": "maxLength",
    "min_items": "minItems",
    "max_items": "maxItems",
}
_MSGSPEC_TO_SCHEMA = {
    "ge": "minimum",
    "gt": "exclusive_minimum",
    "le": "maximum",
    "lt": "exclusive_maximum",
    "min_length": "min_length",
    "max_length": "max_length",
}


def _constrained_types(field_type: Any) -> Iterator[Any]:
    """The msgspec type-info nodes of a field that can carry constraints (through unions and metadata)."""
    if isinstance(field_type, msgspec.inspect.UnionType):
        for arm in field_type.types:
            yield from _constrained_types(arm)
    elif isinstance(field_type, msgspec.inspect.Metadata):
        yield from _constrained_types(field_type.type)
    else:
        yield field_type


_SEQUENCE_TYPES = (msgspec.inspect.ListType, msgspec.inspect.SetType, msgspec.inspect.FrozenSetType)
_STRING_TYPES = (msgspec.inspect.StrType,)


def _item_constraints(items: Schema, item_type: Any) -> None:
    """The constraints of a list's items (Litestar leaves them out of ``items``)."""
    for node in _constrained_types(item_type):
        for constraint, attribute in _MSGSPEC_TO_SCHEMA.items():
            value = getattr(node, constraint, None)
            if value is not None and getattr(items, attribute, None) is None:
                setattr(items, attribute, value)
        pattern = getattr(node, "pattern", None)
        if isinstance(node, _STRING_TYPES) and pattern is not None and items.pattern is None:
            items.pattern = pattern


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """Litestar's Struct schemas, plus ``additionalProperties: false`` where unknown fields are
    refused, constraints whose value is 0 (Litestar drops falsy ones on optional fields), and the
    constraints of list items (Litestar drops them: ``list[Annotated[Text, Meta(min_length=1)]]``)."""

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        assert isinstance(info, msgspec.inspect.StructType)
        if info.forbid_unknown_fields:
            schema.additional_properties = False
        for field in info.fields:
            prop = (schema.properties or {}).get(field.encode_name)
            if not isinstance(prop, Schema):
                continue
            for node in _constrained_types(field.type):
                if isinstance(node, _SEQUENCE_TYPES):
                    # A list's own min/max length counts items (Litestar writes minItems/maxItems).
                    if isinstance(prop.items, Schema):
                        _item_constraints(prop.items, node.item_type)
                    continue
                for constraint, attribute in _MSGSPEC_TO_SCHEMA.items():
                    value = getattr(node, constraint, None)
                    if value is not None and getattr(prop, attribute, None) is None:
                        setattr(prop, attribute, value)
        return schema


_TEXT_RULES = {
    pattern: f"[{refused_characters(pattern)}]"
    for pattern in (TEXT_PATTERN, MULTILINE_TEXT_PATTERN, NAME_PATTERN)
}


def _rewrite_text_rules(node: Any) -> None:
    """Every ``pattern`` of ``core/text.py`` in the document as a ``not`` of its refused characters."""
    if isinstance(node, dict):
        pattern = node.get("pattern")
        if isinstance(pattern, str) and pattern in _TEXT_RULES:
            del node["pattern"]
            node["not"] = {"type": "string", "pattern": _TEXT_RULES[pattern]}
        for value in node.values():
            _rewrite_text_rules(value)
    elif isinstance(node, list):
        for value in node:
            _rewrite_text_rules(value)


def _problem_response(status: int, codes: Iterable[str]) -> dict[str, Any]:
    description = DESCRIPTIONS.get(status, "Error.")
    listed = list(dict.fromkeys(codes))
    if listed:
        description += " Codes: " + ", ".join(f"`{code}`" for code in listed) + "."
    return {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _ensure_problem(operation: dict[str, Any], status: int, codes: Iterable[str]) -> None:
    """``status`` is documented on ``operation`` as a problem listing (at least) ``codes``."""
    responses = operation.setdefault("responses", {})
    existing = responses.get(str(status))
    if existing is None:
        responses[str(status)] = _problem_response(status, codes)
        return
    missing = [code for code in codes if f"`{code}`" not in existing.get("description", "")]
    if not missing:
        return
    description: str = existing.get("description", "")
    listed = ", ".join(f"`{code}`" for code in missing)
    if " Codes: " in description:
        existing["description"] = description.rstrip(".") + ", " + listed + "."
    else:
        existing["description"] = description + " Codes: " + listed + "."


def _is_text(schema: dict[str, Any]) -> bool:
    """Whether a parameter schema takes a string: ``type: string`` (or a list holding it), or a
    ``oneOf``/``anyOf`` with a string arm (Litestar puts the constraints next to the ``oneOf``)."""
    kinds = schema.get("type")
    if kinds == "string" or (isinstance(kinds, list) and "string" in kinds):
        return True
    arms = schema.get("oneOf", []) + schema.get("anyOf", [])
    return any(isinstance(arm, dict) and arm.get("type") == "string" for arm in arms)


def _is_date(schema: dict[str, Any]) -> bool:
    """Whether a parameter schema takes a date (``format: date``, possibly as one arm of a union)."""
    arms = [schema, *schema.get("oneOf", []), *schema.get("anyOf", [])]
    return any(isinstance(arm, dict) and arm.get("format") == "date" for arm in arms)


def _fix_query_parameter(parameter: dict[str, Any], field: FieldDefinition | None) -> None:
    schema = parameter.get("schema", {})
    if _is_text(schema) and not {"pattern", "enum", "format", "const"} & set(schema):
        schema["pattern"] = TEXT_PATTERN  # what check_path_and_query enforces (rewritten to `not` below)
    kwarg = field.kwarg_definition if field is not None else None
    if isinstance(kwarg, ParameterKwarg):
        for constraint, keyword in _KWARG_TO_SCHEMA.items():
            value = getattr(kwarg, constraint, None)
            if value is not None and keyword not in schema:
                schema[keyword] = value


def _handler_fields(handler: Any) -> dict[str, FieldDefinition]:
    """The handler's parameters by the name a client uses (``QueryParameter(name=...)``)."""
    fields: dict[str, FieldDefinition] = {}
    for name, field in handler.parsed_fn_signature.parameters.items():
        kwarg = field.kwarg_definition
        fields[kwarg.name if isinstance(kwarg, ParameterKwarg) and kwarg.name else name] = field
    return fields


def _finalize_operation(operation: dict[str, Any], handler: Any) -> None:
    fields = _handler_fields(handler)
    parameters = operation.get("parameters", [])
    for parameter in parameters:
        if parameter["in"] == "header" and parameter["name"].lower() == IDEMPOTENCY_KEY_HEADER.lower():
            parameter["required"] = True
            parameter["schema"] = {"type": "string", "minLength": 1, "maxLength": 255}
        elif parameter["in"] == "query":
            _fix_query_parameter(parameter, fields.get(parameter["name"]))
    if any(p["in"] == "query" for p in parameters):
        _ensure_problem(operation, 422, ["validation_error"])
    if any(p["in"] == "query" and _is_date(p.get("schema", {})) for p in parameters):
        _ensure_problem(operation, 422, [DATE_OUT_OF_RANGE])
    if any(p["in"] == "path" for p in parameters):
        _ensure_problem(operation, 404, ["not_found"])
    data = fields.get("data")
    if "requestBody" in operation:
        if data is not None and data.has_default:
            operation["requestBody"]["required"] = False
        for status, codes in BODY_CODES.items():
            _ensure_problem(operation, status, codes)
        if data is not None and type_takes_dates(data.annotation):
            _ensure_problem(operation, 422, [DATE_OUT_OF_RANGE])
    alternatives: dict[str, Any] = handler.opt.get(ALTERNATIVE_MEDIA_TYPES, {})
    if alternatives:
        content = operation["responses"]["200"].setdefault("content", {})
        for media_type, schema in alternatives.items():
            content[media_type] = {"schema": schema}


def finalize_document(document: dict[str, Any], app: Litestar) -> dict[str, Any]:
    """A copy of Litestar's ``document`` with the corrections listed above."""
    document = copy.deepcopy(document)
    paths: dict[str, Any] = document.get("paths", {})
    for route in app.routes:
        item = paths.get(route.path_format or "/")
        if item is None:
            continue
        for handler in getattr(route, "route_handlers", []):
            for method in getattr(handler, "http_methods", ()):
                operation = item.get(method.lower())
                if operation is not None:
                    _finalize_operation(operation, handler)
    _rewrite_text_rules(document)
    return document


class _Finalized:
    """Render the finalized document (computed once per app and document)."""

    _cache: tuple[int, dict[str, Any]] | None = None

    def finalized(self, request: Request[Any, Any, Any], document: dict[str, Any]) -> dict[str, Any]:
        if self._cache is None or self._cache[0] != id(document):
            self._cache = (id(document), finalize_document(document, request.app))
        return self._cache[1]


class DocumentJsonPlugin(_Finalized, JsonRenderPlugin):
    """``/schema/openapi.json``: the finalized document."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, self.finalized(request, openapi_schema))


class DocumentSwaggerPlugin(_Finalized, SwaggerRenderPlugin):
    """``/schema/swagger``: Swagger UI on the finalized document."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, self.finalized(request, openapi_schema))


__all__ = [
    "ALTERNATIVE_MEDIA_TYPES",
    "BEARER_SCHEME",
    "NO_TOKEN_NEEDED",
    "PROBLEM_MEDIA_TYPE",
    "TOKEN_OPTIONAL",
    "DocumentJsonPlugin",
    "DocumentSwaggerPlugin",
    "Problem",
    "ProblemFieldError",
    "StrictStructSchemaPlugin",
    "export_media_types",
    "finalize_document",
    "problem",
    "problems",
]
