"""Score every group against a case: BM25-weighted overlap of techniques and software, victimology and time.

Evidence weighs by how distinctive it is among groups (IDF): a custom malware family used by one group says far
more than Cobalt Strike, and T1059 says almost nothing. Each score keeps its contributions for the explanation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from threadline.attribute.observations import Observations
from threadline.attribute.profiles import DISTINCTIVE_SHARE as DISTINCTIVE_SHARE  # re-exported: the grading
from threadline.attribute.profiles import GENERIC_SHARE, GroupProfile, ProfileSet, sector_stems
from threadline.attribute.ranker import EVIDENCE, PROFILE, Ranker

# Document-frequency shares above which a feature is "generic" (used by more than this share of groups:
# profiles.GENERIC_SHARE, 0.10) and at or below which it is "distinctive" (profiles.DISTINCTIVE_SHARE, 0.04);
# used for the explanation, the ranker's buckets and the generic-evidence cap.
IMPLIED_SPREAD = 10.0     # a tool's implied techniques weigh in full up to this many, then share the weight


@dataclass(frozen=True, slots=True)
class Weights:
    """Tunable weights (bench/attribution.py measures them on leave-one-out cases)."""

    k1: float = 2.5
    b: float = 0.5
    idf_power: float = 1.0        # >1 sharpens the preference for distinctive techniques
    software_technique: float = 0.35   # a technique known only through one of the group's tools
    implied: float = 0.1          # weight of the techniques the observed software implements
    lineage: float = 0.5          # an observed family related (variant, successor) to one the group uses
    parent: float = 0.0           # partial credit through the technique hierarchy (measured: no gain)
    software: float = 1.5
    sector: float = 0.4
    country: float = 0.6
    victim_norm: float = 0.5      # victims' weight / (number the case names) ** this: a long list says less of each
    time: float = 1.2             # penalty per year between the case and the group's nearest evidence
    time_slack: float = 1.0       # years of slack before the penalty starts
    time_cap: float = 6.0
    support: float = 0.0          # extra term frequency per log-number of reports behind a group's technique
    support_share: float = 0.0    # extra term frequency for the share of the group's reports behind it
    recency: float = 0.5          # bonus for the share of the group's dated evidence near the case's dates
    prior: float = 0.5            # log-prior on how much has been reported about the group


@dataclass(frozen=True, slots=True)
class Contribution:
    """One observed feature a group shares with the case, and what it added to the score."""

    kind: str                     # technique | software | sector | country | time | prior | profile
    key: str
    value: float
    idf: float
    groups: int                   # how many groups have it (document frequency)
    via: str = "direct"           # direct | software (a tool's technique) | description | lineage:S... | parent
    #                               (time: gap | recency; profile: the ranker's feature name)
    level: str = "generic"        # distinctive | moderate | generic (by the share of groups that have it)

    @property
    def distinctive(self) -> bool:
        return self.level == "distinctive" and self.kind in ("technique", "software") and self.via in (
            "direct", "description", "galaxy", "store")


@dataclass(slots=True)
class GroupScore:
    attack_id: str
    name: str
    score: float
    empty: bool
    contributions: list[Contribution] = field(default_factory=list)
    features: dict[str, float] = field(default_factory=dict)   # the ranker's inputs (hand-weighted sums)

    @property
    def matched(self) -> int:
        return sum(c.value > 0 for c in self.contributions)


KNOWN_VIA = ("galaxy", "store")    # evidence the group holds through known.py's links, not ATT&CK's relationships


def _known_via(profile: GroupProfile, key: str) -> str | None:
    """``galaxy`` or ``store`` when the profile holds the feature through a link from outside ATT&CK."""
    sources = profile.known.get(key) if profile.known else None
    if not sources:
        return None
    return "store" if all(s.startswith("stored analysis") for s in sources) else "galaxy"


def _bm25(idf: float, tf: float, norm: float, w: Weights) -> float:
    return math.pow(idf, w.idf_power) * tf * (w.k1 + 1) / (tf + w.k1 * norm)


def _time_penalty(years: tuple[float, ...], case: tuple[float, float] | None, w: Weights) -> float:
    """Years between the case's period and the group's nearest dated evidence, beyond the slack (>= 0)."""
    if case is None or not years:
        return 0.0
    lo, hi = case
    gap = min(0.0 if lo <= y <= hi else min(abs(y - lo), abs(y - hi)) for y in years)
    return min(max(gap - w.time_slack, 0.0), w.time_cap)


def level_of(ps: ProfileSet, kind: str, key: str) -> str:
    """How distinctive a feature is: the share of groups that have it."""
    share = ps.grading_frequency(kind, key) / max(ps.n_groups, 1)
    return "distinctive" if share <= DISTINCTIVE_SHARE else "moderate" if share <= GENERIC_SHARE else "generic"


def score_group(obs: Observations, profile: GroupProfile, ps: ProfileSet, w: Weights,
                obs_sectors: frozenset[str], query: list[tuple[str, float]], levels: dict[str, str]) -> GroupScore:
    """One group's score and contributions for a case (``query``: techniques with their weight in the case)."""
    terms = _terms(obs, profile, ps, w, obs_sectors, query, levels)
    out = GroupScore(profile.attack_id, profile.name, 0.0, profile.empty, [Contribution(*t) for t in terms])
    out.score = sum(c.value for c in out.contributions)
    return out


