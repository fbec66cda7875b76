"""The briefing states every fact the seed states, adds history and mitigations from the knowledge base, and
cites evidence for each fact."""

from __future__ import annotations

import re
from typing import Any

import pytest

from threadline.errors import InputError
from threadline.publish.brief import build_brief, render_brief

# The seed's facts (tests check facts, not wording): each a pattern the briefing's body must contain.
SEED_FACTS = {
    "telecom sector": r"Telecommunications",
    "first seen August 2020": r"August 2020",
    "RedDelta": r"RedDelta",
    "TA416": r"TA416",
    "Mustang Panda": r"Mustang Panda",
    "fake Huawei careers site": r"fake Huawei careers website",
    "info stealers": r"info stealers",
    "5G": r"5G technology",
    "U.S.": r"United States",
    "Europe": r"Europe",
    "Southeast Asia": r"South-?east(ern)? Asia",
    "May 2020": r"May 2020",
    "Vatican": r"Vatican",
    "September 2020 decoys": r"September 2020[^\n]*decoy",
    "UN, Catholicism, Tibet-Ladakh": r"UN General Assembly Security Council, Catholicism and Tibet",
    "Hong Kong": r"Hong Kong",
    "universities": r"Universit",
    "Myanmar": r"Myanmar",
    "attribution on TTPs": r"attributes the activity to RedDelta on the basis of TTPs",
    "caveat": r"Caveat stated by the source: no other evidence",
}


def body(text: str) -> str:
    """The briefing without its reference list, so facts must be stated, not only quoted."""
    return re.split(r"\n## References|<h2 id=\"references\">", text)[0]


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_states_every_seed_fact(analysis: dict[str, Any], kb: Any, fmt: str) -> None:
    text = body(render_brief(build_brief(analysis, kb), fmt))
    missing = [name for name, pattern in SEED_FACTS.items() if not re.search(pattern, text)]
    assert not missing, f"facts missing from the {fmt} briefing: {missing}"


def test_shape_and_title(analysis: dict[str, Any], kb: Any) -> None:
    md = render_brief(build_brief(analysis, kb), "md")
    assert "# What You Need to Know About Operation Diànxùn\n" in md
    headings = re.findall(r"^## (.+)$", md, flags=re.M)
    assert headings == ["Diving into details", "About the campaign", "A pinch of history", "Stay safe",
                        "All things considered", "References"]


def test_history_comes_from_the_knowledge_base(analysis: dict[str, Any], kb: Any) -> None:
    brief = build_brief(analysis, kb)
    texts = [f.text for f in brief.history_kb]
    group = kb.group("G0129")
    assert any(f.text.startswith(group.name) and "China" in f.text for f in brief.history_kb)
    assert any("TA416" in t and "RedDelta" in t for t in texts)          # other names, from ATT&CK
    for campaign in kb.campaigns_of(group):                              # every ATT&CK campaign, dated
        fact = next(f for f in brief.history_kb if campaign.attack_id in f.text)
        assert fact.date == (campaign.first_seen or "")[:10]
        later = (campaign.first_seen or "")[:10] > analysis["document"]["published"]
        assert ("(after this report)" in fact.text) == later
        cited = {brief.references[n - 1].label for n in fact.refs}
        assert any(campaign.attack_id in label for label in cited)
        assert any(r.kind == "citation" for r in (brief.references[n - 1] for n in fact.refs))
    misp = [f for f in brief.history_kb if "MISP galaxy entry" in f.text]
    assert misp and all(brief.references[f.refs[0] - 1].kind == "misp" for f in misp)


def test_stay_safe_is_ranked_and_specific(analysis: dict[str, Any], kb: Any) -> None:
    brief = build_brief(analysis, kb)
    observed = {t["id"] for t in analysis["techniques"]}
    assert brief.mitigations and brief.detections
    for remedies in (brief.mitigations, brief.detections):
        counts = [len(r.covers) for r in remedies]
        assert counts == sorted(counts, reverse=True)
    for remedy, rel_type in [(m, "mitigates") for m in brief.mitigations] + [(d, "detects") for d in brief.detections]:
        assert set(remedy.covers) <= observed
        obj = kb.by_attack_id[remedy.attack_id]
        for tid in remedy.covers:   # the knowledge base really maps it to that technique
            assert any(r.source == obj.stix_id for r in kb.related(kb.by_attack_id[tid].stix_id, rel_type,
                                                                    reverse=True))
    top = brief.mitigations[0]
    assert top.attack_id == "M1017" and set(top.covers) == {"T1189", "T1204.002"}   # User Training covers two


