"""Profiles enriched beyond ATT&CK (attribute/known.py, issue 15): links from the vendored MISP/Tidal galaxies and
from the user's stored analyses, each with its provenance, weighted below ATT&CK, never a report's own."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from threadline.attribute import attribute, parse_observations
from threadline.attribute.known import (
    GALAXY,
    STORE,
    WEIGHTS,
    Known,
    claimed_group,
    galaxy_known,
    store_known,
)
from threadline.attribute.profiles import build_profiles, static_of
from threadline.attribute.ranker import load_ranker
from threadline.attribute.scoring import GroupScore, score_groups
from threadline.cli import app
from threadline.knowledge.base import KnowledgeBase
from threadline.publish.considered import _candidate_fact
from threadline.publish.facts import References
from threadline.publish.render import Defanger

ROOT = Path(__file__).resolve().parents[2]
HERON = ROOT / "tests" / "data" / "reports" / "silent-heron.html"
Analyse = Callable[[str | Path], dict[str, Any]]


@pytest.fixture(scope="module")
def galaxy(kb: KnowledgeBase) -> Known:
    return galaxy_known(kb)


@pytest.fixture(scope="module")
def heron(analyse: Analyse) -> dict[str, Any]:
    """A stored report (a vendor blog attributed to APT41), as the current code analyses it."""
    return analyse(HERON)


def test_galaxy_links_only_add_what_attack_lacks(kb: KnowledgeBase, galaxy: Known) -> None:
    base = build_profiles(kb).profiles
    software = [link for link in galaxy.links if link.kind == "software"]
    assert software and all(link.origin == GALAXY for link in galaxy.links)
    # a galaxy repeating ATT&CK's "uses" would undo a report's exclusion: ATT&CK's copy is the only one
    assert not [link for link in software if link.key in base[link.group].software]
    # Tidal Cyber's software galaxy: Remcos used by APT-C-36, which ATT&CK does not file
    remcos = [link for link in software if (link.group, link.key) == ("G0099", "S0332")]
    assert remcos and remcos[0].source.startswith("Tidal Cyber software galaxy: Remcos used-by APT-C-36")
    assert {link.kind for link in galaxy.links} >= {"software", "country", "sector"}


def test_a_galaxy_link_makes_a_candidate_and_says_where_it_comes_from(kb: KnowledgeBase, galaxy: Known) -> None:
    obs = parse_observations({"software": ["Remcos"], "techniques": ["T1620"]}, kb)
    without = {c.attack_id for c in attribute(obs, kb).candidates}
    result = attribute(obs, kb, known=galaxy).to_dict()
    assert "G0099" not in without
    cand = next(c for c in result["candidates"] if c["attack_id"] == "G0099")
    (remcos,) = [s for s in cand["evidence"]["shared"] if s["id"] == "S0332"]
    assert remcos["via"] == "galaxy" and remcos["source"][0].startswith("Tidal Cyber software galaxy")
    # weighed below ATT&CK: the same software held through ATT&CK's own "uses" weighs more for another group
    profile = build_profiles(kb, known=galaxy).profiles["G0099"]
    assert profile.software["S0332"] == WEIGHTS[(GALAXY, "software")] < 1.0
    attack_held = [c for c in result["candidates"] if any(s["id"] == "S0332" and s["source"] == "ATT&CK"
                                                         for s in c["evidence"]["shared"])]
    assert attack_held, "another group holds Remcos in ATT&CK itself"


def test_stored_analysis_links_its_claimed_group(kb: KnowledgeBase, heron: dict[str, Any]) -> None:
    group = claimed_group(heron)
    assert group is not None and group in kb.by_attack_id
    known = store_known([heron], kb)
    assert known.links and {link.group for link in known.links} == {group}
    assert {link.origin for link in known.links} == {STORE}
    sha = heron["document"]["sha256"]
    assert all(link.document == sha and link.source.startswith("stored analysis: ") and sha[:12] in link.source
               for link in known.links)
    # software the report describes (two sentences or more) links; a passing mention or an OS tool does not
    native = static_of(kb).native
    described = {s["attack_id"] for s in heron["software"] if s.get("attack_id") and len(s["evidence"]) >= 2}
    assert described and {link.key for link in known.links if link.kind == "software"} == described - native
    once = {**heron, "software": [{**s, "evidence": s["evidence"][:1]} for s in heron["software"]]}
    assert not [link for link in store_known([once], kb).links if link.kind == "software"]
    # what the report adds to the profile beyond ATT&CK carries the provenance; ATT&CK's own keeps none
    before = build_profiles(kb).profiles[group]
    after = build_profiles(kb, known=known).profiles[group]
    added = {t for t in after.techniques if t not in before.techniques}
    assert added and all(t in after.known or after.techniques[t] < 1.0 for t in added)
    assert not set(after.known) & {t for t, w in before.techniques.items() if w >= 1.0}
    assert build_profiles(kb).profiles[group] is before, "the cached ATT&CK profiles are not modified"
    # a store whose only analysis is the document itself adds nothing to that document
    assert not store_known([heron], kb, exclude=[sha]).links
    assert not known.for_document(sha).links


def test_a_stored_report_corroborates_a_new_one_but_never_itself(kb: KnowledgeBase, heron: dict[str, Any]) -> None:
    group = str(claimed_group(heron))
    known = store_known([heron], kb)
    base = build_profiles(kb).profiles[group]
    # a new report showing the stored report's techniques that ATT&CK does not file under the group
    new = sorted(link.key for link in known.links if link.kind == "technique" and link.key not in base.techniques)
    assert new
    obs = parse_observations({"techniques": new}, kb)

    def score_of(links: Known | None) -> GroupScore:
        scores = score_groups(obs, build_profiles(kb, known=links), None, load_ranker())
        return next(s for s in scores if s.attack_id == group)

    plain, linked = score_of(None), score_of(known.for_document("another document"))
    stored = [c for c in linked.contributions if c.via == "store"]
    assert {c.key for c in stored} == set(new) and linked.score > plain.score
    # the stored report attributed again with a store holding only itself: exactly as without the store
    own = score_of(known.for_document(heron["document"]["sha256"]))
    assert own.score == plain.score and not [c for c in own.contributions if c.via == "store"]


def test_a_stricter_marked_report_never_feeds_a_clearer_one(kb: KnowledgeBase, heron: dict[str, Any]) -> None:
    red = {**heron, "document": {**heron["document"], "tlp": "red"}}
    known = store_known([red], kb)
    assert known.links and not known.for_document("other", "clear").links
    assert not known.for_document("other", "amber").links
    assert known.for_document("other", "TLP:RED").links == known.links


def test_briefing_says_which_evidence_came_from_where(kb: KnowledgeBase, galaxy: Known) -> None:
    obs = parse_observations({"software": ["Remcos"], "techniques": ["T1620"]}, kb)
    attribution = attribute(obs, kb, known=galaxy).to_dict()
    analysis: dict[str, Any] = {"attribution": attribution, "countries": []}
    cand = next(c for c in attribution["candidates"] if c["attack_id"] == "G0099")
    fact = _candidate_fact(analysis, cand, kb, References(Defanger([])), None, lead=True)
    assert "S0332 Remcos" in fact.text and "linked to the group by Tidal Cyber software galaxy" in fact.text


def test_analyze_uses_the_store_but_not_the_report_itself(tmp_path: Path) -> None:
    db = str(tmp_path / "store.db")
    runner = CliRunner()

    def analyse_cli(path: Path, *options: str) -> dict[str, Any]:
        done = runner.invoke(app, ["analyze", str(path), "--json", *options])
        assert done.exit_code == 0, done.output
        (analysis,) = json.loads(done.stdout)
        return dict(analysis)

    def stored_sources(analysis: dict[str, Any]) -> list[str]:
        return [x for c in analysis["attribution"]["candidates"] for s in c["evidence"]["shared"]
                if isinstance(s["source"], list) for x in s["source"]]

    heron = analyse_cli(HERON, "--db", db)
    assert not stored_sources(heron)          # an empty store adds nothing
    # another report, analysed next: the stored one corroborates its claimed group, and says so
    note = ROOT / "tests" / "data" / "reports" / "vendor-note-front-matter.md"
    later = analyse_cli(note, "--db", db)
    sha = heron["document"]["sha256"][:12]
    assert [x for x in stored_sources(later) if x.startswith("stored analysis: ") and sha in x]
    assert not stored_sources(analyse_cli(note, "--db", db, "--attack-only"))
    # the stored report analysed again is never corroborated by its own stored analysis
    assert not [x for x in stored_sources(analyse_cli(HERON, "--db", db)) if sha in x]


def test_scores_with_links_are_the_per_group_functions_to_the_bit(kb: KnowledgeBase, heron: dict[str, Any],
                                                                  galaxy: Known) -> None:
    """score_groups adds every group's technique terms in arrays (via "store" and "galaxy" included): the same
    ranking, floats, contributions and features as each group scored on its own."""
    from tests.attribute.reference import reference_scores
    from threadline.attribute.scoring import Weights

    group = str(claimed_group(heron))
    known = store_known([heron], kb).for_document("another document")
    base = build_profiles(kb).profiles[group]
    new = sorted(link.key for link in known.links if link.kind == "technique" and link.key not in base.techniques)
    obs = parse_observations({"techniques": [*new, "T1059.001", "T1566.001"], "software": ["S0332", "S0154"]}, kb)
    for links in (known, galaxy):
        ps = build_profiles(kb, known=links)
        w, ranker = Weights(), load_ranker()
        got, expected = score_groups(obs, ps, w, ranker), reference_scores(obs, ps, w, ranker)
        assert [(s.attack_id, s.score, s.matched) for s in got] == [(s.attack_id, s.score, s.matched)
                                                                    for s in expected]
        assert [(s.score, [tuple(c) for c in s.contributions], s.features) for s in got] == \
            [(s.score, [tuple(c) for c in s.contributions], s.features) for s in expected]
        assert any(c.via in ("store", "galaxy") for s in got for c in s.contributions)