# A contribution's fields as a tuple (kind, key, value, idf, groups, via, level): score_groups makes each group's
# Contribution objects once, already scaled by the ranker (they were made twice, half of its time).
Term = tuple[str, str, float, float, int, str, str]


def _terms(obs: Observations, profile: GroupProfile, ps: ProfileSet, w: Weights, obs_sectors: frozenset[str],
           query: list[tuple[str, float]], levels: dict[str, str]) -> list[Term]:
    out: list[Term] = []
    length, n_sources, _ = ps.shape(profile)
    norm = 1 - w.b + w.b * (length / ps.avg_length if ps.avg_length else 1.0)
    techniques = profile.techniques
    for tid, q in query:
        tf = techniques.get(tid, 0.0)
        if not tf and not w.parent:
            continue    # nothing to add (the loop's cost is here: every group meets every query technique)
        idf = ps.idf("technique", tid)
        via = "direct" if tf >= 1.0 else _known_via(profile, tid) or "software"
        if via == "software" and tf:
            tf = w.software_technique
        elif tf and (w.support or w.support_share):
            reports = len(profile.sources.get(tid, ()))
            tf += w.support * math.log(max(reports, 1)) + w.support_share * reports / max(n_sources, 1)
        if not tf and w.parent:
            tf = w.parent * profile.parents.get(tid.split(".")[0], 0.0)
            idf = min(idf, ps.idf("parent", tid.split(".")[0]))
            via = "parent"
        if tf:
            value = q * _bm25(idf, tf, norm, w)
            out.append(("technique", tid, value, idf, ps.frequency("technique", tid),
                        via if q == 1.0 else "implied", levels[tid]))
    for sid in obs.software:
        if sid in profile.software:
            idf = ps.idf("software", sid)
            weight = profile.software[sid]
            tf = weight * (1 + w.support * math.log(max(len(profile.sources.get(sid, ())), 1)))
            via = "direct" if weight >= 1.0 else _known_via(profile, sid) or "description"
            out.append(("software", sid, w.software * idf * tf, idf, ps.frequency("software", sid), via,
                        levels[sid]))
    for sid in obs.software:
        if sid in profile.software or not w.lineage:
            continue
        kin = [r for r in ps.relatives(sid) if r in profile.software]
        if kin:   # a variant or relative of the observed family is in the group's kit
            idf = min(ps.idf("software", sid), max(ps.idf("software", r) for r in kin))
            out.append(("software", sid, w.software * w.lineage * idf, idf, ps.frequency("software", sid),
                        f"lineage:{','.join(kin[:3])}", levels[sid]))
    # A report on a campaign "across nine countries and ten sectors" would otherwise give a group with a broad
    # victimology nine countries' worth of evidence: like a query vector in retrieval, the case's victims are
    # normalised by how many it names (one country weighs as before).
    per_country = w.country / max(len(obs.countries), 1) ** w.victim_norm
    per_sector = w.sector / max(len(obs.sectors), 1) ** w.victim_norm
    for code in obs.countries:
        if code in profile.countries:
            idf = ps.idf("country", code)
            out.append(("country", code, per_country * idf, idf, ps.frequency("country", code),
                        _known_via(profile, f"country:{code}") or "direct", "generic"))
    for stem in obs_sectors & profile.sectors:
        idf = ps.idf("sector", stem)
        out.append(("sector", stem, per_sector * idf, idf, ps.frequency("sector", stem),
                    _known_via(profile, f"sector:{stem}") or "direct", "generic"))
    case = obs.years() if out else None
    gap = _time_penalty(profile.years, case, w)     # what follows needs evidence: no time or prior terms without
    if gap and out:
        out.append(("time", f"{gap:.1f} years apart", -w.time * gap, 0.0, 0, "gap", "generic"))
    if out and w.recency and profile.years and case is not None:
        near = sum(case[0] - 1.0 <= y <= case[1] + 1.0 for y in profile.years)
        out.append(("time", f"{near} of {len(profile.years)} dated sources near the case",
                    w.recency * math.log((near + 0.5) / (len(profile.years) + 1)), 0.0, 0, "recency", "generic"))
    if out and w.prior:
        out.append(("prior", f"{n_sources} sources", w.prior * math.log(1 + n_sources), 0.0, 0, "direct", "generic"))
    return out


