"""Leave-one-out attribution on ATT&CK's own data (issue 5, item 4).

Cases:
- every campaign with an attributed-to relationship: its techniques and software (``uses``), its dates, and the
  countries/sectors its description names; the campaign and every relationship supported only by its own
  citations are removed from the profiles;
- every report (citation) that ATT&CK cites for exactly one group's ``uses``: the techniques and software that
  citation supports for that group, dated by the citation; every relationship it alone supports is removed.

Figures: top-1/3/10, MRR, expected calibration error (probabilities cross-fitted: the calibration is fitted on
the other folds, never on the case itself), a bootstrap interval for campaigns, and Jaccard and TF-IDF cosine
baselines on the same cases and the same exclusions.

    python bench/attribution.py                 # figures (a few minutes on 2 cores)
    python bench/attribution.py --fit           # also refit src/threadline/data/attribution/calibration.json
    python bench/attribution.py --limit 40      # a quick subset
    python bench/attribution.py --probe         # also the leave-one-out signature leak probe
    python bench/attribution.py --thin 1        # also thinned copies of every case (1-3 observations)
    python bench/attribution.py --write bench/results/attribution.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import math
import os
import platform
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, fields, replace
from pathlib import Path

from threadline.attribute import scoring
from threadline.attribute.calibration import (
    FitCase,
    conditional,
    expected_calibration_error,
    fit,
    probabilities,
    save_calibration,
    with_answer_removed,
)
from threadline.attribute.known import Known, galaxy_known
from threadline.attribute.observations import Observations
from threadline.attribute.profiles import ProfileSet, build_profiles, citation_year, static_of
from threadline.attribute.ranker import FEATURES, OBJECTIVES, RankCase, Ranker, fit_ranker, save_ranker
from threadline.knowledge import KnowledgeBase, load_kb
from threadline.knowledge.attack import plain_text

FOLDS = 5


@dataclass(frozen=True)
class Case:
    kind: str                      # campaign | report
    name: str
    answer: str                    # G-id
    observations: Observations
    exclude_sources: tuple[str, ...]
    exclude_objects: tuple[str, ...] = ()


def _month(year: float) -> str:
    y = int(year)
    return f"{y:04d}-{min(max(int((year - y) * 12) + 1, 1), 12):02d}"


def campaign_cases(kb: KnowledgeBase) -> list[Case]:
    static = static_of(kb)
    out = []
    for rel in kb.attack.relationships:
        if rel.type != "attributed-to" or rel.source not in kb.attack.campaigns or rel.target not in kb.attack.groups:
            continue
        campaign = kb.attack.campaigns[rel.source]
        uses = kb.related(campaign.stix_id, "uses")
        techniques = [kb.attack.techniques[r.target].attack_id for r in uses if r.target in kb.attack.techniques]
        software = [kb.attack.software[r.target].attack_id for r in uses if r.target in kb.attack.software]
        sources = {c.source_name for r in [rel, *uses] for c in r.citations}
        sectors, countries = static.victimology(plain_text(campaign.description))
        obs = Observations(techniques=tuple(dict.fromkeys(techniques)), software=tuple(dict.fromkeys(software)),
                           sectors=tuple(sorted(sectors)), countries=tuple(sorted(countries)),
                           first_seen=campaign.first_seen, last_seen=campaign.last_seen)
        out.append(Case("campaign", f"{campaign.attack_id} {campaign.name}", kb.attack.groups[rel.target].attack_id,
                        obs, tuple(sorted(sources)), (campaign.stix_id,)))
    return sorted(out, key=lambda c: c.name)


def report_cases(kb: KnowledgeBase) -> list[Case]:
    static = static_of(kb)
    groups_of: dict[str, set[str]] = defaultdict(set)
    items: dict[str, list[str]] = defaultdict(list)
    texts: dict[str, list[str]] = defaultdict(list)
    names: dict[str, str] = {}
    for rel in kb.attack.relationships:
        if rel.type != "uses" or rel.source not in kb.attack.groups:
            continue
        for cite in rel.citations:
            key = cite.source_name.casefold()
            names.setdefault(key, cite.source_name)
            groups_of[key].add(rel.source)
            target = kb.attack.techniques.get(rel.target) or kb.attack.software.get(rel.target)
            if target is not None:
                items[key].append(target.attack_id)
                texts[key].append(plain_text(rel.description))
    out = []
    for key, groups in groups_of.items():
        if len(groups) != 1 or not items[key]:
            continue
        gid = kb.attack.groups[next(iter(groups))].attack_id
        ids = list(dict.fromkeys(items[key]))
        found = kb.attack.citations.get(names[key])
        year = citation_year(found) if found else None
        date = _month(year) if year else None
        sectors, countries = static.victimology(" ".join(texts[key]))
        obs = Observations(techniques=tuple(i for i in ids if i.startswith("T")),
                           software=tuple(i for i in ids if i.startswith("S")), sectors=tuple(sorted(sectors)),
                           countries=tuple(sorted(countries)), first_seen=date, last_seen=date)
        out.append(Case("report", names[key], gid, obs, (names[key],)))
    return sorted(out, key=lambda c: c.name)


def _fold(case: Case) -> int:
    return int(hashlib.sha256(case.name.encode()).hexdigest(), 16) % FOLDS


@dataclass
class Ranked:
    case: Case
    rank: int                      # 1-based rank of the answer
    scores: tuple[float, ...]      # best first
    n_features: int
    baseline_ranks: dict[str, int]
    groups: tuple[str, ...] = ()                          # G-ids in the hand scoring's order
    empty: tuple[bool, ...] = ()
    features: tuple[tuple[float, ...], ...] = ()         # the ranker's features per group (FEATURES order)


def _rank(order: list[str], answer: str) -> int:
    return order.index(answer) + 1 if answer in order else len(order) + 1


def _baselines(case: Case, ps: ProfileSet) -> dict[str, int]:
    """Jaccard and TF-IDF cosine over direct techniques + software (the measured starting point)."""
    feats = set(case.observations.techniques) | set(case.observations.software)
    n = max(ps.n_groups, 1)

    def idf(f: str) -> float:
        kind = "software" if f.startswith("S") else "technique"
        return math.log((n + 1) / (ps.frequency(kind, f) + 1)) + 1

    q = {f: idf(f) for f in feats}
    qn = math.sqrt(sum(v * v for v in q.values())) or 1.0
    jac, cos = {}, {}
    for gid, p in ps.profiles.items():
        g = {t for t, w in p.techniques.items() if w >= 1.0} | set(p.software)
        jac[gid] = len(feats & g) / len(feats | g) if feats | g else 0.0
        gn = math.sqrt(sum(idf(f) ** 2 for f in g)) or 1.0
        cos[gid] = sum(q[f] * idf(f) for f in feats & g) / (qn * gn)
    return {name: _rank(sorted(table, key=lambda k: -table[k]), case.answer)
            for name, table in (("jaccard", jac), ("tfidf-cosine", cos))}


def run_cases(kb: KnowledgeBase, cases: list[Case], weights: scoring.Weights, known: Known | None = None
              ) -> list[Ranked]:
    out = []
    for case in cases:
        ps = build_profiles(kb, case.exclude_sources, case.exclude_objects, known=known)
        ranked = scoring.score_groups(case.observations, ps, weights)
        order = [g.attack_id for g in ranked]
        n = len(case.observations.techniques) + len(case.observations.software)
        out.append(Ranked(case, _rank(order, case.answer), tuple(g.score for g in ranked), n, _baselines(case, ps),
                          tuple(order), tuple(g.empty for g in ranked),
                          tuple(tuple(g.features.get(f, 0.0) for f in FEATURES) for g in ranked)))
    return out


def rescored(r: Ranked, ranker: Ranker) -> Ranked:
    """The same case ranked by a ranker's coefficients (groups with an empty profile stay last)."""
    coef = [ranker.coefficient(f) for f in FEATURES]
    values = [sum(c * x for c, x in zip(coef, row, strict=True)) for row in r.features]
    order = sorted(range(len(r.groups)), key=lambda i: (r.empty[i], -values[i], i))
    groups = [r.groups[i] for i in order]
    return replace(r, rank=_rank(groups, r.case.answer), scores=tuple(values[i] for i in order),
                   groups=tuple(groups), empty=tuple(r.empty[i] for i in order),
                   features=tuple(r.features[i] for i in order))


