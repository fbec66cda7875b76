"""Long runs inside sentences: five patterns that started a match at every position of a run of whitespace, and
one at every position of a long token, quadratic in the run, now start only where a run (a token) starts.
bench/regex_worst.py found them: a 40 KB report of "The intrusion <1,900 spaces> has been attributed to APT28."
took 11 s, so 1 MB took minutes, and 1 MB of 4,000-character tokens more than 10 s in the techniques stage.

The new patterns must find exactly what the old ones found (checked against the old pattern text on generated
sentences) and a 1 MB hostile document must pass every stage well inside the limits."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadline.analysis import analyze_document
from threadline.extract import dates
from threadline.extract.entities import claims, text
from threadline.extract.techniques import signals
from threadline.model import Document

# The patterns as they were before issue 18: the reference for what the new ones must find.
OLD = {
    "dates._RELATIVE_END": (dates._RELATIVE_END, re.compile(
        r"\s+(?:followed|came\s+(?:next|later)|(?:was|were)\s+next)\s*[.!]?$", re.IGNORECASE)),
    "dates._CLAUSE_SPLIT": (dates._CLAUSE_SPLIT, re.compile(
        r"\s*[;:—]\s*|,\s+|\s+(?:and|but|while|whereas)\s+")),
    "claims._CLAUSE_EDGE": (claims._CLAUSE_EDGE, re.compile(
        r"[,;:—]\s*|\s+(?:but|however|although|though|while|whereas)\s+", re.IGNORECASE)),
    "claims._AUX_TAIL": (claims._AUX_TAIL, re.compile(
        r"(?:\s+(?:has|have|had|been|was|were|is|are|be|being|also|since|then|now|later|initially|previously|"
        r"widely|publicly|recently|all|both|likely|probably|possibly|reportedly|firmly|tentatively))+\s*$",
        re.IGNORECASE)),
    "text._NEW_CLAUSE": (text._NEW_CLAUSE, re.compile(
        r",\s+(?=(?:we|they|it|which|this|these|he|she|our|their|the\s+\w+\s+(?:is|are|was|were|has|have))\b)|"
        r"\s+(?:but|however|whereas|while)\s+", re.IGNORECASE)),
    "signals._URL": (signals._URL, re.compile(r"\S*(?:https?|hxxps?)://\S+", re.IGNORECASE)),
}
_WORDS = ["http://", "hxxps://", "x.org/a", "followed", "came", "next", "later", "was", "were", "and", "but",
          "while", "however", "has", "been", "the", "group", "is", "we", "it", "APT28", ",", ";", ":", "—", ".", "!",
          "2020"]
sentences = st.lists(st.one_of(st.sampled_from(_WORDS), st.sampled_from([" ", "  ", "\t", "\n", " \u00a0 "]),
                               st.text(alphabet=" \tab,", max_size=4)), max_size=30).map("".join)


@pytest.mark.parametrize("name", sorted(OLD))
@given(sentence=sentences)
def test_the_new_pattern_finds_what_the_old_one_found(name: str, sentence: str) -> None:
    new, old = OLD[name]
    assert [m.span() for m in new.finditer(sentence)] == [m.span() for m in old.finditer(sentence)]
    assert new.sub("", sentence) == old.sub("", sentence)
    assert new.split(sentence) == old.split(sentence)


@given(sentence=sentences, at=st.integers(0, 40))
def test_the_clause_around_a_span_is_the_same(sentence: str, at: int) -> None:
    """_clause_around now searches to the right on a slice (a run may start at the span's end)."""
    old = OLD["claims._CLAUSE_EDGE"][1]
    start = min(at, len(sentence))
    end = min(start + 3, len(sentence))
    left = 0
    for m in old.finditer(sentence, 0, start):
        left = m.end()
    right_match = old.search(sentence, end)
    expected = sentence[left:right_match.start() if right_match else len(sentence)].strip(" .;,")
    assert claims._clause_around(sentence, start, end) == expected


HOSTILE = ["The intrusion{run}has been attributed to APT28. ", "Word{run}word. ",
           "In 2020{run}the loader ran,{run}and it{run}spread. Then{run}it{run}followed. ",
           "The goal was espionage{run}while{run}they{run}waited. ", "{blob} "]


@pytest.mark.parametrize("unit", HOSTILE)
def test_a_megabyte_of_sentences_with_long_runs_of_spaces_is_analysed_in_seconds(  # type: ignore[no-untyped-def]
        kb, unit: str, monkeypatch: pytest.MonkeyPatch) -> None:
    analyze_document(Document(text="APT28 used Mimikatz in 2020. It followed.", source="warm-up.txt"), kb)
    monkeypatch.setenv("THREADLINE_STAGE_TIMEOUT", "10")     # the target: no stage over 10 s on 1 MB
    one = unit.format(run=" " * 1900, blob="[." * 2000)    # one 4,000-character token
    started = time.monotonic()
    result = analyze_document(Document(text=one * (1_000_000 // len(one)), source="hostile.txt"), kb)
    assert time.monotonic() - started < 30
    assert result["document"]["source"] == "hostile.txt"
