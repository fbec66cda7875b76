"""Precise technique signals on sentences we wrote: explicit ids, negation/hypotheticals, software names."""

from __future__ import annotations

import pytest

from threadline.extract.sentences import split_sentences
from threadline.extract.techniques.signals import SoftwareMatcher, explicit_ids, is_negated, sentence_index
from threadline.knowledge.base import KnowledgeBase


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    from threadline.knowledge.index import load_kb

    return load_kb(progress=False)


def test_explicit_ids_are_normalised_and_located() -> None:
    text = "Initial access (T1566.001) was followed by T1059/003 and T1105; see also ST1234 and T1566.0011."
    found = [(m.attack_id, text[m.start:m.end]) for m in explicit_ids(text)]
    assert found == [("T1566.001", "T1566.001"), ("T1059.003", "T1059/003"), ("T1105", "T1105")]


@pytest.mark.parametrize("sentence", [
    "The operators did not use PowerShell at any point of the intrusion.",
    "We found no evidence of data exfiltration over the C2 channel.",
    "This access could be used to move laterally to the domain controller.",
    "The flaw can be abused by an unauthenticated attacker to run code.",
    "If an attacker obtained these credentials, the whole domain would fall.",
    "The implant doesn't establish persistence on its own.",
])
def test_negated_or_hypothetical(sentence: str) -> None:
    assert is_negated(sentence)


@pytest.mark.parametrize("sentence", [
    "The backdoor can take screenshots and log keystrokes.",
    "The actor used scheduled tasks to run the loader every hour.",
    "Stolen files were staged in C:\\ProgramData before exfiltration.",
    "The dropper is not only a loader but also a downloader.",
])
def test_affirmative_sentences_are_kept(sentence: str) -> None:
    assert not is_negated(sentence)


def test_software_names_resolve_through_attack(kb: KnowledgeBase) -> None:
    text = "After phishing, the group deployed PlugX and later Cobalt Strike; mimikatz-like tools were absent."
    found = {(m.attack_id, m.name) for m in SoftwareMatcher(kb).find(text)}
    assert ("S0013", "PlugX") in found
    assert ("S0154", "Cobalt Strike") in found


def test_sentence_index_finds_the_containing_sentence() -> None:
    text = "First sentence here. Second one mentions T1105. Third."
    sents = split_sentences(text)
    row = sentence_index(sents, text.index("T1105"))
    assert row is not None and "T1105" in sents[row].text
    assert sentence_index(sents, len(text) + 5) is None
