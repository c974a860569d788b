"""Request ids made here (none acceptable was sent): new_id's layout, made more cheaply."""

from __future__ import annotations

import time

import pytest

from coopmarket.core import ids
from coopmarket.ops.context import begin_request, current_request_id, new_request_id

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _ms(request_id: str) -> int:
    """The milliseconds written in an id's first ten characters."""
    value = 0
    for character in request_id[:10]:
        value = value * 32 + ALPHABET.index(character)
    return value


def test_a_request_id_is_26_crockford_characters_led_by_the_wall_clock() -> None:
    before = time.time_ns() // 1_000_000
    made = [new_request_id() for _ in range(2000)]
    after = time.time_ns() // 1_000_000
    assert all(len(i) == 26 and set(i) <= set(ALPHABET) for i in made)
    assert len(set(made)) == len(made)
    assert all(before <= _ms(i) <= after for i in made)


def _value(characters: str) -> int:
    value = 0
    for character in characters:
        value = value * 32 + ALPHABET.index(character)
    return value


def test_a_request_id_has_new_ids_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    # The encoding of a row id (core.ids.encode): ten characters of milliseconds, then sixteen of
    # 80 random bits. (Not compared with ids.new_id() itself: that one is monotonic within the
    # process, so after a test that moved the clock forward it keeps the later millisecond.)
    monkeypatch.setattr(time, "time_ns", lambda: 1_796_322_695_123_456_789)
    made = new_request_id()
    assert _ms(made) == 1_796_322_695_123
    assert made == ids.encode(1_796_322_695_123, _value(made[10:]))
    assert _value(made[10:]) < 2**80


def test_begin_request_keeps_a_plain_incoming_id_and_makes_one_otherwise() -> None:
    assert begin_request("lb-7f3a9c21e4") == "lb-7f3a9c21e4" == current_request_id()
    made = begin_request("bad id\r\nX-Evil: 1")
    assert len(made) == 26 and set(made) <= set(ALPHABET) and current_request_id() == made
    assert len(begin_request(None)) == 26