def test_every_fact_cites_evidence_that_points_into_the_report(analysis: dict[str, Any], kb: Any,
                                                               report_text: str) -> None:
    brief = build_brief(analysis, kb)
    for section in (brief.details, brief.campaign, brief.timeline, brief.history_source, brief.history_kb):
        for fact in section:
            assert fact.refs, f"no evidence for: {fact.text}"
    claims = [f for f in brief.considered if f.text.startswith(("The source", "Caveat stated", "Threadline's"))]
    assert len(claims) >= 3 and all(f.refs for f in claims)
    numbers = [r.number for r in brief.references]
    assert numbers == list(range(1, len(numbers) + 1))
    cited = {n for section in (brief.details, brief.campaign, brief.timeline, brief.history_kb, brief.considered,
                               brief.hypotheses)
             for f in section for n in f.refs}
    cited |= {r.ref for r in brief.mitigations + brief.detections}
    cited |= {n for t in brief.techniques for n in t.refs} | {n for i in brief.indicators for n in i.refs}
    assert cited == set(numbers), "every reference is cited and every citation has a reference"
    for ref in brief.references:
        if ref.kind == "source":
            start, end = (int(x) for x in re.findall(r"\d+", ref.location or "")[:2])
            assert report_text[start:end] == ref.quote
        else:
            assert ref.kind in ("attack", "misp", "citation")
            if ref.kind == "attack":
                assert ref.url and ref.url.startswith("https://attack.mitre.org/")


def test_all_things_considered(analysis: dict[str, Any], kb: Any) -> None:
    brief = build_brief(analysis, kb)
    text = " ".join(f.text for f in brief.considered)
    assert "with moderate confidence" in text and "likely (66%)" in text and "Mustang Panda (G0129)" in text
    assert "agrees with the source's attribution" in text
    hypotheses = [f.text for f in brief.hypotheses]
    assert hypotheses[0].startswith("APT41 (G0096): very unlikely (9%)")
    assert "not in the knowledge base: unlikely (25%)" in hypotheses[-1]


def test_disagreement_is_stated(analysis: dict[str, Any], kb: Any) -> None:
    candidates = analysis["attribution"]["candidates"]
    assert candidates[0]["attack_id"] == "G0129" and candidates[1]["attack_id"] == "G0096"
    candidates[0]["probability"], candidates[1]["probability"] = 0.05, 0.70     # APT41 now leads, "likely"
    brief = build_brief(analysis, kb)
    assert any("differs from the source's attribution" in f.text for f in brief.considered)


def test_an_unlikely_leader_is_no_counter_claim(analysis: dict[str, Any], kb: Any) -> None:
    """The engine leading with APT41 at 9% favours nobody: the briefing must not call that a disagreement."""
    analysis["attribution"]["candidates"][0]["probability"] = 0.05                # APT41 leads at 9%
    considered = " ".join(f.text for f in build_brief(analysis, kb).considered)
    assert "differs from the source's attribution" not in considered
    assert "The engine favours no actor (its leading candidate is very unlikely)" in considered


def test_deterministic(analysis: dict[str, Any], kb: Any) -> None:
    for fmt in ("md", "html"):
        assert render_brief(build_brief(analysis, kb), fmt) == render_brief(build_brief(analysis, kb), fmt)


def test_tlp_marking(analysis: dict[str, Any], kb: Any) -> None:
    assert "**TLP:CLEAR**" in render_brief(build_brief(analysis, kb), "md")
    html = render_brief(build_brief(analysis, kb, tlp="amber+strict"), "html")
    assert 'class="tlp tlp-amber-strict"' in html and "TLP:AMBER+STRICT" in html
    analysis["tlp"] = "green"
    assert build_brief(analysis, kb).tlp == "green"
    with pytest.raises(InputError, match="unknown TLP level"):
        build_brief(analysis, kb, tlp="purple")


def test_without_knowledge_base(analysis: dict[str, Any]) -> None:
    brief = build_brief(analysis, None)
    assert not brief.history_kb and not brief.mitigations
    assert "No knowledge base was used" in render_brief(brief, "md")
    assert brief.history_source   # the source's own history is still there


def test_bad_input_is_one_line_error(kb: Any) -> None:
    with pytest.raises(InputError, match="document"):
        build_brief({"actors": []}, kb)
    with pytest.raises(InputError, match="format"):
        render_brief(build_brief({"document": {"title": "t", "source": "s"}}, kb), "pdf")


def test_minimal_analysis_without_campaign(kb: Any) -> None:
    brief = build_brief({"document": {"title": "Quarterly notes", "source": "notes.txt"}}, kb)
    assert brief.title == "What You Need to Know About Quarterly notes"
    assert "records nothing" in render_brief(brief, "md")


