"""Issue 14: a sentence naming a system utility (ntdsutil, wmic) or a phrase analysts map to one technique
("Mark-of-the-Web", "ransomware") supports that technique, with the sentence as evidence. Both tables ship beside
the models and are mined by code from data (ATT&CK; AnnoCTR train), which these tests re-run."""

from __future__ import annotations

from pathlib import Path

import pytest

from threadline.extract.techniques import TechniqueHit, extract_techniques
from threadline.extract.techniques.extractor import MODEL_DIR
from threadline.extract.techniques.phrases import (
    MIN_PRECISION,
    MIN_REPORTS,
    PHRASES_FILE,
    PhraseMatcher,
    load_phrases,
    mine_phrases,
)
from threadline.extract.techniques.tools import TOOLS_FILE, ToolMatcher, load_tool_table, mine_tool_table
from threadline.knowledge.base import KnowledgeBase

ADVISORY = Path(__file__).resolve().parents[2] / "data" / "reports" / "gov-advisory.md"
ANNOCTR_TRAIN = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "annoctr" / "annoctr-train.jsonl.gz"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    from threadline.knowledge.index import load_kb

    return load_kb(progress=False)


def _text_hit(hits: list[TechniqueHit], tid: str) -> TechniqueHit | None:
    return next((h for h in hits if h.id == tid and not h.inferred), None)


def test_the_shipped_tool_table_is_what_the_code_mines_from_the_shipped_attack_data(kb: KnowledgeBase) -> None:
    assert load_tool_table(MODEL_DIR / TOOLS_FILE) == mine_tool_table(kb)


def test_the_tool_table_maps_utilities_by_attacks_own_examples(kb: KnowledgeBase) -> None:
    table = {e.name: e for e in load_tool_table(MODEL_DIR / TOOLS_FILE)}
    assert table["ntdsutil"].technique == "T1003.003"
    assert table["wmic"].technique == "T1047"
    assert table["vssadmin"].technique == "T1490"
    assert table["mark of the web"].technique == "T1553.005"
    # used for many things, so named alone they say no one technique; function-word cuts are no phrases
    assert not {"netsh", "certutil", "psexec", "update", "pass the"} & set(table)
    assert all(e.examples >= 3 and e.share >= 0.5 for e in table.values())


def test_the_advisory_gives_ntds_dumping_and_wmi_from_the_built_in_tools_sentence(kb: KnowledgeBase) -> None:
    # Before: the sentence "used built-in tools, such as netsh, wmic and ntdsutil" gave no T1003.003.
    hits = extract_techniques(ADVISORY.read_text(encoding="utf-8"), kb=kb)
    for tid in ("T1003.003", "T1047"):
        hit = _text_hit(hits, tid)
        assert hit is not None, tid
        assert any("such as netsh, wmic and ntdsutil" in e.text for e in hit.evidence), tid


@pytest.mark.parametrize(("sentence", "technique"), [
    ("The actors bypass the Mark-of-the-Web by delivering the payload inside an ISO image.", "T1553.005"),
    ("Attackers used this technique to bypass the Mark-of-the-Web.", "T1553.005"),
    ("The operators ran ntdsutil.exe to create a copy of the domain database.", "T1003.003"),
    ("Shadow copies were deleted with vssadmin before the encryption started.", "T1490"),
    ("The group then deployed ransomware across the victim's network.", "T1486"),
])
def test_a_named_utility_or_phrase_gives_its_technique_with_the_sentence_as_evidence(
        kb: KnowledgeBase, sentence: str, technique: str) -> None:
    for text in (sentence, f"# Incident summary\n\nThe intrusion lasted two weeks. {sentence} It was contained.\n"):
        hit = _text_hit(extract_techniques(text, kb=kb), technique)
        assert hit is not None, f"{technique} not found from {sentence!r}"
        assert hit.evidence[0].text == sentence


def test_a_denied_or_listed_utility_supports_nothing(kb: KnowledgeBase) -> None:
    assert _text_hit(extract_techniques("The actors did not use ntdsutil in this intrusion.", kb=kb),
                     "T1003.003") is None
    listing = "Files found on the host:\n\nntdsutil.exe\n\nvssadmin.exe\n\nThe host was reimaged afterwards.\n"
    hits = extract_techniques(listing, kb=kb)
    assert _text_hit(hits, "T1003.003") is None and _text_hit(hits, "T1490") is None


def test_matchers_find_names_as_whole_words_in_any_case() -> None:
    table = [e for e in load_tool_table(MODEL_DIR / TOOLS_FILE) if e.name in {"wmic", "mark of the web"}]
    matcher = ToolMatcher(table)
    found = [(m.entry.name, m.start) for m in matcher.find("Ran WMIC.exe; bypassed mark of the web; wmicx; xwmic")]
    assert found == [("wmic", 4), ("mark of the web", 23)]
    phrases = PhraseMatcher([e for e in load_phrases(MODEL_DIR / PHRASES_FILE) if e.phrase == "ransomware"])
    assert [m.entry.technique for m in phrases.find("Two RANSOMWARE families; ransomwares; not-ransomwarex")] \
        == ["T1486", "T1486"]


@pytest.mark.skipif(not ANNOCTR_TRAIN.is_file(), reason="AnnoCTR train (../shared/data/annoctr) not present")
def test_the_shipped_phrase_table_is_what_the_code_mines_from_annoctr_train(kb: KnowledgeBase) -> None:
    shipped = load_phrases(MODEL_DIR / PHRASES_FILE)
    assert shipped == mine_phrases(ANNOCTR_TRAIN, kb)
    assert all(e.reports >= MIN_REPORTS and e.precision >= MIN_PRECISION for e in shipped)


def test_names_of_the_report_models_classes_are_left_to_it(kb: KnowledgeBase) -> None:
    # TRAM's 50 classes are decided by the report model, calibrated on annotated reports (a utility named in a TRAM
    # report is often not annotated: the table alone cost 0.003 per-document F1 on the TRAM gate reports), as the
    # procedure model leaves them too; the table's other techniques still come from one sentence.
    from threadline.extract.techniques import shipped_model

    classes = set(shipped_model().classes)
    table = {e.name: e.technique for e in load_tool_table(MODEL_DIR / TOOLS_FILE)}
    assert table["process hollowing"] == "T1055.012" and "T1055" in classes
    hits = extract_techniques("The loader uses process hollowing and then runs ntdsutil on the controller.", kb=kb)
    assert not any(s.startswith("named") for h in hits for s in h.sources if h.id.split(".")[0] == "T1055")
    assert _text_hit(hits, "T1003.003") is not None


def test_a_name_inside_a_web_address_names_nothing(kb: KnowledgeBase) -> None:
    # AnnoCTR train, a false positive: the phrase "net" (T1059) found in an image's host name.
    text = ("After noticing the action, the operators took down the site completely. "
            "![](https://d39ec1uo9ktrut.cloudfront.net/splash-e1608237933863.png) The image greeted the visitors.")
    assert not [h for h in extract_techniques(text, kb=kb) if not h.inferred and h.id.startswith("T1059")]
    # a Markdown link's label is text, not address: it still counts
    linked = "The loader lets the payload bypass the [Mark-of-the-Web](https://example.com/motw) on every host."
    assert any(h.id == "T1553.005" for h in extract_techniques(linked, kb=kb) if not h.inferred)
