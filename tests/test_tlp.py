"""threadline.tlp: the one reading of TLP 2.0 words and the one order of its levels, which every reader and writer
of a marking uses (the store, ingest, attribution, exports, the site, the web app, the CLI options)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadline import tlp
from threadline.errors import InputError
from threadline.tlp import CLEAR, LEVELS, RED, Level

levels = st.sampled_from(LEVELS)
# Words as they come: the levels in any case, with a TLP: prefix and white space, the aliases, and anything else.
spellings = st.builds(lambda word, upper, prefix, pad: f"{pad}{prefix}{word.upper() if upper else word}{pad}",
                      st.sampled_from([*LEVELS, *tlp.ALIASES]), st.booleans(),
                      st.sampled_from(["", "tlp:", "TLP:", "TLP: "]), st.sampled_from(["", " ", "\t"]))
words = st.one_of(spellings, st.text(max_size=20), st.none(), st.integers(), st.booleans())


def test_the_order_of_tlp_2_0() -> None:
    assert LEVELS == ("clear", "green", "amber", "amber+strict", "red")
    assert [tlp.rank(level) for level in LEVELS] == [0, 1, 2, 3, 4]
    assert (LEVELS[0], LEVELS[-1]) == (CLEAR, RED)


@pytest.mark.parametrize(("word", "level"), [
    ("clear", "clear"), ("CLEAR", "clear"), ("TLP:CLEAR", "clear"), (" tlp:Clear ", "clear"), ("TLP: AMBER", "amber"),
    ("white", "clear"), ("TLP:WHITE", "clear"),                       # TLP 1.0's name of clear
    ("amber+strict", "amber+strict"), ("TLP:AMBER+STRICT", "amber+strict"), ("amber-strict", "amber+strict"),
    ("green", "green"), ("Red", "red"),
])
def test_a_word_names_a_level(word: str, level: Level) -> None:
    assert tlp.recognise(word) == level
    assert tlp.normalise(word) == level
    assert tlp.parse_option(word) == level


@pytest.mark.parametrize("word", ["purple", "amber strict", "tlp", "TLP:", "ambers", "r ed", "tlp:tlp:red", " "])
def test_a_word_that_names_no_level(word: str) -> None:
    assert tlp.recognise(word) is None
    assert tlp.normalise(word) == RED               # a marking nobody can read is never leaked
    with pytest.raises(InputError, match="unknown TLP level") as raised:
        tlp.parse_option(word, where="--clearance")
    assert raised.value.where == "--clearance"


def test_an_absent_marking() -> None:
    # on a document or an analysis: the default marking of a report; asked for: the option's default
    assert tlp.normalise(None) == tlp.normalise("") == CLEAR
    assert tlp.parse_option(None) == tlp.parse_option("") == CLEAR
    # a value that is no word at all is no level
    assert tlp.normalise(3) == tlp.normalise(["red"]) == tlp.normalise(False) == RED
    # a reader's check: a row without a marking is never shown short of red
    assert not tlp.may_read("amber+strict", None) and not tlp.may_read("amber+strict", "")
    assert tlp.may_read(RED, None)


def test_strictest_of_several_markings() -> None:
    assert tlp.strictest() == CLEAR
    assert tlp.strictest(None, "green") == "green"
    assert tlp.strictest("TLP:AMBER", "green", None) == "amber"
    assert tlp.strictest("purple", "clear") == RED


def test_clearance() -> None:
    assert tlp.readable(CLEAR) == ("clear",)
    assert tlp.readable("green") == ("clear", "green")
    assert tlp.readable("amber+strict") == ("clear", "green", "amber", "amber+strict")
    assert tlp.readable(RED) == LEVELS
    assert tlp.may_read("green", "TLP:GREEN") and not tlp.may_read("green", "amber")
    assert not tlp.may_read("amber+strict", "purple") and tlp.may_read(RED, "purple")
    assert tlp.label("amber+strict") == "TLP:AMBER+STRICT"


@given(words)
def test_normalise_is_idempotent_and_always_a_level(word: object) -> None:
    level = tlp.normalise(word)
    assert tlp.is_level(level)
    assert tlp.normalise(level) == level
    assert tlp.recognise(level) == level


@given(spellings)
def test_spelling_does_not_matter(word: str) -> None:
    level = tlp.recognise(word)
    assert level is not None
    assert tlp.parse_option(word) == tlp.normalise(word) == level
    assert tlp.recognise(word.swapcase()) == level


@given(levels, levels)
def test_stricter_is_commutative_and_the_rank_maximum(a: Level, b: Level) -> None:
    assert tlp.stricter(a, b) == tlp.stricter(b, a)
    assert tlp.rank(tlp.stricter(a, b)) == max(tlp.rank(a), tlp.rank(b))
    assert tlp.strictest(a, b) == tlp.stricter(a, b)


@given(levels)
def test_stricter_is_idempotent_and_clear_and_red_are_its_bounds(a: Level) -> None:
    assert tlp.stricter(a, a) == a
    assert tlp.stricter(a, CLEAR) == a
    assert tlp.stricter(a, RED) == RED


@given(levels, levels, levels)
def test_stricter_is_associative(a: Level, b: Level, c: Level) -> None:
    assert tlp.stricter(tlp.stricter(a, b), c) == tlp.stricter(a, tlp.stricter(b, c))


@given(levels, levels)
def test_the_order_is_total_and_may_read_follows_it(a: Level, b: Level) -> None:
    # exactly one of a < b, a == b, b < a; and a reader cleared for a reads b exactly when b is not stricter
    assert [tlp.rank(a) < tlp.rank(b), a == b, tlp.rank(b) < tlp.rank(a)].count(True) == 1
    assert (tlp.rank(a) <= tlp.rank(b)) or (tlp.rank(b) <= tlp.rank(a))
    assert tlp.may_read(a, b) == (tlp.stricter(a, b) == a)
    assert tlp.may_read(a, b) == (b in tlp.readable(a))
    assert tlp.may_read(a, a)


@given(levels, levels, levels)
def test_clearance_is_transitive(a: Level, b: Level, c: Level) -> None:
    if tlp.may_read(a, b) and tlp.may_read(b, c):
        assert tlp.may_read(a, c)