def bucket_of(c: Contribution) -> str:
    """The ranker's evidence feature a contribution adds to."""
    return _bucket(c.kind, c.via, c.level)


def _bucket(kind: str, via: str, level: str) -> str:
    if kind == "technique":
        if via in ("implied", "software", *KNOWN_VIA):   # a stored report's technique weighs as a tool's does
            return "technique_implied" if via == "implied" else "technique_of_tool"
        return f"technique_{level}"
    if kind == "software":
        if via.startswith("lineage"):
            return "software_lineage"
        if via in ("description", *KNOWN_VIA):           # a link stated outside ATT&CK's "uses"
            return "software_described"
        return "software_distinctive" if level == "distinctive" else "software_other"
    if kind == "time":
        return "time_gap" if via == "gap" else "recency"
    return kind


def _direct(profile: GroupProfile, key: str) -> bool:
    return key in profile.software if key.startswith("S") else profile.techniques.get(key, 0.0) >= 1.0


def pair_rarity(keys: list[str], ps: ProfileSet) -> dict[str, tuple[float, float]]:
    """Per group, the summed rarity (BM25 IDF over groups) of the pairs of observed techniques/software it shares
    with the case, all pairs and pairs with a tool, each divided by the number of observations - 1: two common
    techniques seen together can be rare."""
    live = [p for p in ps.profiles.values() if not p.empty]
    if len(keys) < 2 or not live:
        return {}
    has = np.array([ps.held_directly(k) for k in keys]).T      # _direct of every live group, by column
    df = has.T @ has
    idf = np.log(1 + (len(live) - df + 0.5) / (df + 0.5))
    np.fill_diagonal(idf, 0.0)
    tool = np.array([k.startswith("S") for k in keys])
    with_tool = idf * (tool[:, None] | tool[None, :])
    both = ((has @ idf) * has).sum(1) / 2 / (len(keys) - 1)
    tools = ((has @ with_tool) * has).sum(1) / 2 / (len(keys) - 1)
    return {p.attack_id: (float(both[i]), float(tools[i])) for i, p in enumerate(live)}


def held_by(obs: Observations, ps: ProfileSet) -> dict[str, int]:
    """How many groups hold each observed technique and software (the grading frequency), the same for every group."""
    return {k: ps.grading_frequency("software" if k.startswith("S") else "technique", k)
            for k in (*obs.techniques, *obs.software)}


_RARITY = tuple(f"{kind}_held_by_{limit}" for kind in ("techniques", "software") for limit in (1, 3, 10))


def profile_features(obs: Observations, profile: GroupProfile, ps: ProfileSet,
                     pairs: tuple[float, float], held: dict[str, int] | None = None) -> dict[str, float]:
    """How the group's profile and the case cover each other (zero for a group sharing no direct evidence).

    ``held``: :func:`held_by` for the case, computed once by the caller for all groups (else here)."""
    keys = [*obs.techniques, *obs.software]
    shared = [k for k in keys if _direct(profile, k)]
    length, _, size = ps.shape(profile)
    held = held if held is not None else held_by(obs, ps)
    distinctive = [k for k in keys if held[k] <= DISTINCTIVE_SHARE * ps.n_groups]
    counts = dict.fromkeys(_RARITY, 0)     # one pass over the shared keys (this ran six)
    for k in shared:
        kind = "software" if k.startswith("S") else "techniques"
        for limit in (1, 3, 10):
            if held[k] <= limit:
                counts[f"{kind}_held_by_{limit}"] += 1
    rarity = {name: float(n) for name, n in counts.items()}
    shared_set = set(shared)
    return {
        "rarest_shared": max((ps.idf("software" if k.startswith("S") else "technique", k) for k in shared),
                             default=0.0),
        "shared_count": float(len(shared)),
        "profile_share": len(shared) / size if size else 0.0,
        "case_share": len(shared) / len(keys) if keys else 0.0,
        "profile_size": math.log(1 + length),
        "rare_pairs": pairs[0],
        "rare_tool_pairs": pairs[1],
        **rarity,
        "distinctive_covered": sum(k in shared_set for k in distinctive) / len(distinctive) if distinctive else 0.0,
    }


