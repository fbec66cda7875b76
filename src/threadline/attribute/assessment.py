"""Whether a case's evidence can attribute at all, and what it says of the report's own claim (issue 15).

Two questions an analyst asks before reading a ranking:
1. Is the evidence enough? A report whose techniques and tools are all generic (used by many groups, a parent
   technique, a tool of the operating system) or that names none can rank groups only by victims and popularity,
   and the calibration (fitted on ATT&CK's curated cases) overrates such rankings on real text. Such a case gets
   the outcome ``insufficient_evidence`` with its reason, and every candidate is kept at most "very unlikely".
2. Does the evidence support the report's claim ("does the evidence support RedDelta?")? Each claimed ATT&CK group
   is tested against its profile: consistent, inconsistent or untestable, with the evidence shared, what of it is
   distinctive, the group's hallmarks the report lacks, and a likelihood ratio against the best alternative.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from threadline.attribute.observations import Observations, ReportClaim
from threadline.attribute.profiles import ProfileSet
from threadline.attribute.scoring import Contribution, GroupScore

THIN_CEILING = 0.20            # top of ICD-203 "very unlikely": the most a candidate gets on too-thin evidence
CLAIMING = ("attributed", "suspected", "overlaps")
ASSESSED, INSUFFICIENT = "assessed", "insufficient_evidence"


def is_evidence(c: Contribution) -> bool:
    """A technique or software the case itself shows and the group holds (not a tool's implied capability, nor a
    technique the group is known for only through one of its tools)."""
    return _evidence(c.kind, c.via)


def _evidence(kind: str, via: str) -> bool:
    return kind in ("technique", "software") and via not in ("implied", "software")


def is_distinctive(c: Contribution) -> bool:
    """Distinctive evidence: few groups hold it; a related family ("lineage") counts, implied techniques do not."""
    return is_evidence(c) and c.level == "distinctive"


@dataclass(frozen=True, slots=True)
class Sufficiency:
    outcome: str                   # ASSESSED | INSUFFICIENT
    reason: str
    names_ttp: bool                # the case shows any technique or software at all


def sufficiency(obs: Observations, scores: Sequence[GroupScore]) -> Sufficiency:
    """Whether any distinctive technique or software of the case reaches a profiled group."""
    n_t, n_s = len(obs.techniques), len(obs.software)
    if not n_t and not n_s:
        return Sufficiency(INSUFFICIENT, "the report names no technique or tool the knowledge base knows; victims "
                           "and dates alone are shared by dozens of groups", False)
    # Read through evidence_labels: every group's contributions would otherwise be made (see contributions.py).
    if any(_evidence(kind, via) and level == "distinctive" for s in scores for kind, _, via, level in
           s.evidence_labels()):
        return Sufficiency(ASSESSED, "at least one distinctive technique or tool is shared with a profiled group",
                           True)
    held = {key for s in scores for kind, key, via, _ in s.evidence_labels() if _evidence(kind, via)}
    unheld = len(set(obs.techniques) | set(obs.software)) - len(held)
    what = f"{n_t} technique(s) and {n_s} tool(s)"
    tail = f"; {unheld} of them no profiled group is known to use" if unheld > 0 else ""
    return Sufficiency(INSUFFICIENT, f"none of the report's {what} is distinctive: each is used by many groups, is a "
                       f"parent technique or is a tool of the operating system{tail}", True)


def _odds(ratio: float) -> str:
    return "more than 1,000 to 1" if ratio > 1000 else f"about {ratio:.0f} to 1" if ratio >= 3 else \
        f"about {ratio:.1f} to 1"


def ratio_words(ratio: float, claimed: str, other: str) -> str:
    """A likelihood ratio in words (the verbal scale forensic reporting uses, folded to five steps)."""
    ratio = max(ratio, 1e-12)
    if ratio >= 10:
        return f"the evidence is much more probable if it is {claimed} than {other} ({_odds(ratio)})"
    if ratio >= 3:
        return f"the evidence is more probable if it is {claimed} than {other} ({_odds(ratio)})"
    if ratio > 1 / 3:
        return f"the evidence does not tell {claimed} from {other} ({_odds(max(ratio, 1 / ratio))})"
    if ratio > 1 / 10:
        return f"the evidence is more probable if it is {other} than {claimed} ({_odds(1 / ratio)})"
    return f"the evidence is much more probable if it is {other} than {claimed} ({_odds(1 / ratio)})"


@dataclass(slots=True)
class ClaimTest:
    """The report's claim about one actor, tested against the evidence in the report."""

    actor: str
    attack_id: str | None
    strength: str
    verdict: str                   # consistent | inconsistent | untestable
    reason: str
    shared: list[dict[str, Any]] = field(default_factory=list)
    distinctive: list[dict[str, Any]] = field(default_factory=list)
    missing: list[dict[str, Any]] = field(default_factory=list)
    alternative: dict[str, str] | None = None
    likelihood_ratio: float | None = None
    comparison: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"actor": self.actor, "attack_id": self.attack_id, "strength": self.strength, "verdict": self.verdict,
                "reason": self.reason, "shared": self.shared, "distinctive": self.distinctive,
                "missing": self.missing, "alternative": self.alternative,
                "likelihood_ratio": round(self.likelihood_ratio, 3) if self.likelihood_ratio is not None else None,
                "comparison": self.comparison}