def test_page_numbers_are_cited(analysis: dict[str, Any], kb: Any) -> None:
    for ev in analysis["lures"][0]["evidence"]:
        ev["page"] = 3
    md = render_brief(build_brief(analysis, kb), "md")
    number = re.search(r"Lure: fake Huawei careers website\.\[\^(\d+)\]", md)
    assert number is not None
    assert re.search(rf"^\[\^{number.group(1)}\]: .*characters \d+–\d+, page 3: “The attackers", md, flags=re.M)


def _hand_written() -> list[Any]:
    from .conftest import DATA, PUBLISH

    return sorted([PUBLISH / "dianxun-analysis.json", *(DATA / "analysis").glob("*.json")])


@pytest.mark.parametrize("path", _hand_written(), ids=lambda p: p.name)
def test_states_every_item_of_any_analysis(path: Any, kb: Any) -> None:
    """Whatever the analysis holds (lures, goals, targets, dates, actors, claims) the briefing states."""
    import json

    from threadline.publish.render import Defanger

    analysis = json.loads(path.read_text(encoding="utf-8"))
    brief = build_brief(analysis, kb)
    text = " ".join(f.text for section in (brief.details, brief.campaign, brief.timeline, brief.considered)
                    for f in section)
    defang = Defanger(analysis.get("iocs") or [])
    expected = [i["text"] for key in ("lures", "goals") for i in analysis.get(key) or []]
    expected += [i["name"] for key in ("sectors", "countries", "regions", "campaigns", "actors", "software")
                 for i in analysis.get(key) or []]
    expected += [d.get("text") or d["date"] for d in analysis.get("dates") or []]
    expected += [c["actor"] for c in analysis.get("claims") or []]
    expected += [caveat for c in analysis.get("claims") or [] for caveat in c.get("caveats") or []]
    missing = [e for e in expected if defang(e) not in text]
    assert not missing, missing
    techniques = analysis.get("techniques") or []
    assert {t.id for t in brief.techniques} == {t["id"].upper() for t in techniques if not t.get("inferred")}
    assert {t.id for i in brief.inferred for t in i.techniques} == \
        {t["id"].upper() for t in techniques if t.get("inferred")}          # apart, under the software named
    assert len(brief.indicators) == len(analysis.get("iocs") or [])


def test_software_techniques_are_leads_apart_from_what_the_report_describes(kb: Any) -> None:
    """A post naming Cobalt Strike and Mimikatz: their ATT&CK techniques are listed per software, not as observed."""
    from pathlib import Path

    from threadline.analysis import analyze_document
    from threadline.model import Document

    path = Path(__file__).resolve().parents[1] / "data" / "reports" / "vendor-blog-several-actors.md"
    analysis = analyze_document(Document(text=path.read_text(encoding="utf-8"), source=str(path)), kb)
    brief = build_brief(analysis, kb)
    assert not any(t.inferred for t in brief.techniques)
    software = {i.software: {t.id for t in i.techniques} for i in brief.inferred}
    assert "T1003.001" in software["Mimikatz (S0002)"] and "Cobalt Strike (S0154)" in software
    assert all(i.refs for i in brief.inferred)                              # each cites the sentence naming it
    markdown = render_brief(brief, "md")
    observed = markdown.split("### Techniques observed")[1].split("###")[0] if brief.techniques else ""
    assert "T1649" not in observed                                          # Mimikatz's, not the report's
    assert "### Known techniques of the software named" in markdown
    count = len(software["Mimikatz (S0002)"])
    assert re.search(rf"Mimikatz \\\(S0002\\\) \({count}\): T1003\.001", markdown)
    html = render_brief(brief, "html")
    assert 'id="software-techniques"' in html and "(inferred)" not in html


def test_hedged_and_absent_attributions_are_worded_as_the_source_words_them(kb: Any) -> None:
    def claim(actor: str | None, gid: str | None, strength: str) -> dict[str, Any]:
        return {"actor": actor, "attack_id": gid, "strength": strength, "basis": [], "caveats": [], "evidence": []}

    analysis: dict[str, Any] = {
        "document": {"title": "Advisory", "source": "advisory.txt"},
        "actors": [{"attack_id": "G1017", "name": "Volt Typhoon", "role": "attributed", "evidence": []}],
        "claims": [claim("Volt Typhoon", "G1017", "suspected"), claim(None, None, "unknown")]}
    brief = build_brief(analysis, kb)
    details = " ".join(f.text for f in brief.details)
    considered = " ".join(f.text for f in brief.considered)
    assert "tentatively attributes the activity to Volt Typhoon (G1017)" in details
    assert "does not attribute the activity to any known actor" in considered and "None" not in considered
    analysis["claims"].append(claim("Volt Typhoon", "G1017", "attributed"))
    details = " ".join(f.text for f in build_brief(analysis, kb).details)
    assert "The source attributes the activity to Volt Typhoon" in details
