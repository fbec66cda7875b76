"""``attribute()``: rank ATT&CK intrusion sets for a case, with calibrated probabilities and an explanation.

Pure: the knowledge base is read-only, profiles are cached per (knowledge base, excluded sources), so a server
or a worker can call it for each case.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from threadline.attribute.assessment import (
    INSUFFICIENT,
    THIN_CEILING,
    ClaimTest,
    Sufficiency,
    assess_claims,
    evidence_item,
    is_evidence,
    sufficiency,
)
from threadline.attribute.calibration import Calibration, conditional, load_calibration, probabilities
from threadline.attribute.explanation import (
    LIKELY_CEILING,
    CandidateView,
    analytic_confidence,
    compare_claims,
    estimative,
    explain,
)
from threadline.attribute.known import Known
from threadline.attribute.observations import Observations
from threadline.attribute.profiles import GroupProfile, ProfileSet, build_profiles, sector_stems
from threadline.attribute.ranker import Ranker, load_ranker
from threadline.attribute.scoring import KNOWN_VIA, Contribution, GroupScore, Weights, level_of, score_groups
from threadline.attribute.textual import TextMatch, configured_weight, text_matches
from threadline.knowledge import KnowledgeBase

TOP_CANDIDATES = 10
CONTEXT = ("time", "prior", "profile")   # what weighs a group's evidence, not evidence shared with the case
MISSING_SHOWN = 5


@dataclass(slots=True)
class Candidate:
    attack_id: str
    name: str
    probability: float
    score: float
    contributions: list[Contribution]
    missing: list[dict[str, Any]]
    capped: bool = False
    text: TextMatch | None = None      # how close the group's ATT&CK dossier is to the report's words (textual.py)

    @property
    def distinctive(self) -> list[str]:
        return [c.key for c in self.contributions if c.distinctive]

    @property
    def generic_only(self) -> bool:
        """Only techniques/tools that many groups use (no distinctive or moderately rare one) are shared; the
        techniques an observed tool implements ("implied") were not observed, so they do not count."""
        return not any(c.level != "generic" for c in self.contributions
                       if c.kind in ("technique", "software") and c.via != "implied")

    def view(self) -> CandidateView:
        return CandidateView(self.attack_id, self.name, self.probability, tuple(self.distinctive),
                             len(self.contributions), self.generic_only)


@dataclass(slots=True)
class Attribution:
    """The engine's answer for one case."""

    candidates: list[Candidate]
    unknown_probability: float
    confidence: dict[str, Any]
    explanation: str
    report_claims: list[dict[str, Any]] = field(default_factory=list)
    disagreements: list[dict[str, Any]] = field(default_factory=list)
    excluded_sources: list[str] = field(default_factory=list)
    dropped_relationships: int = 0
    unresolved: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)       # ids -> display names for the evidence
    sufficiency: Sufficiency | None = None
    claim_tests: list[ClaimTest] = field(default_factory=list)
    profiles: ProfileSet | None = None                        # to say what made each piece of evidence distinctive

    @property
    def outcome(self) -> str:
        """``assessed``, or ``insufficient_evidence`` when no distinctive technique or tool reaches the engine."""
        return self.sufficiency.outcome if self.sufficiency else "assessed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "outcome_reason": self.sufficiency.reason if self.sufficiency else "",
            "candidates": [self._candidate(c) for c in self.candidates],
            "unknown_probability": round(self.unknown_probability, 4),
            "confidence": self.confidence,
            "explanation": self.explanation,
            "report_claims": self.report_claims,
            "claim_tests": [t.to_dict() for t in self.claim_tests],
            "disagreements": self.disagreements,
            "excluded_sources": self.excluded_sources,
            "dropped_relationships": self.dropped_relationships,
            "unresolved": self.unresolved,
        }

    def _known(self, gid: str, x: Contribution) -> tuple[str, ...]:
        """Where the group's side of a shared observation comes from, when not from ATT&CK (known.py)."""
        profile = self.profiles.profiles.get(gid) if self.profiles is not None and x.via in KNOWN_VIA else None
        if profile is None:
            return ()
        key = x.key if x.kind in ("technique", "software") else f"{x.kind}:{x.key}"
        return profile.known.get(key, ())

    def _candidate(self, c: Candidate) -> dict[str, Any]:
        shared = [{"kind": x.kind, "id": x.key, "name": self.names.get(x.key, x.key), "weight": round(x.value, 3),
                   "groups": x.groups, "level": x.level, "via": x.via,
                   "source": list(self._known(c.attack_id, x)) or "ATT&CK",
                   **({"why": evidence_item(x, self.profiles, self.names)["why"]}
                      if self.profiles is not None and is_evidence(x) else {})}
                  for x in sorted(c.contributions, key=lambda x: -x.value)
                  if x.kind in ("technique", "software", "sector", "country") and x.via != "implied"]
        context = [{"kind": x.kind, "detail": x.key, "weight": round(x.value, 3)}
                   for x in c.contributions if x.kind in CONTEXT]
        implied = [x for x in c.contributions if x.via == "implied"]
        if implied:
            context.append({"kind": "implied", "detail": f"{len(implied)} technique(s) the observed software "
                            "implements are in the group's profile", "weight": round(sum(x.value for x in implied), 3)})
        return {"attack_id": c.attack_id, "name": c.name, "probability": round(c.probability, 4),
                "estimative": estimative(c.probability)["term"], "score": round(c.score, 3),
                "evidence": {"shared": shared, "distinctive": c.distinctive, "missing": c.missing,
                             "context": context, **({"text": c.text.to_dict()} if c.text else {})},
                "capped_at_likely": c.capped}


