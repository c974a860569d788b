"""The string types every input field is declared with, and the rules behind them.

Every ``str`` a client sends (body fields, query values, path ids) is, in this order:

1. decoded strictly (UTF-8 only; see ``core/inputs.py``) and refused if it holds U+0000;
2. normalised to NFC, so that one text has one spelling in the database (search, uniqueness);
3. checked against its declared type, whose pattern is in the OpenAPI document too:

   - ``Text``: one line; no control character at all (C0, DEL, C1, and the line and paragraph
     separators U+2028/U+2029).
   - ``MultilineText``: like ``Text``, but tab, line feed and carriage return are allowed
     (descriptions, notes, reasons: where a newline means something).
   - ``Name``: like ``Text``, and no invisible or direction-changing character either: the
     format characters (bidi overrides and isolates, zero-width spaces and joiners, the soft
     hyphen, the BOM, ...) and the blank fillers (U+115F, U+1160, U+3164, U+FFA0), which let
     one name pass for another (names are shown to other people).

Fields narrow them with their own lengths: ``Annotated[Name, Meta(min_length=1, max_length=64)]``.
A field with its own stricter ``pattern`` (a phone number, a region code) keeps it instead.

The patterns are written as one negative look-ahead (``^(?![\\s\\S]*[...])``) rather than
``^[^...]*$``: Python's ``$`` also matches before a final newline, JSON Schema's does not, and the
server (msgspec uses Python's ``re``) must agree exactly with the document (schemathesis checks).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from msgspec import Meta

# Control characters: C0, DEL and C1, as a regex class body.
_CONTROLS = r"\x00-\x1f\x7f-\x9f"
_CONTROLS_BUT_TAB_AND_NEWLINES = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_SEPARATORS = r"\u2028\u2029"
# Invisible or direction-changing characters of the Basic Multilingual Plane: every character of
# Unicode's Cf (format) category there (tests/core/test_text.py checks it against unicodedata),
# the combining grapheme joiner, the Hangul fillers and the Mongolian vowel separator.
_INVISIBLE = (
    r"\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160\u17b4\u17b5"
    r"\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb"
)

TEXT_PATTERN = rf"^(?![\s\S]*[{_CONTROLS}{_SEPARATORS}])"
MULTILINE_TEXT_PATTERN = rf"^(?![\s\S]*[{_CONTROLS_BUT_TAB_AND_NEWLINES}{_SEPARATORS}])"
NAME_PATTERN = rf"^(?![\s\S]*[{_CONTROLS}{_SEPARATORS}{_INVISIBLE}])"

Text = Annotated[str, Meta(pattern=TEXT_PATTERN, description="One line of text: no control characters.")]
MultilineText = Annotated[
    str,
    Meta(
        pattern=MULTILINE_TEXT_PATTERN,
        description="Text; line breaks and tabs allowed, no other control characters.",
    ),
]
Name = Annotated[
    str,
    Meta(
        pattern=NAME_PATTERN,
        description="A name shown to others: one line, no control, invisible or bidi characters.",
    ),
]

# The rule for query values and path ids (one line of text), checked before routing reaches a handler.
_TEXT_RE = re.compile(TEXT_PATTERN)
_MULTILINE_TEXT_RE = re.compile(MULTILINE_TEXT_PATTERN)
_NAME_RE = re.compile(NAME_PATTERN)


def refused_characters(pattern: str) -> str:
    """The class body of characters one of the patterns above refuses (for the OpenAPI document)."""
    return pattern.removeprefix(r"^(?![\s\S]*[").removesuffix("])")


def is_single_line_text(value: str) -> bool:
    """``value`` has no control character (the ``Text`` rule)."""
    return _TEXT_RE.search(value) is not None


def is_multiline_text(value: str) -> bool:
    """``value`` keeps the ``MultilineText`` rule (line breaks and tabs, no other control character)."""
    return _MULTILINE_TEXT_RE.search(value) is not None


def is_name(value: str) -> bool:
    """``value`` keeps the ``Name`` rule (one line, no control, invisible or bidi character)."""
    return _NAME_RE.search(value) is not None


def normalise(value: str) -> str:
    """``value`` in Unicode NFC (a no-op, and cheap, for text that already is)."""
    if value.isascii() or unicodedata.is_normalized("NFC", value):
        return value
    return unicodedata.normalize("NFC", value)


__all__ = [
    "MULTILINE_TEXT_PATTERN",
    "NAME_PATTERN",
    "TEXT_PATTERN",
    "MultilineText",
    "Name",
    "Text",
    "is_multiline_text",
    "is_name",
    "is_single_line_text",
    "normalise",
    "refused_characters",
]
