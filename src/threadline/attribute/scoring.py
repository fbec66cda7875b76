"""Score every group against a case: BM25-weighted overlap of techniques and software, victimology and time.

Evidence weighs by how distinctive it is among groups (IDF): a custom malware family used by one group says far
more than Cobalt Strike, and T1059 says almost nothing. Each score keeps its contributions for the explanation.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import numpy.typing as npt

from threadline.attribute.contributions import KNOWN_VIA as KNOWN_VIA  # re-exported
from threadline.attribute.contributions import Coefficients, Term, bucket, coefficient
from threadline.attribute.contributions import Contribution as Contribution  # re-exported
from threadline.attribute.contributions import GroupScore as GroupScore
from threadline.attribute.observations import Observations
from threadline.attribute.profiles import DISTINCTIVE_SHARE as DISTINCTIVE_SHARE  # re-exported: the grading
from threadline.attribute.profiles import GENERIC_SHARE, GroupProfile, ProfileSet, sector_stems
from threadline.attribute.ranker import Ranker

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


def _known_via(profile: GroupProfile, key: str) -> str | None:
    """``galaxy`` or ``store`` when the profile holds the feature through a link from outside ATT&CK (known.py)."""
    sources = profile.known.get(key) if profile.known else None
    if not sources:
        return None
    return "store" if all(s.startswith("stored analysis") for s in sources) else "galaxy"


def _bm25(idf: float, tf: float, norm: float, w: Weights) -> float:
    return math.pow(idf, w.idf_power) * tf * (w.k1 + 1) / (tf + w.k1 * norm)


def _time_penalty(years: tuple[float, ...], case: tuple[float, float] | None, w: Weights) -> float:
    """Years between the case's period and the group's nearest dated evidence, beyond the slack (>= 0).

    ``years`` is sorted (profiles sort them): the nearest year is next to where the period would be inserted,
    found by bisection (every group's years were scanned for every case). Exactly ``min(0 if lo <= y <= hi else
    min(|y - lo|, |y - hi|) for y in years)``: y - lo is -(lo - y) in floating point too."""
    if case is None or not years:
        return 0.0
    lo, hi = case
    first = bisect_left(years, lo)             # years[first:] >= lo
    if first < len(years) and years[first] <= hi:
        gap = 0.0
    else:
        gap = min(lo - years[first - 1] if first else math.inf, years[first] - hi if first < len(years) else math.inf)
    return min(max(gap - w.time_slack, 0.0), w.time_cap)


def _near(years: tuple[float, ...], lo: float, hi: float) -> int:
    """How many of the sorted ``years`` lie in [lo, hi]."""
    return bisect_right(years, hi) - bisect_left(years, lo)


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
        near = _near(profile.years, case[0] - 1.0, case[1] + 1.0)
        out.append(("time", f"{near} of {len(profile.years)} dated sources near the case",
                    w.recency * math.log((near + 0.5) / (len(profile.years) + 1)), 0.0, 0, "recency", "generic"))
    if out and w.prior:
        out.append(("prior", f"{n_sources} sources", w.prior * math.log(1 + n_sources), 0.0, 0, "direct", "generic"))
    return out


@dataclass(slots=True)
class _Case:
    """What every group's terms need of the case, worked out once per case (score_groups) instead of once per
    group: each entry holds exactly the floats the per-group code computes, so the scores are the same to the bit."""

    techniques: list[tuple[str, float, float, float, int, str]]   # (tid, q, idf, idf ** idf_power, groups, level)
    software: list[tuple[str, float, float, int, str]]            # (sid, idf, weight * idf, groups, level)
    countries: list[tuple[str, float, float, int]]               # (code, per-country value, idf, groups)
    period: tuple[float, float] | None
    coefficients: Coefficients                                   # the ranker's, filled as met
    relatives: list[list[str]] = field(default_factory=list)     # ps.relatives of each software, in its order
    # profile_features' side of the case: (key, is software, IDF, rarity counts it adds to), the distinctive keys
    keys: list[tuple[str, bool, float, tuple[str, ...]]] = field(default_factory=list)
    distinctive: list[str] = field(default_factory=list)


def _case(obs: Observations, ps: ProfileSet, w: Weights, query: list[tuple[str, float]],
          levels: dict[str, str]) -> _Case:
    techniques = []
    for tid, q in query:
        idf = ps.idf("technique", tid)
        techniques.append((tid, q, idf, math.pow(idf, w.idf_power), ps.frequency("technique", tid), levels[tid]))
    software = [(sid, idf, w.software * idf, ps.frequency("software", sid), levels[sid])
                for sid in obs.software for idf in (ps.idf("software", sid),)]
    per_country = w.country / max(len(obs.countries), 1) ** w.victim_norm
    countries = [(code, per_country * idf, idf, ps.frequency("country", code))
                 for code in obs.countries for idf in (ps.idf("country", code),)]
    out = _Case(techniques, software, countries, obs.years(), {}, [ps.relatives(sid) for sid in obs.software])
    held = held_by(obs, ps)
    for k in (*obs.techniques, *obs.software):
        tool = k.startswith("S")
        kind = "software" if tool else "techniques"
        out.keys.append((k, tool, ps.idf("software" if tool else "technique", k),
                         tuple(f"{kind}_held_by_{limit}" for limit in (1, 3, 10) if held[k] <= limit)))
    out.distinctive = [k for k, _, _, _ in out.keys if held[k] <= DISTINCTIVE_SHARE * ps.n_groups]
    return out


def _case_features(profile: GroupProfile, ps: ProfileSet, case: _Case, pairs: tuple[float, float]) -> dict[str, float]:
    """:func:`profile_features` with the case's side precomputed (same values, same order of keys)."""
    techniques, software = profile.techniques, profile.software
    shared = [(k, idf, bumps) for k, tool, idf, bumps in case.keys
              if (k in software if tool else techniques.get(k, 0.0) >= 1.0)]
    length, _, size = ps.shape(profile)
    counts = dict.fromkeys(_RARITY, 0)
    for _, _, bumps in shared:
        for name in bumps:
            counts[name] += 1
    shared_set = {k for k, _, _ in shared}
    distinctive = case.distinctive
    n_keys = len(case.keys)
    return {
        "rarest_shared": max((idf for _, idf, _ in shared), default=0.0),
        "shared_count": float(len(shared)),
        "profile_share": len(shared) / size if size else 0.0,
        "case_share": len(shared) / n_keys if n_keys else 0.0,
        "profile_size": math.log(1 + length),
        "rare_pairs": pairs[0],
        "rare_tool_pairs": pairs[1],
        **{name: float(n) for name, n in counts.items()},
        "distinctive_covered": sum(k in shared_set for k in distinctive) / len(distinctive) if distinctive else 0.0,
    }


