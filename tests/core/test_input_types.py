"""Every input a route declares uses the shared, checked types (the rules of docs/PLAN.md).

The request class and guards of ``core/inputs.py`` protect every route; what a field may hold is
said by its type. These tests walk every route's body and query parameters, so a new Struct that
takes a bare ``str`` or an unbounded ``int`` fails here, not in production.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from litestar.enums import ParamType
from litestar.params import ParameterKwarg

from coopmarket.app import create_app
from coopmarket.core.text import MULTILINE_TEXT_PATTERN, NAME_PATTERN, TEXT_PATTERN
from coopmarket.settings import Settings

SHARED_PATTERNS = {TEXT_PATTERN, MULTILINE_TEXT_PATTERN, NAME_PATTERN}
# A field's own pattern is accepted when it admits only these characters (digits, letters, ...).
_OWN_PATTERN_IS_NARROW = re.compile(r"^\^[\[\]0-9A-Za-z\-{},()?!\\n$|]*$")


def _handlers() -> Iterator[Any]:
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:", run_background_jobs=False))
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if "OPTIONS" not in handler.http_methods:
                yield handler


def _leaves(node: Any, where: str) -> Iterator[tuple[str, Any]]:
    """Every scalar type node under ``node`` (through Structs, lists, unions, metadata)."""
    if isinstance(node, msgspec.inspect.StructType):
        for field in node.fields:
            yield from _leaves(field.type, f"{node.cls.__name__}.{field.name}")
    elif isinstance(node, msgspec.inspect.UnionType):
        for arm in node.types:
            yield from _leaves(arm, where)
    elif isinstance(node, msgspec.inspect.Metadata):
        yield from _leaves(node.type, where)
    elif isinstance(node, msgspec.inspect.ListType | msgspec.inspect.VarTupleType | msgspec.inspect.SetType):
        yield from _leaves(node.item_type, f"{where}[]")
    else:
        yield where, node


def _structs(node: Any) -> Iterator[msgspec.inspect.StructType]:
    if isinstance(node, msgspec.inspect.StructType):
        yield node
        for field in node.fields:
            yield from _structs(field.type)
    elif isinstance(node, msgspec.inspect.UnionType):
        for arm in node.types:
            yield from _structs(arm)
    elif isinstance(node, msgspec.inspect.Metadata):
        yield from _structs(node.type)
    elif isinstance(node, msgspec.inspect.ListType):
        yield from _structs(node.item_type)


def _bodies() -> list[tuple[str, Any]]:
    bodies = []
    for handler in _handlers():
        data = handler.parsed_fn_signature.parameters.get("data")
        if data is not None and data.annotation is not Any:
            bodies.append((handler.handler_name, msgspec.inspect.type_info(data.annotation)))
    return bodies


BODIES = _bodies()


def test_there_are_bodies_to_check() -> None:
    assert len(BODIES) > 20


@pytest.mark.parametrize(("handler", "body"), BODIES, ids=[name for name, _ in BODIES])
def test_every_body_string_uses_a_shared_text_type(handler: str, body: Any) -> None:
    bare = [
        where
        for where, leaf in _leaves(body, handler)
        if isinstance(leaf, msgspec.inspect.StrType)
        and leaf.pattern not in SHARED_PATTERNS
        and not (leaf.pattern and _OWN_PATTERN_IS_NARROW.match(leaf.pattern))
    ]
    assert bare == [], "declare these with core.text's Text, MultilineText or Name (docs/PLAN.md)"


@pytest.mark.parametrize(("handler", "body"), BODIES, ids=[name for name, _ in BODIES])
def test_every_body_string_and_list_is_bounded(handler: str, body: Any) -> None:
    unbounded = [
        where
        for where, leaf in _leaves(body, handler)
        if isinstance(leaf, msgspec.inspect.StrType)
        and leaf.max_length is None
        and leaf.pattern in SHARED_PATTERNS
    ]
    assert unbounded == [], "give these a max_length"


@pytest.mark.parametrize(("handler", "body"), BODIES, ids=[name for name, _ in BODIES])
def test_every_body_integer_has_bounds(handler: str, body: Any) -> None:
    unbounded = [
        where
        for where, leaf in _leaves(body, handler)
        if isinstance(leaf, msgspec.inspect.IntType)
        and ((leaf.le is None and leaf.lt is None) or (leaf.ge is None and leaf.gt is None))
    ]
    assert unbounded == [], "give these ge/le bounds that fit their column"


@pytest.mark.parametrize(("handler", "body"), BODIES, ids=[name for name, _ in BODIES])
def test_every_body_struct_refuses_unknown_fields(handler: str, body: Any) -> None:
    lax = [struct.cls.__name__ for struct in _structs(body) if not struct.forbid_unknown_fields]
    assert lax == [], "declare these with forbid_unknown_fields=True"


def test_every_integer_query_parameter_has_bounds() -> None:
    unbounded = []
    for handler in _handlers():
        for name, parameter in handler.parsed_fn_signature.parameters.items():
            kwarg = parameter.kwarg_definition
            if not (isinstance(kwarg, ParameterKwarg) and kwarg.param_type is ParamType.QUERY):
                continue
            if parameter.annotation is int or int in getattr(parameter.annotation, "__args__", ()):
                if kwarg.ge is None or kwarg.le is None:
                    unbounded.append(f"{handler.handler_name}.{name}")
    assert unbounded == []
