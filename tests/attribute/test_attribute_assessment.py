"""Too thin to tell, the report's claim tested, and what makes evidence distinctive (issue 15), on real documents
analysed by the current code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from threadline.attribute import attribute, observations_from_analysis, parse_observations
from threadline.attribute.assessment import THIN_CEILING, ratio_words
from threadline.attribute.profiles import build_profiles
from threadline.attribute.scoring import level_of
from threadline.knowledge.base import KnowledgeBase

ROOT = Path(__file__).resolve().parents[2]
Analyse = Callable[[str | Path], dict[str, Any]]


def test_the_seed_claim_is_untestable_not_contradicted(analyse: Analyse) -> None:
    att = analyse(ROOT / "examples" / "operation-dianxun.md")["attribution"]
    assert att["outcome"] == "insufficient_evidence" and "names no technique or tool" in att["outcome_reason"]
    (test,) = att["claim_tests"]
    assert test["attack_id"] == "G0129" and {"RedDelta", "TA416"} <= set(test["actor"].split(" / "))
    assert test["verdict"] == "untestable"
    assert test["reason"] == "untestable from this text (it names no technique or tool), not contradicted"
    assert test["alternative"] is None and "too thin" in test["comparison"]
    # the profile's hallmarks the report lacks: what the analyst could look for
    assert {m["name"] for m in test["missing"]} & {"TONESHELL", "PUBLOAD"}
    # no rival above "unlikely"; in fact none above "very unlikely"
    assert att["candidates"] and all(c["probability"] < THIN_CEILING for c in att["candidates"])
    assert not [d for d in att["disagreements"] if d["kind"] in ("claim-not-supported", "engine-prefers-other")]
    assert att["explanation"].startswith("The report's evidence is too thin to test its attribution")
    assert att["confidence"]["analytic_confidence"] == "low"


def test_a_parent_technique_is_never_distinctive(analyse: Analyse, kb: KnowledgeBase) -> None:
    """lanternfish.md says "phishing" (T1574's and T1566's families are filed under sub-techniques in ATT&CK):
    once AppleJeus led at 47% on T1566 "distinctive"; a family is not a fingerprint."""
    analysis = analyse(ROOT / "tests" / "data" / "ingest" / "lanternfish.md")
    ids = {t["id"] for t in analysis["techniques"] if not t.get("inferred")}
    assert "T1566" in ids
    att = analysis["attribution"]
    for cand in att["candidates"]:
        assert "T1566" not in cand["evidence"]["distinctive"]
        for item in cand["evidence"]["shared"]:
            if item["id"] == "T1566":
                assert item["level"] != "distinctive" and item["why"].startswith("a parent technique:")
    ps = build_profiles(kb)
    assert level_of(ps, "technique", "T1566") == "generic"
    assert ps.grading_frequency("technique", "T1566") >= ps.frequency("parent", "T1566") > ps.frequency(
        "technique", "T1566")
    assert att["outcome"] == "insufficient_evidence"
    assert max(c["probability"] for c in att["candidates"]) < THIN_CEILING


def test_generic_advisory_names_no_rival(analyse: Analyse) -> None:
    """The invented advisory: living off the land (netsh, WMI, valid accounts) in the US and Canada, linked "with
    moderate confidence" to Volt Typhoon. Lazarus Group used to lead on Canada and popularity."""
    att = analyse(ROOT / "tests" / "data" / "reports" / "gov-advisory.md")["attribution"]
    assert att["outcome"] == "insufficient_evidence" and "is distinctive" in att["outcome_reason"]
    volt = next(t for t in att["claim_tests"] if t["attack_id"] == "G1017")
    assert volt["verdict"] == "untestable" and "generic" in volt["reason"] and "not contradicted" in volt["reason"]
    assert all(c["probability"] < THIN_CEILING for c in att["candidates"])


def test_a_claim_with_distinctive_evidence_is_consistent(kb: KnowledgeBase) -> None:
    obs = parse_observations({"techniques": ["T1071.001", "T1105", "T1574.002"], "software": ["TONESHELL", "PUBLOAD"],
                              "report_claims": [{"actor": "Earth Preta", "strength": "attributed"}]}, kb)
    result = attribute(obs, kb)
    assert result.outcome == "assessed"
    (test,) = result.to_dict()["claim_tests"]
    assert test["attack_id"] == "G0129" and test["verdict"] == "consistent"
    assert {d["id"] for d in test["distinctive"]} == {"S1239", "S1228"}
    for item in test["distinctive"]:
        held = int(item["why"].split(" of ")[0])
        assert 1 <= held <= 0.04 * len(kb.attack.groups) and item["why"].endswith("groups use it")
    assert test["likelihood_ratio"] > 10 and test["comparison"].startswith(
        "the evidence is much more probable if it is Mustang Panda (G0129) than")


def test_a_claim_the_evidence_points_away_from_is_inconsistent(kb: KnowledgeBase) -> None:
    """Sandworm's own wipers and DDoS in a report that claims APT41: the claim is tested, and fails."""
    obs = parse_observations({"techniques": ["T1485", "T1561.002", "T1499"],
                              "software": ["Industroyer2", "AcidRain"],
                              "report_claims": [{"actor": "APT41", "strength": "attributed"}]}, kb)
    (test,) = attribute(obs, kb).to_dict()["claim_tests"]
    assert test["attack_id"] == "G0096" and test["verdict"] == "inconsistent"
    assert test["alternative"]["attack_id"] == "G0034" and test["likelihood_ratio"] < 0.1
    assert "much more probable if it is Sandworm Team (G0034)" in test["comparison"]


@pytest.mark.parametrize(("ratio", "words"), [
    (50.0, "is much more probable if it is A than B (about 50 to 1)"),
    (4.0, "is more probable if it is A than B (about 4 to 1)"),
    (0.5, "does not tell A from B (about 2.0 to 1)"),
    (0.2, "is more probable if it is B than A (about 5 to 1)"),
    (1e-9, "is much more probable if it is B than A (more than 1,000 to 1)"),
])
def test_likelihood_ratio_in_words(ratio: float, words: str) -> None:
    assert ratio_words(ratio, "A", "B") == f"the evidence {words}"


def test_only_targeted_countries_are_victims(analyse: Analyse, kb: KnowledgeBase) -> None:
    analysis = analyse(ROOT / "examples" / "operation-dianxun.md")
    roles = {c["code"]: c["role"] for c in analysis["countries"]}
    analysis["countries"].append({"code": "DE", "name": "Germany", "role": "mentioned", "mentions": ["German"]})
    analysis["countries"].append({"code": "CN", "name": "China", "role": "origin", "mentions": ["Chinese"]})
    obs = observations_from_analysis(analysis, kb)
    assert set(obs.countries) == {c for c, r in roles.items() if r == "targeted"}
    assert "DE" not in obs.countries and "CN" not in obs.countries