_direct_columns: dict[int, tuple[ProfileSet, dict[str, npt.NDArray[np.bool_]]]] = {}


def _direct_column(ps: ProfileSet, key: str) -> npt.NDArray[np.bool_]:
    """:func:`_direct` of every group (``ps.profiles`` order) for a technique or software, kept per profile set."""
    memo = _direct_columns.get(id(ps))
    if memo is None or memo[0] is not ps:
        if len(_direct_columns) >= _TF_SETS:
            _direct_columns.clear()
        memo = _direct_columns[id(ps)] = (ps, {})
    found = memo[1].get(key)
    if found is None:
        found = memo[1][key] = np.array([_direct(p, key) for p in ps.profiles.values()], dtype=bool)
    return found


class _SharedCounts:
    """:func:`_case_features` for every group at once: what the case's keys each group holds directly comes to
    (counts as integers, the rarest IDF as the very float), then each group's features as there."""

    def __init__(self, ps: ProfileSet, case: _Case) -> None:
        self.ps, self.case = ps, case
        n = len(ps.profiles)
        keys = case.keys
        if not keys or not n:
            self.count, self.rarest = [0] * n, [0.0] * n
            self.bumps, self.covered = [[0] * len(_RARITY) for _ in range(n)], [0] * n
            return
        held = np.stack([_direct_column(ps, k) for k, _, _, _ in keys], axis=1)          # groups x keys
        idf = np.array([i for _, _, i, _ in keys])
        bumps = np.array([[name in names for name in _RARITY] for _, _, _, names in keys], dtype=np.int64)
        first = {k: j for j, (k, _, _, _) in reversed(list(enumerate(keys)))}
        distinctive = [first[k] for k in case.distinctive]
        self.count = [int(x) for x in held.sum(axis=1)]
        # max() of the shared keys' IDFs (0.0 without any): the largest of the same floats
        self.rarest = [float(x) if c else 0.0 for x, c in zip(np.where(held, idf[None, :], -np.inf).max(axis=1),
                                                                self.count, strict=True)]
        self.bumps = (held.astype(np.int64) @ bumps).tolist()
        self.covered = [int(x) for x in held[:, distinctive].sum(axis=1)] if distinctive else [0] * n

    def features(self, n: int, profile: GroupProfile, pairs: tuple[float, float]) -> dict[str, float]:
        """:func:`_case_features` of the ``n``-th group (same values, same order of keys)."""
        length, _, size = self.ps.shape(profile)
        count, n_keys, distinctive = self.count[n], len(self.case.keys), self.case.distinctive
        return {
            "rarest_shared": self.rarest[n],
            "shared_count": float(count),
            "profile_share": count / size if size else 0.0,
            "case_share": count / n_keys if n_keys else 0.0,
            "profile_size": math.log(1 + length),
            "rare_pairs": pairs[0],
            "rare_tool_pairs": pairs[1],
            **{name: float(c) for name, c in zip(_RARITY, self.bumps[n], strict=True)},
            "distinctive_covered": self.covered[n] / len(distinctive) if distinctive else 0.0,
        }


