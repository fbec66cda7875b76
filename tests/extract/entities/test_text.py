"""Stated lures, goals, capabilities and operation names, from sentences written the way reports write them."""

from __future__ import annotations

from typing import Any

import pytest

from threadline.extract.entities.text import capabilities, goals, lures, operations


@pytest.mark.parametrize(("sentence", "expected"), [
    ("The threat actor leveraged a fake Huawei careers website to lure telecom employees.",
     ["fake Huawei careers website"]),
    ("In September 2020, the group moved to decoy documents related to the UN and Tibet.",
     ["decoy documents related to the UN and Tibet"]),
    ("Victims received COVID-19-themed phishing emails.", ["COVID-19-themed phishing emails"]),
    ("Operators posed as recruiters from a defence contractor on LinkedIn.",
     ["posed as recruiters from a defence contractor on LinkedIn"]),
    ("The emails were impersonating the Ministry of Foreign Affairs.",
     ["impersonating the Ministry of Foreign Affairs"]),
    # Evasion, not a social lure:
    ("The actor impersonated a token to escalate privileges.", []),
    ("The loader masquerades as a legitimate file on the system.", []),
    ("We found malicious documents on the share.", []),
])
def test_lures(sentence: str, expected: list[str]) -> None:
    assert [h.text for h in lures(sentence)] == expected


@pytest.mark.parametrize(("sentence", "expected"), [
    ("The purpose of the attack is to gain access to confidential information and spy on companies related to "
     "5G technology.", ["gain access to confidential information and spy on companies related to 5G technology"]),
    ("The group aims to steal intellectual property from chip makers.",
     ["steal intellectual property from chip makers"]),
    ("They used netsh in order to blend in with normal administrator activity.",
     ["blend in with normal administrator activity"]),
    ("The intrusions were for the purpose of espionage, we assess, not profit.", ["espionage"]),
    ("The malware then sleeps for ten minutes.", []),
])
def test_goals(sentence: str, expected: list[str]) -> None:
    assert [h.text for h in goals(sentence)] == expected


@pytest.mark.parametrize(("sentence", "categories"), [
    ("The site infected their systems with info stealers.", ["infostealer"]),
    ("The actor deployed a backdoor and a keylogger.", ["backdoor", "keylogger"]),
    ("Organizations should protect against ransomware.", []),          # advice, not use
    ("A victim found its servers encrypted by Play ransomware.", []),  # the family is the entity
])
def test_capabilities(sentence: str, categories: list[str]) -> None:
    named = [(sentence.index("Play"), sentence.index("Play") + 4)] if "Play" in sentence else []
    assert [h.category for h in capabilities(sentence, named)] == categories


@pytest.mark.parametrize(("sentence", "names"), [
    ("Dubbed Operation Diànxùn, this espionage campaign is targeting telecom companies.", ["Operation Diànxùn"]),
    ("## Operation CMDStealer Attack Vector", ["Operation CMDStealer"]),
    ("The activity overlaps with Operation In(ter)ception.", []),
    ("Operation of the implant is simple.", []),
    ("The campaign, dubbed GhostWriter, targeted officials.", ["GhostWriter"]),
])
def test_operations(sentence: str, names: list[str]) -> None:
    assert [h.text for h in operations(sentence)] == names


@pytest.mark.parametrize("sentence", [
    "They used a RAT to exfiltrate data.", "The operation deployed RATs.", "The operators installed a Rat.",
    "They used a remote access trojan.", "The Operation used a WEBSHELL.", "Separate operators generated reports.",
    "Webshells were dropped."])
def test_the_capability_prefilter_lets_every_capability_through(sentence: str) -> None:
    """capabilities skips a sentence without any word a capability pattern needs ("rat" only as the
    case-sensitive "RAT" in ASCII): wherever a pattern matches, the sentence is let through."""
    from threadline.extract.entities.text import _CAPABILITIES, _capability_words

    assert _capability_words(sentence) or not any(pattern.search(sentence) for _, pattern in _CAPABILITIES)


def test_the_word_prefilters_change_no_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ASCII sentences of real reports (and sentences made to slip past a loose reading) give the same
    operations, advice, assessments, capabilities and claim cues with the word prefilters as without them."""
    import gzip
    import json
    from pathlib import Path

    from threadline.extract.entities import claims, text
    from threadline.extract.sentences import split_sentences

    tram = Path(__file__).resolve().parents[3] / "src" / "threadline" / "data" / "tram" / "tram2-reports.jsonl.gz"
    with gzip.open(tram, "rt", encoding="utf-8") as fh:
        reports = [json.loads(line)["text"] for _, line in zip(range(12), fh, strict=False)]
    sentences = [s.text for r in reports for s in split_sentences(r) if s.text.isascii()] + [
        "The campaign, CODENAMED Night Fury, used a RAT.", "Users SHOULD patch now.", "It is ADVISED to patch.",
        "The attack could be the RESULT of sanctions.", "The activity is likely Driven by espionage.",
        "The activity was tied to APT28 and is the work of its operators.", "Operation Dream Job used loaders."]
    assert len(sentences) > 500

    def found() -> list[tuple[list[Any], ...]]:
        return [(text.operations(s), text.advice(s), text.assessments(s), text.capabilities(s, []), claims._cues(s))
                for s in sentences]

    filtered = found()
    monkeypatch.setattr(text, "_lacks", lambda sentence, words: False)
    monkeypatch.setattr(text, "_capability_words", lambda sentence: True)
    monkeypatch.setattr(claims, "_cue_words", lambda sentence: True)
    assert found() == filtered
    assert sum(bool(x) for row in filtered for x in row) > 50      # about real findings, not empty lists