def _rank_case(r: Ranked) -> RankCase:
    live = [i for i, e in enumerate(r.empty) if not e]
    groups = [r.groups[i] for i in live]
    return RankCase(tuple(r.features[i] for i in live), groups.index(r.case.answer)
                    if r.case.answer in groups else None)


def _fit_case(r: Ranked) -> FitCase:
    return FitCase(r.scores, r.rank - 1 if r.rank <= len(r.scores) else None, r.n_features)


@dataclass
class Calibrated:
    conditional: float             # P(top | the actor is profiled)
    top: float                     # P(top) with the unknown outcome
    unknown: float
    removed_top: float             # the same case with its group removed from the candidates
    removed_unknown: float


def crossfit(results: list[Ranked]) -> list[Calibrated]:
    """Probabilities per case, each from a calibration fitted on the other folds (no case calibrates itself)."""
    return crossfitted(results, learn=False)[1]


def crossfitted(results: list[Ranked], learn: bool = True, objective: str = "logit",
                extra: list[Ranked] | None = None,
                augment: list[Ranked] | None = None) -> tuple[list[Ranked], list[Calibrated]]:
    """Ranks and probabilities per case, each from a ranker (``learn``, fitted with ``objective``) and a
    calibration fitted on the other folds only: no case ranks or calibrates itself. ``extra`` cases (thinned
    copies) are only evaluated, by the fit of their own fold, and come after ``results`` in the answer;
    ``augment`` cases (thinned copies, another seed) join the calibration's fit on the other folds only."""
    everything = results + (extra or [])
    out: list[Calibrated | None] = [None] * len(everything)
    ranked: list[Ranked] = list(everything)
    for fold in range(FOLDS):
        train = [r for r in results if _fold(r.case) != fold]
        fold_results, fold_augment = everything, [r for r in augment or [] if _fold(r.case) != fold]
        if learn:
            ranker = fit_ranker([_rank_case(r) for r in train], objective=objective)
            fold_results = [rescored(r, ranker) for r in everything]
            fold_augment = [rescored(r, ranker) for r in fold_augment]
        cal = fit([_fit_case(r) for r in fold_results[:len(results)] + fold_augment if _fold(r.case) != fold])
        for i, r in enumerate(fold_results):
            if _fold(r.case) == fold:
                ranked[i] = r
                cond = conditional(r.scores, r.n_features, cal.scale, cal.gamma)
                probs, unknown = probabilities(r.scores, r.n_features, cal)
                removed = with_answer_removed(_fit_case(r))
                rprobs, runknown = probabilities(removed.scores, removed.n_features, cal)
                out[i] = Calibrated(cond[0], probs[0], unknown, rprobs[0], runknown)
    return ranked, [c for c in out if c is not None]