def _case_terms(obs: Observations, profile: GroupProfile, ps: ProfileSet, w: Weights, obs_sectors: frozenset[str],
                case: _Case) -> list[Term]:
    """:func:`_terms` with the case's side precomputed, for the default weights' form (no parent credit, no
    support terms: score_groups uses _terms otherwise). Same terms, in the same order, with the same values."""
    out = _technique_terms(profile, ps, w, case)
    out.extend(_other_terms(obs, profile, ps, w, obs_sectors, case, bool(out)))
    return out


def _technique_terms(profile: GroupProfile, ps: ProfileSet, w: Weights, case: _Case) -> list[Term]:
    """The technique terms of :func:`_case_terms`."""
    out: list[Term] = []
    length, _, _ = ps.shape(profile)
    norm = 1 - w.b + w.b * (length / ps.avg_length if ps.avg_length else 1.0)
    k1_plus, k1_norm = w.k1 + 1, w.k1 * norm
    techniques = profile.techniques
    for tid, q, idf, powered, groups, level in case.techniques:
        tf = techniques.get(tid)
        if not tf:
            continue
        via = "direct"
        if tf < 1.0:
            known = _known_via(profile, tid) if profile.known else None
            if known:
                via = known                   # a link from outside ATT&CK keeps its own weight (known.py)
            else:
                via, tf = "software", w.software_technique
                if not tf:
                    continue
        # _bm25 with its idf ** power and w.k1 + 1, w.k1 * norm computed once: the same operations in order
        out.append(("technique", tid, q * (powered * tf * k1_plus / (tf + k1_norm)), idf, groups,
                    via if q == 1.0 else "implied", level))
    return out


