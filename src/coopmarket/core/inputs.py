"""The one place where client input is checked before any handler sees it.

``create_app`` wires both pieces into every route; routes and schemas only declare types. They
run after ``core.deps.authenticate_first`` (both in the app's ``before_request`` hook), so a caller
who must sign in hears 401 before anything about the rest of the request.

- ``StrictRequest`` (the app's request class) decodes JSON bodies: the declared charset must be
  UTF-8 (415 otherwise) and the media type JSON; the bytes must be UTF-8 (400
  ``invalid_encoding``), nested at most ``MAX_JSON_DEPTH`` deep (400 ``json_too_deep``), with no
  U+0000 in any string or key and integers within 64 bits (422); every string is normalised to
  NFC; then the value is converted to the handler's ``data`` type with msgspec in strict mode, so
  ``"1"`` and ``2.5`` are not integers and ``true`` is not ``1`` (422 ``validation_error`` naming
  the field). A JSON number with an integral value (``2.0``, ``2e0``) is the integer 2: JSON has
  one number type and the document's JSON Schema (OpenAPI 3.1) says so. Litestar's own
  conversion afterwards is lax, but it only sees the already-typed value.
- ``check_path_and_query`` (after routing and before the handler reads anything): a path parameter with
  a control character is 404 (no such thing exists); a query value that is not UTF-8 or holds a
  control character is 422 naming it; query values are normalised to NFC; a declared integer
  query parameter must be written as one (``-?[0-9]+``, so not ``1e2``, ``1.0`` or `` 5``), a
  boolean as ``true`` or ``false``.
- Dates (query values and body fields alike) must fall in the years ``EARLIEST_DATE`` to
  ``LATEST_DATE`` (422 ``date_out_of_range`` naming the field): a valid ISO date such as
  ``0001-01-01`` or ``9999-12-31`` would otherwise overflow the first day arithmetic or time-zone
  conversion made with it (a 500). The document cannot say this in JSON Schema (``format: date``
  has no minimum), so it is a rule with its own code, listed under 422 where dates are taken.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from datetime import date
from functools import lru_cache
from typing import Any, Literal, Union, get_args, get_origin
from urllib.parse import unquote_to_bytes

import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.enums import ParamType
from litestar.params import ParameterKwarg
from litestar.types.empty import Empty
from litestar.utils.scope.state import ScopeState

from coopmarket.core.errors import (
    BadRequest,
    FieldError,
    NotFound,
    UnsupportedMediaType,
    ValidationFailed,
)
from coopmarket.core.text import (
    MULTILINE_TEXT_PATTERN,
    NAME_PATTERN,
    TEXT_PATTERN,
    is_single_line_text,
    normalise,
)

MAX_JSON_DEPTH = 32
# Dates a client may send: far wider than any real use (founding dates, terms of decades), far
# enough inside Python's 1..9999 for every day, month and year arithmetic and time-zone shift.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2999, 12, 31)
DATE_OUT_OF_RANGE = "date_out_of_range"
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

_PATTERN_MESSAGES = {
    TEXT_PATTERN: "must be one line of text without control characters",
    MULTILINE_TEXT_PATTERN: "must be text without control characters other than line breaks and tabs",
    NAME_PATTERN: "must be one line without control, invisible or bidi-override characters",
}
_AT = re.compile(r"^(?P<message>.*?) - at `\$(?P<path>[^`]*)`$", re.DOTALL)
_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `(?P<name>[^`]*)`$")
_MISSING_FIELD = re.compile(r"^Object missing required field `(?P<name>[^`]*)`$")
# Tokens that matter for nesting: whole strings (skipped) and brackets.
_JSON_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_INTEGER = re.compile(r"-?[0-9]+")
_DATE_YEAR = re.compile(r"([0-9]{4})-")


def _date_out_of_range(field: str) -> ValidationFailed:
    return ValidationFailed(
        f"Dates must fall between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}.",
        code=DATE_OUT_OF_RANGE,
        errors=[FieldError(field, f"must be from {EARLIEST_DATE.isoformat()} to {LATEST_DATE.isoformat()}")],
    )


def _date_in_range(day: date) -> bool:
    return EARLIEST_DATE.year <= day.year <= LATEST_DATE.year


@lru_cache(maxsize=1024)
def type_takes_dates(data_type: Any) -> bool:
    """Whether a value of ``data_type`` can hold a date or a datetime anywhere inside it."""
    try:
        info = msgspec.inspect.type_info(data_type)
    except (TypeError, ValueError):
        return False
    seen: set[int] = set()

    def walk(node: Any) -> bool:
        if isinstance(node, msgspec.inspect.DateType | msgspec.inspect.DateTimeType):
            return True
        if id(node) in seen:
            return False
        seen.add(id(node))
        if isinstance(node, msgspec.inspect.Metadata):
            return walk(node.type)
        if isinstance(node, msgspec.inspect.UnionType):
            return any(walk(arm) for arm in node.types)
        if isinstance(node, msgspec.inspect.StructType | msgspec.inspect.DataclassType):
            return any(walk(field.type) for field in node.fields)
        if isinstance(node, msgspec.inspect.TupleType):
            return any(walk(item) for item in node.item_types)
        if isinstance(node, msgspec.inspect.DictType):
            return walk(node.value_type)
        item_type = getattr(node, "item_type", None)
        return item_type is not None and walk(item_type)

    return walk(info)


def check_dates(value: Any, path: str = "") -> None:
    """422 ``date_out_of_range`` for any date or datetime inside a converted body outside the range."""
    if isinstance(value, date):  # datetime too
        if not _date_in_range(value):
            raise _date_out_of_range(path or "body")
    elif isinstance(value, msgspec.Struct):
        encoded = getattr(value, "__struct_encode_fields__", value.__struct_fields__)
        for name, wire_name in zip(value.__struct_fields__, encoded, strict=True):
            check_dates(getattr(value, name), _join(path, wire_name))
    elif isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            check_dates(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_dates(item, _join(path, str(key)))


# --- JSON bodies ----------------------------------------------------------------------------


def json_nesting_exceeds(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``body`` nests arrays and objects deeper than ``limit`` (strings are skipped)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for match in _JSON_TOKENS.finditer(body):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


def _field_path(path: str) -> str:
    """msgspec's ``$.lines[0].sku_id`` as the API names fields: ``lines[0].sku_id``."""
    return path.removeprefix(".") or "body"


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _validation_failed(exc: msgspec.ValidationError) -> ValidationFailed:
    """A 422 naming the field msgspec refused, in the API's words."""
    message, where = str(exc), ""
    if match := _AT.match(message):
        message, where = match["message"], match["path"]
    field = _field_path(where)
    if unknown := _UNKNOWN_FIELD.match(message):
        field = _join(_field_path(where) if where else "", unknown["name"])
        message = "unknown field"
    elif missing := _MISSING_FIELD.match(message):
        field = _join(_field_path(where) if where else "", missing["name"])
        message = f"Object missing required field `{missing['name']}`"
    else:
        for pattern, friendly in _PATTERN_MESSAGES.items():
            if repr(pattern) in message:  # msgspec quotes the pattern with repr()
                message = friendly
                break
    return ValidationFailed("The request is not valid.", errors=[FieldError(field, message)])


