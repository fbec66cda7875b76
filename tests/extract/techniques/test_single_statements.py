"""Issue 14, item 2: a sentence that states a technique plainly is enough on its own, in a two-line brief as in a
long report; headings, titles and reference lists are never evidence. The sentences are those of a new user's trial.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from threadline.extract.techniques import TechniqueHit, extract_techniques
from threadline.extract.techniques.signals import is_heading, is_reference, never_evidence
from threadline.knowledge.base import KnowledgeBase

ADVISORY = Path(__file__).resolve().parents[2] / "data" / "reports" / "gov-advisory.md"
TRIAL = [
    ("The actor sent spearphishing emails with ISO attachments.", "T1566.001"),
    ("APT28 used Mimikatz and spearphishing attachments.", "T1566.001"),
    ("Once the victim opens the file, the macro runs and downloads the payload.", "T1204.002"),
    ("The user must open the malicious document to start the infection.", "T1204.002"),
    ("The ISO container lets the payload bypass the Mark-of-the-Web.", "T1553.005"),
    ("The actors gained initial access through exploitation of internet-facing VPN appliances.", "T1190"),
    ("They then used built-in tools, such as netsh, wmic and ntdsutil.", "T1003.003"),
    ("They then used built-in tools, such as netsh, wmic and ntdsutil.", "T1047"),
]


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    from threadline.knowledge.index import load_kb

    return load_kb(progress=False)


def _surroundings() -> dict[str, tuple[str, str]]:
    """Text before and after the trial sentence: nothing, a two-line news brief, and a longer advisory."""
    intro = ADVISORY.read_text(encoding="utf-8").split("Technical details")[0]
    return {"alone": ("", ""),
            "brief": ("# Campaign news\n\n", " The campaign targeted three ministries.\n"),
            "report": (intro, "\n\n" + intro.replace("Summary", "Background"))}


def _text_hit(hits: list[TechniqueHit], tid: str) -> TechniqueHit | None:
    return next((h for h in hits if h.id == tid and not h.inferred), None)


@pytest.mark.parametrize("where", ["alone", "brief", "report"])
@pytest.mark.parametrize(("sentence", "technique"), TRIAL)
def test_a_single_clear_sentence_gives_its_technique_whatever_the_length(kb: KnowledgeBase, sentence: str,
                                                                         technique: str, where: str) -> None:
    before, after = _surroundings()[where]
    hit = _text_hit(extract_techniques(before + sentence + after, kb=kb), technique)
    assert hit is not None, f"{technique} not found from {sentence!r} ({where})"
    assert hit.evidence[0].text == sentence


def test_the_advisory_gives_exploitation_and_wmi_from_its_one_technical_sentence(kb: KnowledgeBase) -> None:
    text = ADVISORY.read_text(encoding="utf-8")
    hits = extract_techniques(text, kb=kb)
    for tid in ("T1190", "T1047", "T1003.003"):   # "exploitation of internet-facing VPN appliances"; "wmic"; "ntdsutil"
        hit = _text_hit(hits, tid)
        assert hit is not None, tid
        assert "initial access through exploitation of internet-facing VPN appliances" in hit.evidence[0].text


def test_a_title_heading_is_never_evidence(kb: KnowledgeBase) -> None:
    # Before the fix the title alone gave T1566.001 with the heading as its evidence.
    text = ("# Spearphishing attachments lead to Emotet infections\n\nResearchers published a report on the group "
            "this week. It describes the group's targets in Europe.\n")
    hits = extract_techniques(text, kb=kb)
    assert not [h for h in hits if not h.inferred and any(e.text.startswith("#") for e in h.evidence)]
    assert _text_hit(hits, "T1566.001") is None


def test_headings_titles_and_references_are_recognised() -> None:
    assert is_heading("# Spearphishing attachments lead to Emotet infections")
    assert is_heading("Title: Intrusions against water utilities and healthcare providers")
    assert is_heading("Technical details")
    assert not is_heading("- Spearphishing attachments with ISO files")          # a list item says something
    assert not is_heading("The actor sent spearphishing emails with ISO attachments.")
    assert is_reference("[3] https://example.com/blog/spearphishing-campaign")
    assert is_reference("https://example.com/blog/spearphishing-campaign-iso-attachments")
    assert not is_reference("The loader downloads its payload from https://example.com/payload.bin over HTTPS.")
    lines = ["The actor used PowerShell.", "References", "Spearphishing attachment campaign analysis, Vendor Blog",
             "Process injection in the wild, Another Vendor", "Vendor. Process hollowing used by the loader. 2023.",
             "## Appendix", "The loader injects into explorer.exe."]
    assert never_evidence(lines) == [False, True, True, True, True, True, False]


def test_a_detection_rule_references_key_starts_no_reference_section() -> None:
    # Sigma rules quoted in DFIR reports carry a YAML "references:" key; the prose after the rule still counts.
    lines = ["The actor ran the loader.", "references:", "  - https://thedfirreport.com/", "logsource: zeek",
             "The actor then dumped LSASS memory with procdump."]
    assert never_evidence(lines)[-1] is False


def test_one_unpunctuated_line_from_a_user_is_a_statement_not_a_heading(kb: KnowledgeBase) -> None:
    assert never_evidence(["APT28 used Mimikatz and spearphishing attachments"]) == [False]
    assert _text_hit(extract_techniques("APT28 used Mimikatz and spearphishing attachments", kb=kb), "T1566.001")


def test_advice_to_defenders_is_never_evidence(kb: KnowledgeBase) -> None:
    # The advisory's Mitigations section ("Organizations should protect against ransomware and web shells by ...")
    # gave T1486 and T1505.003 once single phrases counted; advice says what defenders do, not what the actor did.
    hits = extract_techniques(ADVISORY.read_text(encoding="utf-8"), kb=kb)
    assert _text_hit(hits, "T1486") is None and _text_hit(hits, "T1505.003") is None
    lines = ["The actor deployed ransomware on the file servers.", "Mitigations",
             "Organizations should protect against ransomware by patching.", "Patch VPN appliances promptly.",
             "## Indicators", "The loader deleted shadow copies with vssadmin."]
    assert never_evidence(lines) == [False, True, True, True, True, False]