THIN_SIZES = (1, 2, 3)
THIN_SEED = 11          # the thinned copies the figures are measured on (--thin)
FIT_THIN_SEED = 12      # the thinned copies the calibration is fitted on as well (never the same draws)


def thinned_cases(cases: list[Case], step: int = 1, seed: int = THIN_SEED) -> list[Case]:
    """Thin copies of every ``step``-th case, a proxy for what extraction finds in a real document: a random
    subset (fixed seed) of 1, 2 or 3 of its techniques/software (only where the case has more), with its
    victims, dates and exclusions; same name, so the same fold. Kind ``thin-<size>``."""
    rng = random.Random(seed)
    out = []
    for case in cases[::step]:
        obs = case.observations
        items = [*obs.techniques, *obs.software]
        for size in THIN_SIZES:
            if len(items) <= size:
                continue
            keep = set(rng.sample(items, size))
            thin = replace(obs, techniques=tuple(t for t in obs.techniques if t in keep),
                           software=tuple(s for s in obs.software if s in keep))
            out.append(replace(case, kind=f"thin-{size}", observations=thin))
    return out


def thin_lines(results: list[Ranked], calibrated: list[Calibrated], full: int) -> list[str]:
    """Calibration on thinned cases by subset size: accuracy vs mean probability, ECE, share above 0.55 / 0.80
    (P(top | profiled actor), and P(top) with the unknown outcome as the engine reports it)."""
    lines = [f"thinned cases (seed {THIN_SEED}; each by the ranker and calibration of the other folds):",
             f"{'size':6} {'cases':>5} {'top1':>6} {'meanP':>6} {'ECE':>6} {'>0.55':>6} {'>0.80':>6} {'meanPu':>6} "
             f"{'u>0.55':>6} {'u>0.80':>6}"]
    for size in ("all", *map(str, THIN_SIZES)):
        idx = [i for i, r in enumerate(results) if i >= full and (size == "all" or r.case.kind == f"thin-{size}")]
        if not idx:
            continue
        n = len(idx)
        cond = [calibrated[i].conditional for i in idx]
        top = [calibrated[i].top for i in idx]
        correct = [results[i].rank == 1 for i in idx]
        lines.append(f"{size:6} {n:5d} {sum(correct) / n:6.3f} {sum(cond) / n:6.3f} "
                     f"{expected_calibration_error(cond, correct):6.3f} {sum(c > 0.55 for c in cond) / n:6.3f} "
                     f"{sum(c > 0.8 for c in cond) / n:6.3f} {sum(top) / n:6.3f} {sum(t > 0.55 for t in top) / n:6.3f} "
                     f"{sum(t > 0.8 for t in top) / n:6.3f}")
    return lines