def _clean(value: Any, path: str) -> Any:
    """``value`` with every string in NFC; U+0000 in a string or key, or an integer beyond 64 bits, is 422."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValidationFailed(
                "The request is not valid.", errors=[FieldError(path or "body", "must not contain U+0000")]
            )
        return normalise(value)
    if isinstance(value, dict):
        cleaned: dict[str, Any] = {}
        for key, item in value.items():
            if "\x00" in key:
                raise ValidationFailed(
                    "The request is not valid.", errors=[FieldError(path or "body", "a key contains U+0000")]
                )
            key = normalise(key)
            cleaned[key] = _clean(item, _join(path, key))
        return cleaned
    if isinstance(value, list):
        return [_clean(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, float) and value.is_integer():
        # JSON has one number type, and JSON Schema 2020-12 (OpenAPI 3.1) calls 2.0 an integer;
        # "2" (a string), true and 2.5 stay what they are and are refused where an integer belongs.
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and not _INT64_MIN <= value <= _INT64_MAX:
        raise ValidationFailed(
            "The request is not valid.", errors=[FieldError(path or "body", "integer out of range")]
        )
    return value


def _check_media_type(content_type: str) -> None:
    """JSON, in UTF-8: ``application/json`` or ``*/*+json``, charset absent or utf-8; 415 otherwise."""
    media_type, _, params = content_type.partition(";")
    media_type = media_type.strip().lower()
    if not (media_type == "application/json" or media_type.endswith("+json")):
        raise UnsupportedMediaType(
            "Send the body as JSON (Content-Type: application/json).", code="unsupported_media_type"
        )
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise UnsupportedMediaType(
                "The body must be UTF-8 (charset=utf-8 or no charset).", code="unsupported_media_type"
            )


@lru_cache(maxsize=1024)
def _body_type(route_handler: Any) -> Any:
    """The handler's declared ``data`` type, or ``Empty`` when it takes no typed body."""
    parameter = route_handler.parsed_fn_signature.parameters.get("data")
    return Empty if parameter is None else parameter.annotation


def decode_json_body(body: bytes, content_type: str, data_type: Any) -> Any:
    """The checks and the strict conversion described in the module docstring."""
    _check_media_type(content_type)
    if json_nesting_exceeds(body):
        raise BadRequest(
            f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.", code="json_too_deep"
        )
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("The body is not valid UTF-8.", code="invalid_encoding") from exc
    try:
        raw = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise BadRequest("The body is not valid JSON.", code="bad_request") from exc
    value = _clean(raw, "")
    if data_type is Empty:
        return value
    try:
        converted = msgspec.convert(value, data_type, strict=True)
    except msgspec.ValidationError as exc:
        raise _validation_failed(exc) from exc
    if type_takes_dates(data_type):
        check_dates(converted)
    return converted


class StrictRequest(Request[Any, Any, Any]):
    """The app's request class: JSON bodies go through ``decode_json_body``."""

    async def json(self) -> Any:
        if self._json is Empty:
            if (cached := self._connection_state.json) is not Empty:
                self._json = cached
            else:
                body = await self.body()
                value = decode_json_body(
                    body or b"null", self.headers.get("content-type", ""), _body_type(self.route_handler)
                )
                self._json = self._connection_state.json = value
        return self._json


# --- query values and path parameters -------------------------------------------------------

QueryKind = Literal["int", "bool", "date", "other"]


def _scalar_kind(annotation: Any) -> QueryKind:
    """``int`` or ``bool`` for ``int``, ``int | None``, ``Annotated[int, ...]`` (and bool likewise)."""
    while get_origin(annotation) is typing.Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        arms = [arm for arm in get_args(annotation) if arm is not type(None)]
        if len(arms) == 1:
            return _scalar_kind(arms[0])
        return "other"
    if annotation is bool:
        return "bool"
    if annotation is int:
        return "int"
    if annotation is date:
        return "date"
    return "other"


@lru_cache(maxsize=1024)
def _query_kinds(route_handler: Any) -> dict[str, QueryKind]:
    """The handler's declared query parameters (by their name in the URL) and their kind."""
    kinds: dict[str, QueryKind] = {}
    for name, parameter in route_handler.parsed_fn_signature.parameters.items():
        kwarg = parameter.kwarg_definition
        if isinstance(kwarg, ParameterKwarg) and kwarg.param_type is ParamType.QUERY:
            kinds[kwarg.name or name] = _scalar_kind(parameter.annotation)
    return kinds


def _query_pairs(query_string: bytes) -> Iterator[tuple[str, str]]:
    """``name=value`` pairs decoded strictly (``+`` is a space, percent-escapes must be UTF-8)."""
    for part in query_string.split(b"&"):
        if not part:
            continue
        raw_name, _, raw_value = part.partition(b"=")
        name = unquote_to_bytes(raw_name.replace(b"+", b" ")).decode("utf-8", "replace")
        try:
            value = unquote_to_bytes(raw_value.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            raise _bad_query(name, "not valid UTF-8") from None
        yield name, value


def _bad_query(name: str, message: str) -> ValidationFailed:
    return ValidationFailed("The request is not valid.", errors=[FieldError(name, message)])


def check_query(query_string: bytes, kinds: dict[str, QueryKind]) -> tuple[tuple[str, str], ...]:
    """The query's ``(name, value)`` pairs, decoded strictly and in NFC; bad values are refused
    (see the module docstring). Empty values are kept: ``?q=`` is an empty ``q``, not no ``q``."""
    pairs: list[tuple[str, str]] = []
    for name, value in _query_pairs(query_string):
        if not is_single_line_text(value):
            raise _bad_query(name, "must be one line of text without control characters")
        kind = kinds.get(name)
        if kind == "int" and not _INTEGER.fullmatch(value):
            raise _bad_query(name, "must be an integer written in digits")
        if kind == "bool" and value not in ("true", "false"):
            raise _bad_query(name, "must be `true` or `false`")
        if kind == "date" and (year := _DATE_YEAR.match(value)) is not None:
            if not EARLIEST_DATE.year <= int(year.group(1)) <= LATEST_DATE.year:
                raise _date_out_of_range(name)
        pairs.append((name, normalise(value)))
    return tuple(pairs)


async def check_path_and_query(connection: ASGIConnection[Any, Any, Any, Any], handler: Any) -> None:
    """Before every handler: path parameters and query values, as the module docstring says."""
    scope = connection.scope
    if scope.get("path_params"):
        for value in scope["path_params"].values():
            if isinstance(value, str) and not is_single_line_text(value):
                raise NotFound("No such resource.", code="not_found")
    query_string = scope.get("query_string", b"")
    if query_string:
        # What Litestar reads the query parameters from (instead of its lenient parse_qsl).
        ScopeState.from_scope(scope).parsed_query = check_query(query_string, _query_kinds(handler))


__all__ = [
    "DATE_OUT_OF_RANGE",
    "EARLIEST_DATE",
    "LATEST_DATE",
    "MAX_JSON_DEPTH",
    "StrictRequest",
    "check_dates",
    "check_path_and_query",
    "check_query",
    "decode_json_body",
    "json_nesting_exceeds",
    "type_takes_dates",
]