def _missing(profile: GroupProfile, obs: Observations, ps: ProfileSet, kb: KnowledgeBase) -> list[dict[str, Any]]:
    """The group's hallmarks the case lacks: its distinctive, well-reported techniques and software."""
    seen = set(obs.techniques) | set(obs.software)
    items = [("technique", t) for t, w in profile.techniques.items() if w >= 1.0 and t not in seen]
    items += [("software", s) for s in profile.software if s not in seen]
    ranked = sorted(((len(profile.sources.get(k, ())), ps.idf(kind, k), kind, k) for kind, k in items
                     if level_of(ps, kind, k) == "distinctive"), reverse=True)
    out = []
    for reports, _, kind, key in ranked[:MISSING_SHOWN]:
        obj = kb.by_attack_id.get(key)
        out.append({"kind": kind, "id": key, "name": obj.name if obj else key, "reports": reports})
    return out


def _names(kb: KnowledgeBase, scores: Iterable[GroupScore], obs: Observations) -> dict[str, str]:
    """Display names of the evidence: ATT&CK names, and the case's own words for sector stems."""
    out: dict[str, str] = {}
    for sector in obs.sectors:
        for stem in sector_stems(sector):
            out.setdefault(stem, sector)
    for score in scores:
        for c in score.contributions:
            obj = kb.by_attack_id.get(c.key)
            if obj is not None:
                out[c.key] = obj.name
    return out


VICTIMOLOGY_CEILING = 0.20   # top of ICD-203 "very unlikely"


def _cap_generic(candidates: list[Candidate], unknown: float, *, victims_only: bool, thin: bool = False) -> float:
    """No candidate above "likely" on generic evidence alone, nor above "very unlikely" on victimology alone
    (sectors and countries are shared by dozens of groups, and calibration saw no such cases) or when the case
    holds no distinctive technique or tool at all (``thin``: too thin to tell); the excess goes to the unknown
    outcome."""
    for c in candidates:
        low = victims_only or thin
        ceiling = (min(VICTIMOLOGY_CEILING, THIN_CEILING) if low else LIKELY_CEILING) - 0.005
        if (c.generic_only or low) and c.probability > ceiling:
            unknown += c.probability - ceiling
            c.probability = ceiling
            c.capped = True
    return unknown


def _fuse(scores: list[GroupScore], matches: dict[str, TextMatch]) -> list[GroupScore]:
    """The text channel's value added to each matched group's score, best first again (a group with an empty
    profile stays below any with evidence, as score_groups orders them)."""
    for score in scores:
        match = matches.get(score.attack_id)
        if match is not None:
            score.score += match.value
    return sorted(scores, key=lambda s: (not s.empty, s.score, s.matched), reverse=True)