def evidence_item(c: Contribution, ps: ProfileSet, names: dict[str, str], group: str | None = None
                  ) -> dict[str, Any]:
    """One shared observation as the analyst reads it, with what made it distinctive (or not) and, for ``group``,
    where the group's side of it comes from: ATT&CK, or the links of known.py (a galaxy, a stored analysis)."""
    profile = ps.profiles.get(group) if group else None
    known = profile.known.get(c.key if c.kind in ("technique", "software") else f"{c.kind}:{c.key}", ()) \
        if profile is not None and c.via in ("galaxy", "store") else ()
    return {"kind": c.kind, "id": c.key, "name": names.get(c.key, c.key), "level": c.level,
            "why": ps.grading_reason(c.kind, c.key) + (f" (a relative of {c.via[8:]}, which the group uses)"
                                                        if c.via.startswith("lineage:") else ""),
            "source": list(known) or "ATT&CK"}


def assess_claims(claims: Sequence[ReportClaim], scores: Sequence[GroupScore], conditional: Sequence[float],
                enough: Sufficiency, ps: ProfileSet, names: dict[str, str],
                missing: Callable[[str], list[dict[str, Any]]]) -> list[ClaimTest]:
    """Each claimed ATT&CK group against the evidence. ``scores`` are every group's, best first, with
    ``conditional`` their probabilities given a profiled actor (before any cap): the ratio of two of them is the
    likelihood ratio of the evidence under the two hypotheses, the priors being the ranker's."""
    out: list[ClaimTest] = []
    index = {s.attack_id: i for i, s in enumerate(scores)}
    # One test per claimed actor: "RedDelta" and "TA416" are both Mustang Panda; the strongest wording is kept.
    by_actor: dict[str, tuple[list[str], ReportClaim]] = {}
    for claim in claims:
        if claim.strength not in CLAIMING or not claim.actor:
            continue
        spelled, first = by_actor.setdefault(claim.attack_id or claim.actor.casefold(), ([], claim))
        if claim.actor not in spelled:
            spelled.append(claim.actor)
        if CLAIMING.index(claim.strength) < CLAIMING.index(first.strength):
            by_actor[claim.attack_id or claim.actor.casefold()] = (spelled, claim)
    for spelled, claim in by_actor.values():
        actor = " / ".join(spelled)
        if claim.attack_id is None or claim.attack_id not in index:
            out.append(ClaimTest(actor, claim.attack_id, claim.strength, "untestable",
                                 f"{actor} is not an ATT&CK group: there is no profile to test the claim against"))
            continue
        i = index[claim.attack_id]
        own = scores[i]
        shared = [evidence_item(c, ps, names, own.attack_id) for c in sorted(own.contributions, key=lambda c: -c.value)
                  if is_evidence(c)]
        distinctive = [evidence_item(c, ps, names, own.attack_id) for c in own.contributions if is_distinctive(c)]
        best = next((j for j in range(len(scores)) if j != i), None)
        test = ClaimTest(actor, claim.attack_id, claim.strength, "untestable", "", shared, distinctive,
                         missing(claim.attack_id))
        label = f"{own.name} ({own.attack_id})"
        if enough.outcome == INSUFFICIENT:
            # On victims and generic techniques alone the ratio says more about popularity than about the claim:
            # no rival is named.
            why = "it names no technique or tool" if not enough.names_ttp else "its techniques and tools are generic"
            test.reason = f"untestable from this text ({why}), not contradicted"
            test.comparison = "not compared with other groups: the evidence is too thin to tell them apart"
            out.append(test)
            continue
        if best is not None and conditional:
            alt = scores[best]
            test.alternative = {"attack_id": alt.attack_id, "name": alt.name}
            ratio = conditional[i] / max(conditional[best], 1e-300)
            test.likelihood_ratio = ratio if math.isfinite(ratio) else None
            test.comparison = ratio_words(ratio, label, f"{alt.name} ({alt.attack_id})")
        rival_distinctive = best is not None and any(is_distinctive(c) for c in scores[best].contributions)
        ratio = test.likelihood_ratio if test.likelihood_ratio is not None else 1.0
        if distinctive and ratio >= 1 / 10:
            test.verdict = "consistent"
            test.reason = (f"the report shares {len(distinctive)} distinctive observation(s) with {label}'s known "
                           "profile")
        elif rival_distinctive and ratio < 1 / 10 and test.alternative is not None:
            test.verdict = "inconsistent"
            test.reason = (f"the report's distinctive evidence fits {test.alternative['name']}'s profile much better "
                           f"than "
                           f"{label}'s" + (f", though {len(distinctive)} distinctive observation(s) are shared with it"
                                           if distinctive else ""))
        elif shared and ratio > 1 / 3:
            test.verdict = "consistent"
            test.reason = (f"{label} holds {len(shared)} of the report's techniques and tools, none distinctive, "
                           "and no other group is clearly more probable: consistent, weakly")
        else:
            test.reason = (f"the report's distinctive evidence is not in {label}'s profile, and points to no other "
                           "group clearly: neither supported nor contradicted")
        out.append(test)
    return out
