"""ICD-203 wording: words of estimative probability, analytic confidence with its reasons, the explanation,
and the report's own claims set beside the engine's view."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from threadline.attribute.observations import Observations, ReportClaim

# ICD-203 (2015) expressions of likelihood and their ranges.
ESTIMATIVE: tuple[tuple[float, str, str], ...] = (
    (0.05, "almost no chance", "01-05%"),
    (0.20, "very unlikely", "05-20%"),
    (0.45, "unlikely", "20-45%"),
    (0.55, "roughly even chance", "45-55%"),
    (0.80, "likely", "55-80%"),
    (0.95, "very likely", "80-95%"),
    (1.01, "almost certain", "95-99%"),
)
LIKELY_CEILING = 0.80     # "likely" at most: the cap for candidates backed only by generic evidence


def estimative(probability: float) -> dict[str, str]:
    """The ICD-203 expression for a probability, with its range."""
    for upper, term, span in ESTIMATIVE:
        if probability < upper:
            return {"term": term, "range": span}
    return {"term": ESTIMATIVE[-1][1], "range": ESTIMATIVE[-1][2]}


@dataclass(frozen=True, slots=True)
class CandidateView:
    """What the explanation needs to know about a ranked candidate."""

    attack_id: str
    name: str
    probability: float
    distinctive: tuple[str, ...]
    shared: int
    generic_only: bool


def _actors_claimed(obs: Observations) -> list[str]:
    """The distinct actors the report itself attributes activity to (attributed, suspected or overlapping)."""
    names: dict[str, str] = {}
    for claim in obs.report_claims:
        if claim.actor and claim.strength in ("attributed", "suspected", "overlaps"):
            names.setdefault(claim.attack_id or claim.actor.casefold(), claim.actor)
    return list(names.values())


def analytic_confidence(candidates: Sequence[CandidateView], obs: Observations, unknown: float,
                        dropped: int, excluded: Sequence[str]) -> dict[str, Any]:
    """Low / moderate / high, with the reasons: how much distinctive evidence, how clear the margin."""
    reasons: list[str] = []
    if not candidates:
        return {"level": "low", "reasons": ["no profiled group shares any of the observations"]}
    top = candidates[0]
    second = candidates[1].probability if len(candidates) > 1 else 0.0
    ratio = top.probability / second if second else float("inf")
    n_obs = len(obs.techniques) + len(obs.software)
    reasons.append(f"{len(top.distinctive)} distinctive observation(s) shared with {top.name}"
                   + (f" ({', '.join(top.distinctive[:5])})" if top.distinctive else ""))
    if top.generic_only:
        reasons.append("the shared evidence is only generic techniques or tools that many groups use")
    reasons.append(f"{n_obs} technique/software observation(s) in the case")
    reasons.append("runner-up is " + (f"{ratio:.1f}x less probable" if second else "absent"))
    if unknown >= 0.5:
        reasons.append(f"an actor the knowledge base does not profile is at least as probable ({unknown:.0%})")
    if excluded and dropped:
        reasons.append(f"{dropped} knowledge-base relationship(s) supported only by the excluded source(s) "
                       "were left out to avoid circular reporting")
    elif excluded:
        reasons.append("every knowledge-base relationship citing the excluded source(s) is corroborated by another "
                       "source, so the exclusion changed nothing")
    if obs.unresolved:
        reasons.append(f"{len(obs.unresolved)} observation(s) not in the knowledge base were not weighed")
    pooled = _actors_claimed(obs)
    if len(pooled) > 1:
        # A round-up of several intrusions ("cluster one: APT41 ... cluster three: Turla") gives the engine their
        # evidence as one case: the ranking then mixes them, and no margin in it can be trusted.
        reasons.append(f"the report attributes activity to {len(pooled)} actors ({', '.join(pooled)}): its "
                       "observations pool several intrusions, which the engine weighs as one case")
    if len(pooled) > 1:
        level = "low"
    elif len(top.distinctive) >= 3 and top.probability >= 0.55 and ratio >= 3 and not top.generic_only:
        level = "high"
    elif top.distinctive and ratio >= 1.5 and not top.generic_only and unknown < 0.5:
        level = "moderate"
    else:
        level = "low"
    reasons.append("analytic confidence also depends on source reliability, which the engine does not assess")
    return {"level": level, "reasons": reasons}


def compare_claims(claims: Sequence[ReportClaim], ranking: dict[str, tuple[int, float]],
                   top: CandidateView | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The report's claims with the engine's view of each, and the disagreements between them.

    ``ranking`` maps a G-id to its (1-based rank, probability) among groups that share any evidence.
    """
    views: list[dict[str, Any]] = []
    disagreements: list[dict[str, Any]] = []
    claimed = {c.attack_id for c in claims if c.attack_id and c.strength in ("attributed", "suspected", "overlaps")}
    for claim in claims:
        view = claim.to_dict()
        rank, probability = ranking.get(claim.attack_id or "", (None, 0.0))
        view["engine"] = {"rank": rank, "probability": round(probability, 4),
                          "estimative": estimative(probability)["term"]}
        views.append(view)
        label = f"{claim.actor}" + (f" ({claim.attack_id})" if claim.attack_id else "")
        if claim.attack_id is None:
            if claim.strength != "unknown":
                disagreements.append({"actor": claim.actor, "attack_id": None, "kind": "not-profiled",
                                      "message": f"the report names {claim.actor}, which is not an ATT&CK group: "
                                                 "the engine cannot weigh it"})
            continue
        if claim.strength in ("attributed", "suspected") and (rank is None or rank > 3):
            where = "shares none of the observations" if rank is None else f"ranks {rank}"
            disagreements.append({"actor": claim.actor, "attack_id": claim.attack_id, "kind": "claim-not-supported",
                                  "message": f"the report says {claim.strength} to {label}; in the engine's view "
                                             f"it {where} ({probability:.0%})"})
        elif claim.strength == "denied" and rank == 1 and probability >= 0.55:
            disagreements.append({"actor": claim.actor, "attack_id": claim.attack_id, "kind": "denied-but-top",
                                  "message": f"the report rules out {label}, yet it is the engine's top candidate "
                                             f"({probability:.0%})"})
    if top is not None and claims and top.attack_id not in claimed and top.probability >= 0.55:
        disagreements.append({"actor": top.name, "attack_id": top.attack_id, "kind": "engine-prefers-other",
                              "message": f"the engine's top candidate {top.name} ({top.attack_id}, "
                                         f"{top.probability:.0%}) is not an actor the report attributes to"})
    return views, disagreements