def _other_terms(obs: Observations, profile: GroupProfile, ps: ProfileSet, w: Weights, obs_sectors: frozenset[str],
                 case: _Case, after: bool) -> list[Term]:
    """The terms of :func:`_case_terms` after the techniques' (``after``: whether there were any)."""
    out: list[Term] = []
    _, n_sources, _ = ps.shape(profile)
    held = profile.software
    for sid, idf, weighed, groups, level in case.software:
        weight = held.get(sid)
        if weight is not None:    # tf = weight * (1 + 0 * log(...)) = weight: support is 0 on this path
            via = "direct" if weight >= 1.0 else (_known_via(profile, sid) if profile.known else None) or "description"
            out.append(("software", sid, weighed * weight, idf, groups, via, level))
    if w.lineage:
        for (sid, _, _, groups, level), relatives in zip(case.software, case.relatives, strict=True):
            if sid in held:
                continue
            kin = [r for r in relatives if r in held]
            if kin:
                idf = min(ps.idf("software", sid), max(ps.idf("software", r) for r in kin))
                out.append(("software", sid, w.software * w.lineage * idf, idf, groups,
                            f"lineage:{','.join(kin[:3])}", level))
    countries = profile.countries
    for code, value, idf, groups in case.countries:
        if code in countries:
            out.append(("country", code, value, idf, groups,
                        (_known_via(profile, f"country:{code}") if profile.known else None) or "direct", "generic"))
    if obs_sectors:
        per_sector = w.sector / max(len(obs.sectors), 1) ** w.victim_norm
        for stem in obs_sectors & profile.sectors:
            idf = ps.idf("sector", stem)
            out.append(("sector", stem, per_sector * idf, idf, ps.frequency("sector", stem),
                        (_known_via(profile, f"sector:{stem}") if profile.known else None) or "direct", "generic"))
    if not out and not after:
        return out
    period = case.period
    gap = _time_penalty(profile.years, period, w)
    if gap:
        out.append(("time", f"{gap:.1f} years apart", -w.time * gap, 0.0, 0, "gap", "generic"))
    if w.recency and profile.years and period is not None:
        near = _near(profile.years, period[0] - 1.0, period[1] + 1.0)
        out.append(("time", f"{near} of {len(profile.years)} dated sources near the case",
                    w.recency * math.log((near + 0.5) / (len(profile.years) + 1)), 0.0, 0, "recency", "generic"))
    if w.prior:
        out.append(("prior", f"{n_sources} sources", w.prior * math.log(1 + n_sources), 0.0, 0, "direct", "generic"))
    return out


_VIA = ("direct", "software", *KNOWN_VIA)      # a technique term's via when the case saw it (q == 1), by code
_tf_columns: dict[int, tuple[ProfileSet, float, dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.int8]]]]] = {}
_TF_SETS = 8                                   # profile sets whose columns are kept (exclusions make new ones)


def _tf_column(ps: ProfileSet, w: Weights, tid: str) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int8]]:
    """For every group (``ps.profiles`` order) the term frequency :func:`_technique_terms` gives the technique
    (0: no term) and the code of its via in :data:`_VIA`; kept per profile set and technique."""
    memo = _tf_columns.get(id(ps))
    if memo is None or memo[0] is not ps or memo[1] != w.software_technique:
        if len(_tf_columns) >= _TF_SETS:
            _tf_columns.clear()
        memo = _tf_columns[id(ps)] = (ps, w.software_technique, {})
    found = memo[2].get(tid)
    if found is None:
        tfs, vias = [], []
        for profile in ps.profiles.values():
            tf, via = profile.techniques.get(tid) or 0.0, 0
            if tf and tf < 1.0:
                known = _known_via(profile, tid) if profile.known else None
                if known:
                    via = _VIA.index(known)
                else:
                    via, tf = 1, w.software_technique
            tfs.append(tf)
            vias.append(via)
        found = memo[2][tid] = (np.array(tfs, dtype=np.float64), np.array(vias, dtype=np.int8))
    return found


def _technique_sums(ps: ProfileSet, w: Weights, case: _Case, ranker: Ranker
                    ) -> tuple[list[float], list[int], list[bool]]:
    """Per group (``ps.profiles`` order): the sum of its technique terms scaled by the ranker, added one after
    another from 0 in the case's order as :meth:`GroupScore.defer` adds them; how many are positive; whether there
    is any. One array operation per step for all groups and techniques, with the very floating-point operations of
    :func:`_technique_terms` (an absent technique is a zero, which adds nothing to a sum that starts at +0)."""
    profiles = list(ps.profiles.values())
    if not case.techniques or not profiles:
        return [0.0] * len(profiles), [0] * len(profiles), [False] * len(profiles)
    columns = [_tf_column(ps, w, tid) for tid, *_ in case.techniques]
    tf = np.stack([c[0] for c in columns], axis=1)
    via = np.stack([c[1] for c in columns], axis=1)
    norm = np.array([w.k1 * (1 - w.b + w.b * (ps.shape(p)[0] / ps.avg_length if ps.avg_length else 1.0))
                     for p in profiles])
    q = np.array([t[1] for t in case.techniques])
    powered = np.array([t[3] for t in case.techniques])
    values = q * (powered * tf * (w.k1 + 1) / (tf + norm[:, None]))
    # the ranker's coefficient of each technique's term for each via (implied whatever the via when q < 1)
    factors = np.array([[coefficient(ranker, case.coefficients, bucket("technique", v if t[1] == 1.0 else "implied",
                                                                          t[5])) for v in _VIA]
                        for t in case.techniques])
    scaled = values * factors[np.arange(len(columns))[None, :], via]
    sums = np.add.accumulate(np.concatenate([np.zeros((len(profiles), 1)), scaled], axis=1), axis=1)[:, -1]
    return ([float(x) for x in sums], [int(x) for x in (scaled > 0).sum(axis=1)],
            [bool(x) for x in (tf > 0).sum(axis=1)])


