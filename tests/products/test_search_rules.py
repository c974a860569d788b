"""The pure rules of the search index: which grams a text holds and which a query needs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from coopmarket.products import search

TEXT = st.text(alphabet=st.sampled_from("红富士苹果梨小米椒AaBbZz 1%_\\（）é"), max_size=30)


def test_grams_are_every_one_and_two_character_substring_latin_folded() -> None:
    assert search.text_grams("红富士Ab") == {"红", "富", "士", "a", "b", "红富", "富士", "士a", "ab"}
    assert search.text_grams("") == set()


def test_a_query_of_one_or_two_characters_is_its_own_gram() -> None:
    assert search.query_grams("梨") == ["梨"]
    assert search.query_grams("富士") == ["富士"]
    assert search.query_grams("FU") == ["fu"]


def test_a_longer_query_needs_each_of_its_bigrams_once() -> None:
    assert search.query_grams("红富士") == ["富士", "红富"]
    assert search.query_grams("哈哈哈哈") == ["哈哈"]


def test_only_latin_capitals_are_folded() -> None:
    assert search.fold("ÉCLAIR Ab") == "Éclair ab"


def test_like_wildcards_are_escaped() -> None:
    assert search.escape_like("100%_\\") == "100\\%\\_\\\\"


def test_shapes() -> None:
    assert [search.shape(q) for q in ("梨", "富士", "红富士")] == [search.EXACT, search.EXACT, search.CHECKED]


@given(TEXT, st.data())
def test_every_substring_of_a_text_finds_it(text: str, data: st.DataObject) -> None:
    # Given any non-empty substring of a text
    if not text:
        return
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    # Then the index holds every gram the query asks for (no false negatives)
    assert set(search.query_grams(text[start:end])) <= search.text_grams(text)


@given(TEXT, st.text(alphabet=st.sampled_from("红富士苹果梨AaBb"), min_size=1, max_size=2))
def test_a_short_query_is_answered_by_the_index_alone(text: str, q: str) -> None:
    # One or two characters: holding the gram is exactly containing the query (no false positives)
    assert (search.query_grams(q)[0] in search.text_grams(text)) == (search.fold(q) in search.fold(text))