def signature_probe(kb: KnowledgeBase, cases: list[Case], weights: scoring.Weights, rankers: list[Ranker],
                    step: int = 5) -> list[tuple[float, float]]:
    """Leak probe: every ``step``-th case's exclusions (its answer's leave-one-out signature: a source and a few
    relationships fewer) with the observations of a case with another answer. Per ranker, the share of cases
    where the signature's owner comes first / in the top 10: one that reads the evidence keeps it near what it
    gives any group; one that has learnt each group's usual profile size ranks the owner up (boosted trees: 0.09
    first, 0.41 top-10, against 0.00 and 0.15 for the linear ranker)."""
    picked = cases[::step]
    hits = [[0, 0] for _ in rankers]
    for i, case in enumerate(picked):
        j = (i + 7) % len(picked)
        while picked[j].answer == case.answer:
            j = (j + 1) % len(picked)
        scored = run_cases(kb, [replace(case, observations=picked[j].observations)], weights)[0]
        for k, ranker in enumerate(rankers):
            rank = rescored(scored, ranker).rank
            hits[k][0] += rank == 1
            hits[k][1] += rank <= 10
    return [(first / max(len(picked), 1), top10 / max(len(picked), 1)) for first, top10 in hits]


def ece_floor(confidences: list[float], draws: int = 1000, seed: int = 5) -> float:
    """The ECE that perfectly calibrated probabilities would still show on this few cases (outcomes drawn with
    the stated probabilities): the noise level against which a small set's ECE must be read."""
    rng = random.Random(seed)
    total = 0.0
    for _ in range(draws):
        total += expected_calibration_error(confidences, [rng.random() < c for c in confidences])
    return total / draws


def metrics(ranks: list[int]) -> dict[str, float]:
    n = max(len(ranks), 1)
    return {"top1": sum(r <= 1 for r in ranks) / n, "top3": sum(r <= 3 for r in ranks) / n,
            "top10": sum(r <= 10 for r in ranks) / n, "mrr": sum(1 / r for r in ranks) / n}