def bucket_of(c: Contribution) -> str:
    """The ranker's evidence feature a contribution adds to."""
    return bucket(c.kind, c.via, c.level)


def _direct(profile: GroupProfile, key: str) -> bool:
    return key in profile.software if key.startswith("S") else profile.techniques.get(key, 0.0) >= 1.0


_columns: dict[int, tuple[ProfileSet, dict[str, npt.NDArray[np.float64]]]] = {}


def _held_column(ps: ProfileSet, key: str) -> npt.NDArray[np.float64]:
    """``ps.held_directly(key)`` as an array, kept per profile set (making it from the list each case was most of
    pair_rarity's time)."""
    memo = _columns.get(id(ps))
    if memo is None or memo[0] is not ps:
        memo = _columns[id(ps)] = (ps, {})
    found = memo[1].get(key)
    if found is None:
        found = memo[1][key] = np.array(ps.held_directly(key), dtype=np.float64)
    return found


def pair_rarity(keys: list[str], ps: ProfileSet) -> dict[str, tuple[float, float]]:
    """Per group, the summed rarity (BM25 IDF over groups) of the pairs of observed techniques/software it shares
    with the case, all pairs and pairs with a tool, each divided by the number of observations - 1: two common
    techniques seen together can be rare."""
    live = [p for p in ps.profiles.values() if not p.empty]
    if len(keys) < 2 or not live:
        return {}
    has = np.stack([_held_column(ps, k) for k in keys], axis=1)      # _direct of every live group, by column
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


def apply_ranker(score: GroupScore, profile_values: dict[str, float], ranker: Ranker) -> None:
    """Set the group's features and its score under the ranker; contributions are rescaled so that they still add
    up to the score (the explanation shows what each piece of evidence weighed), plus one per profile feature."""
    score.rank([(c.kind, c.key, c.value, c.idf, c.groups, c.via, c.level) for c in score.contributions],
               profile_values, ranker)


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
    case = _case(obs, ps, w, query, levels)
    general = bool(w.parent or w.support or w.support_share)     # weights _case_terms does not cover
    scores = []
    if not general:
        sums, positive, any_technique = _technique_sums(ps, w, case, ranker)
        shared = _SharedCounts(ps, case)
        for n, profile in enumerate(ps.profiles.values()):
            # the techniques' part of the score for all groups at once; the rest, and the terms when read, here
            rest = _other_terms(obs, profile, ps, w, sectors, case, any_technique[n])
            score = GroupScore(profile.attack_id, profile.name, 0.0, profile.empty)
            values = shared.features(n, profile, pairs.get(profile.attack_id, (0.0, 0.0))) \
                if any_technique[n] or rest else {}
            score.defer_rest(sums[n] if any_technique[n] else 0, positive[n], rest,
                             partial(_case_terms, obs, profile, ps, w, sectors, case), values, ranker,
                             case.coefficients)
            scores.append(score)
        scores.sort(key=lambda s: (not s.empty, s.score, s.matched), reverse=True)
        return scores
    for profile in ps.profiles.values():
        # score_group and apply_ranker in one: the contributions are made once, scaled (same values)
        terms = _terms(obs, profile, ps, w, sectors, query, levels) if general else \
            _case_terms(obs, profile, ps, w, sectors, case)
        score = GroupScore(profile.attack_id, profile.name, 0.0, profile.empty)
        # Profile features only for a group that shares evidence: a group with none stays at zero.
        values = _case_features(profile, ps, case, pairs.get(profile.attack_id, (0.0, 0.0))) if terms else {}
        # The score now; the contributions and features when read (the explanation reads ten groups' of ~170).
        score.defer(terms, values, ranker, case.coefficients)
        scores.append(score)
    scores.sort(key=lambda s: (not s.empty, s.score, s.matched), reverse=True)
    return scores