def attribute(observations: Observations, kb: KnowledgeBase, *, exclude_sources: Sequence[str] = (),
              weights: Weights | None = None, calibration: Calibration | None = None,
              ranker: Ranker | None = None, known: Known | None = None, text: str | None = None,
              text_weight: float | None = None) -> Attribution:
    """Rank ATT&CK groups for a case; ``exclude_sources`` drops knowledge-base evidence resting only on them;
    ``known`` adds links from outside ATT&CK (MISP galaxies, the user's stored analyses: known.py); ``text``, the
    report's words, is compared with each group's ATT&CK dossier at ``text_weight`` (textual.py; off at 0; None: the
    setting text_weight, 0 by default)."""
    excluded = [s for s in dict.fromkeys(s.strip() for s in exclude_sources) if s]
    ps = build_profiles(kb, excluded, known=known)
    cal = calibration or load_calibration()
    scores = score_groups(observations, ps, weights, ranker or load_ranker())
    matches = text_matches(text or "", kb, configured_weight() if text_weight is None and text else text_weight or 0.0,
                           excluded)
    if matches:
        scores = _fuse(scores, matches)
    n_features = len(observations.techniques) + len(observations.software)
    probs, unknown = probabilities([s.score for s in scores], n_features, cal)
    enough = sufficiency(observations, scores)
    candidates: list[Candidate] = []
    for score, probability in zip(scores, probs, strict=True):
        match = matches.get(score.attack_id)
        if score.empty or not (match or any(c.kind not in CONTEXT for c in score.contributions)):
            continue   # shares nothing with the case: not a candidate
        profile = ps.profiles[score.attack_id]
        candidates.append(Candidate(score.attack_id, score.name, probability, score.score, score.contributions,
                                    _missing(profile, observations, ps, kb), text=match))
        if len(candidates) == TOP_CANDIDATES:
            break
    if not candidates:
        unknown = 1.0
    unknown = _cap_generic(candidates, unknown, victims_only=n_features == 0, thin=enough.outcome == INSUFFICIENT)
    views = [c.view() for c in candidates]
    analytic = analytic_confidence(views, observations, unknown, ps.dropped_relationships, excluded)
    if enough.outcome == INSUFFICIENT:
        analytic = {"level": "low", "reasons": [f"the evidence is too thin to tell: {enough.reason}",
                                                *analytic["reasons"]]}
    top = views[0] if views else None
    words = estimative(top.probability if top else 0.0)
    confidence = {"top_candidate": top.attack_id if top else None, "estimative": words["term"],
                  "range": words["range"], "analytic_confidence": analytic["level"], "reasons": analytic["reasons"],
                  "unknown_actor": estimative(unknown)["term"]}
    ranking = {c.attack_id: (i, c.probability) for i, c in enumerate(candidates, 1)}
    claims, disagreements = compare_claims(observations.report_claims, ranking, top)
    claimed = {c.attack_id for c in observations.report_claims if c.attack_id}
    names = _names(kb, [*scores[:TOP_CANDIDATES], *(s for s in scores if s.attack_id in claimed)], observations)
    tests = assess_claims(observations.report_claims, scores, conditional(
        [s.score for s in scores], n_features, cal.scale, cal.gamma), enough, ps, names,
        lambda gid: _missing(ps.profiles[gid], observations, ps, kb))
    explanation = explain(views, unknown, confidence, observations, excluded)
    if enough.outcome == INSUFFICIENT:
        # No rival is named as a finding on evidence this thin: the claim stays untested, not contradicted.
        disagreements = [d for d in disagreements if d["kind"] not in ("claim-not-supported", "engine-prefers-other")]
        explanation = (f"The report's evidence is too thin to test its attribution: {enough.reason}. No profiled "
                       f"group is above \"{estimative(THIN_CEILING - 0.01)['term']}\"; probability that it is an "
                       f"actor the knowledge base does not profile: {unknown:.0%}.")
    return Attribution(
        candidates=candidates, unknown_probability=unknown, confidence=confidence, explanation=explanation,
        report_claims=claims, disagreements=disagreements, excluded_sources=excluded,
        dropped_relationships=ps.dropped_relationships, unresolved=list(observations.unresolved),
        names=names, sufficiency=enough, claim_tests=tests, profiles=ps,
    )