def bootstrap(ranks: list[int], samples: int = 2000, seed: int = 5) -> tuple[float, float]:
    rng = random.Random(seed)
    values = sorted(sum(r == 1 for r in rng.choices(ranks, k=len(ranks))) / len(ranks) for _ in range(samples))
    return values[int(0.025 * samples)], values[int(0.975 * samples) - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=0, help="only the first N report cases (all campaigns)")
    parser.add_argument("--fit", action="store_true", help="refit and save the shipped ranker and calibration")
    parser.add_argument("--write", metavar="MD", help="write the results section to this Markdown file")
    parser.add_argument("--weight", action="append", default=[], metavar="NAME=VALUE",
                        help="override a scoring weight (for tuning), e.g. --weight software=2")
    parser.add_argument("--probe", action="store_true",
                        help="also run the leave-one-out signature leak probe (every 5th case, ~20 s)")
    parser.add_argument("--thin", type=int, default=0, metavar="STEP",
                        help="also evaluate thinned copies (1-3 techniques/software) of every STEP-th case")
    parser.add_argument("--no-augment", action="store_true",
                        help="fit the calibration on the full cases only (as before 2026-11-28's fifth pass)")
    parser.add_argument("--objective", choices=OBJECTIVES, default="logit", help="the ranker's loss (logit ships)")
    parser.add_argument("--known", choices=("none", "galaxy", "galaxy-software"), default="none",
                        help="profiles with the MISP/Tidal galaxies' links beyond ATT&CK (attribute/known.py)")
    args = parser.parse_args(argv)
    weights = scoring.Weights()
    for item in args.weight:
        name, _, value = item.partition("=")
        if name not in {f.name for f in fields(weights)}:
            parser.error(f"unknown weight {name}")
        weights = replace(weights, **{name: float(value)})
    started = time.time()
    kb = load_kb()
    campaigns, reports = campaign_cases(kb), report_cases(kb)
    if args.limit:
        reports = reports[:: max(len(reports) // args.limit, 1)][: args.limit]
    cases = campaigns + reports
    thin = thinned_cases(cases, args.thin) if args.thin else []
    # What a real document yields is a thin subset of a case: the calibration is fitted on thinned copies of the
    # training cases too (seed FIT_THIN_SEED), so that thin evidence is not read with the confidence of a full one.
    augment = [] if args.no_augment else thinned_cases(cases, 1, FIT_THIN_SEED)
    every_case = cases + thin + augment
    # each thin copy right after its case, so that the profiles built for the exclusion are still cached
    position = {c.name: i for i, c in enumerate(cases)}
    order = sorted(range(len(every_case)), key=lambda i: (position[every_case[i].name], i))
    known = None if args.known == "none" else galaxy_known(kb)
    if known is not None and args.known == "galaxy-software":
        known = known.only("software")
    scored_all = dict(zip(order, run_cases(kb, [every_case[i] for i in order], weights, known), strict=True))
    everything = [scored_all[i] for i in range(len(every_case))]
    results = everything[:len(cases)]
    scored = time.time() - started
    hand = results
    results, calibrated = crossfitted(hand, learn=True, objective=args.objective,
                                      extra=everything[len(cases):len(cases) + len(thin)],
                                      augment=everything[len(cases) + len(thin):])
    thin_ranked, thin_calibrated = results, calibrated
    results, calibrated = results[:len(cases)], calibrated[:len(cases)]
    lines = [f"cases: {len(campaigns)} campaigns, {len(reports)} reports; weights: {weights}",
             f"engine = learned ranker ({args.objective} loss) + calibration, "
             "both cross-fitted (5 folds by case name); engine-hand = the hand weights alone",
             f"calibration fitted on the full cases and {len(augment)} thinned copies (seed {FIT_THIN_SEED}) of the "
             "other folds",
             f"{'set':10} {'method':14} {'top1':>6} {'top3':>6} {'top10':>6} {'MRR':>6}"]
    for kind in ("campaign", "report"):
        for method in ("engine", "engine-hand", "tfidf-cosine", "jaccard"):
            subset = [r for r in (hand if method == "engine-hand" else results) if r.case.kind == kind]
            ranks = [r.rank if method.startswith("engine") else r.baseline_ranks[method] for r in subset]
            m = metrics(ranks)
            lines.append(f"{kind + 's':10} {method:14} {m['top1']:6.3f} {m['top3']:6.3f} {m['top10']:6.3f} "
                         f"{m['mrr']:6.3f}")
    camp_ranks = [r.rank for r in results if r.case.kind == "campaign"]
    lo, hi = bootstrap(camp_ranks)
    lines.append(f"campaigns top-1 bootstrap 95% interval: {lo:.2f}-{hi:.2f} ({len(camp_ranks)} cases)")
    correct = [r.rank == 1 for r in results]
    for kind in ("campaign", "report"):
        idx = [i for i, r in enumerate(results) if r.case.kind == kind]
        conf = [calibrated[i].conditional for i in idx]
        ece = expected_calibration_error(conf, [correct[i] for i in idx])
        lines.append(f"ECE ({kind}s, P(top | profiled actor), cross-fitted, 10 bins): {ece:.3f}; mean top "
                     f"probability {sum(conf) / max(len(idx), 1):.3f} vs top-1 accuracy "
                     f"{sum(correct[i] for i in idx) / max(len(idx), 1):.3f}; ECE of perfectly calibrated "
                     f"probabilities on as many cases: {ece_floor(conf):.3f}")
    ece_all = expected_calibration_error([c.conditional for c in calibrated], correct)
    lines.append(f"ECE (all cases, P(top | profiled actor)): {ece_all:.3f}")
    mixed_conf = [c.top for c in calibrated] + [c.removed_top for c in calibrated]
    mixed_correct = correct + [False] * len(calibrated)
    lines.append(f"ECE with the unknown outcome (each case as is + with its group removed, P(top)): "
                 f"{expected_calibration_error(mixed_conf, mixed_correct):.3f}; mean unknown probability "
                 f"{sum(c.unknown for c in calibrated) / len(calibrated):.3f} as is vs "
                 f"{sum(c.removed_unknown for c in calibrated) / len(calibrated):.3f} with the group removed")
    generic = [c for c, r in zip(calibrated, results, strict=True) if r.n_features]
    lines.append(f"top probability above 0.80 (very likely+): {sum(c.top > 0.8 for c in generic)} of "
                 f"{len(generic)} cases")
    if args.probe:
        learned = fit_ranker([_rank_case(r) for r in hand], objective=args.objective)
        (l1, l10), (h1, h10) = signature_probe(kb, campaigns + reports, weights, [learned, Ranker()])
        lines.append(f"signature leak probe (each 5th case's exclusions with another answer's observations): the "
                     f"excluded case's answer first in {l1:.3f} (hand weights {h1:.3f}), in the top 10 in {l10:.3f} "
                     f"({h10:.3f})")
    if thin:
        lines.extend(thin_lines(thin_ranked, thin_calibrated, len(cases)))
    per_case = scored / max(len(every_case), 1)
    lines.append(f"time: {time.time() - started:.0f} s in all, {per_case * 1000:.0f} ms per case "
                 f"(profiles rebuilt per exclusion set, then scored)")
    print("\n".join(lines))
    if args.fit:
        label = f"bench/attribution.py --fit on {len(hand)} leave-one-out cases, {dt.date.today()}"
        ranker = fit_ranker([_rank_case(r) for r in hand], label, objective=args.objective)
        print(f"ranker saved to {save_ranker(ranker)}: {ranker.coefficients}")
        cal = fit([_fit_case(rescored(r, ranker)) for r in hand + everything[len(cases) + len(thin):]],
                  f"{label} + {len(augment)} thinned copies (seed {FIT_THIN_SEED})")
        print(f"calibration saved to {save_calibration(cal)}: {cal}")
    if args.write:
        _write(Path(args.write), lines)
    return 0


# How to read the figures and the variants measured so far (so that they are not tried again blindly)
# live in Markdown beside this script; --write appends them after the figures.
NOTES = Path(__file__).with_name("attribution_notes.md")


def _write(path: Path, lines: list[str]) -> None:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    text = [
        "## Attribution (issue 5): leave-one-out on ATT&CK",
        "",
        f"Command: `{' '.join(['python', *sys.argv])}`  ",
        f"Machine: {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
        f"{dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        "```",
        *lines,
        "```",
        "",
        NOTES.read_text(encoding="utf-8").rstrip("\n"),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(text) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