_PROFILE_WORDS = {"rarest_shared": "rarity of the rarest shared observation", "shared_count": "observations shared",
                  "profile_share": "share of the group's profile seen in the case",
                  "case_share": "share of the case in the group's profile", "profile_size": "log size of the profile",
                  "rare_pairs": "rarity of the pairs of observations shared",
                  "rare_tool_pairs": "rarity of the pairs with a tool shared",
                  **{f"{kind}_held_by_{n}": f"{kind} shared that at most {n} group(s) hold"
                     for kind in ("techniques", "software") for n in (1, 3, 10)},
                  "distinctive_covered": "share of the case's distinctive observations the group holds"}


def apply_ranker(score: GroupScore, profile_values: dict[str, float], ranker: Ranker) -> None:
    """Set the group's features and its score under the ranker; contributions are rescaled so that they still add
    up to the score (the explanation shows what each piece of evidence weighed), plus one per profile feature."""
    _rank(score, [(c.kind, c.key, c.value, c.idf, c.groups, c.via, c.level) for c in score.contributions],
          profile_values, ranker)


def _rank(score: GroupScore, terms: list[Term], profile_values: dict[str, float], ranker: Ranker) -> None:
    """apply_ranker on a group's terms: its contributions are made here, once, already scaled."""
    features = dict.fromkeys(EVIDENCE, 0.0)
    scaled = []
    coefficients: dict[str, float] = {}
    for kind, key, value, idf, groups, via, level in terms:
        bucket = _bucket(kind, via, level)
        features[bucket] += value
        coefficient = coefficients.get(bucket)
        if coefficient is None:
            coefficient = coefficients[bucket] = ranker.coefficient(bucket)
        scaled.append(Contribution(kind, key, value * coefficient, idf, groups, via, level))
    features.update(profile_values)
    score.features = features
    for name in PROFILE:
        value = profile_values.get(name, 0.0) * ranker.coefficient(name)
        if value:
            scaled.append(Contribution("profile", f"{_PROFILE_WORDS[name]}: {profile_values[name]:.2f}", value,
                                       0.0, 0, name))
    score.contributions = scaled
    score.score = sum(c.value for c in scaled)


def score_groups(obs: Observations, ps: ProfileSet, w: Weights | None = None,
                 ranker: Ranker | None = None) -> list[GroupScore]:
    """Every group's score, best first; a group with an empty profile always ranks below any with evidence.

    ``ranker`` reweighs the kinds of evidence (the hand weights alone when None)."""
    w = w or Weights()
    ranker = ranker or Ranker()
    sectors = frozenset().union(*(sector_stems(s) for s in obs.sectors)) if obs.sectors else frozenset()
    # The techniques the observed software implements join the query, weighted low: the case's tools say what
    # it could do, not what was seen.
    # A tool with a long capability list (Cobalt Strike) spreads the same weight over more techniques.
    implied: dict[str, float] = {}
    for sid in obs.software if w.implied else ():
        capabilities = ps.techniques_of_software(sid)
        for t in capabilities:
            implied[t] = max(implied.get(t, 0.0), w.implied * min(1.0, IMPLIED_SPREAD / len(capabilities)))
    query = [(t, 1.0) for t in obs.techniques] + sorted((t, q) for t, q in implied.items() if t not in obs.techniques)
    levels = {t: level_of(ps, "technique", t) for t, _ in query}
    levels.update({s: level_of(ps, "software", s) for s in obs.software})
    pairs = pair_rarity([*obs.techniques, *obs.software], ps)
    held = held_by(obs, ps)
    scores = []
    for profile in ps.profiles.values():
        # score_group and apply_ranker in one: the contributions are made once, scaled (same values)
        terms = _terms(obs, profile, ps, w, sectors, query, levels)
        score = GroupScore(profile.attack_id, profile.name, 0.0, profile.empty)
        # Profile features only for a group that shares evidence: a group with none stays at zero.
        values = profile_features(obs, profile, ps, pairs.get(profile.attack_id, (0.0, 0.0)), held) if terms else {}
        _rank(score, terms, values, ranker)
        scores.append(score)
    scores.sort(key=lambda s: (not s.empty, s.score, s.matched), reverse=True)
    return scores