def explain(candidates: Sequence[CandidateView], unknown: float, confidence: dict[str, Any],
            obs: Observations, excluded: Sequence[str]) -> str:
    """A short paragraph in ICD-203 terms."""
    if not candidates:
        return ("No ATT&CK group shares any of the observations; the actor is unknown to the knowledge base "
                "or the observations are too few.")
    top = candidates[0]
    words = estimative(top.probability)
    text = [f"It is {words['term']} ({words['range']}) that the activity is {top.name} ({top.attack_id}), "
            f"with {confidence['analytic_confidence']} analytic confidence."]
    if top.distinctive:
        text.append(f"Distinctive evidence shared: {', '.join(top.distinctive[:6])}.")
    if top.generic_only:
        text.append("The shared evidence is generic (techniques and tools many groups use), so the assessment "
                    "is never above \"likely\".")
    if len(candidates) > 1:
        alt = candidates[1]
        text.append(f"Next: {alt.name} ({alt.attack_id}), {estimative(alt.probability)['term']}.")
    text.append(f"Probability that it is an actor the knowledge base does not profile: {unknown:.0%}.")
    pooled = _actors_claimed(obs)
    if len(pooled) > 1:
        text.append(f"The report covers several actors ({', '.join(pooled)}); their evidence is weighed together, "
                    "so read this ranking as a mixture, not as one intrusion's attribution.")
    if excluded:
        text.append(f"Knowledge-base evidence resting only on {', '.join(excluded)} was excluded.")
    if obs.unresolved:
        text.append(f"Not weighed (unknown to the knowledge base): {', '.join(obs.unresolved[:5])}.")
    return " ".join(text)
