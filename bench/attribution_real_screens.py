"""Screens of ranking ideas on the real-report cases (issue 15), on the analyses cached by bench/attribution_real.py.

Each variant ranks every group with the shipped ranker (no calibration, no cap) and prints top-1/3/10 over the 42
reports as is. Screens, not a benchmark: the same 42 reports that prompted them; nothing here ships.
- ``techniques``: which extracted techniques reach the engine (all / none / moderate or rarer / no parent ids).
- ``bagging``: the engine averaged (sum of log-probabilities) over random subsets of M techniques and tools, the
  size of ATT&CK's leave-one-out cases the ranker was fitted on, victims and dates kept.

    .venv/bin/python bench/attribution_real_screens.py --analyses /tmp/real.jsonl.gz [--size 6 --draws 15]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from attribution_real import DATA, annoctr_cases, load_analyses, tram_cases
from threadline.attribute import observations_from_analysis
from threadline.attribute.calibration import load_calibration, probabilities
from threadline.attribute.observations import Observations
from threadline.attribute.profiles import ProfileSet, build_profiles
from threadline.attribute.ranker import load_ranker
from threadline.attribute.scoring import level_of, score_groups
from threadline.knowledge.index import load_kb

Keep = Callable[[str, ProfileSet], bool]
FILTERS: dict[str, Keep] = {
    "all": lambda t, ps: True,
    "none": lambda t, ps: False,
    "moderate or rarer": lambda t, ps: level_of(ps, "technique", t) != "generic",
    "no parent ids": lambda t, ps: t not in ps.parent_ids,
}


def rank_of(order: list[str], answer: str) -> int:
    return order.index(answer) + 1 if answer in order else 10_000


def bagged(obs: Observations, ps: ProfileSet, size: int, draws: int) -> list[str]:
    keys = [*obs.techniques, *obs.software]
    rng = random.Random(7)
    subsets = [keys] if len(keys) <= size else [rng.sample(keys, size) for _ in range(draws)]
    total: dict[str, float] = {}
    for sub in subsets:
        part = replace(obs, techniques=tuple(k for k in sub if k.startswith("T")),
                       software=tuple(k for k in sub if k.startswith("S")))
        scores = score_groups(part, ps, None, load_ranker())
        probs, _ = probabilities([s.score for s in scores], len(sub), load_calibration())
        for s, p in zip(scores, probs, strict=True):
            total[s.attack_id] = total.get(s.attack_id, 0.0) + math.log(max(p, 1e-9))
    return sorted(total, key=lambda g: -total[g])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--analyses", type=Path, required=True, help="the cache written by attribution_real.py")
    ap.add_argument("--size", type=int, default=6, help="bagging: techniques and tools per subset")
    ap.add_argument("--draws", type=int, default=15, help="bagging: subsets per report")
    args = ap.parse_args(argv)
    kb = load_kb(progress=False)
    cached = load_analyses(args.analyses)
    if not cached:
        print(f"{args.analyses}: no cached analyses (run bench/attribution_real.py --analyses first)", file=sys.stderr)
        return 2
    cases = tram_cases(kb, DATA / "tram" / "tram2-reports.jsonl.gz") + annoctr_cases(kb, DATA / "annoctr")
    ranks: dict[str, list[int]] = {name: [] for name in [*FILTERS, "bagging"]}
    for case in cases:
        analysis = cached[f"{case.source}/{case.id}/as is"]
        obs = observations_from_analysis(analysis, kb)
        ps = build_profiles(kb, analysis["attribution"]["excluded_sources"])
        for name, keep in FILTERS.items():
            part = replace(obs, techniques=tuple(t for t in obs.techniques if keep(t, ps)))
            order = [s.attack_id for s in score_groups(part, ps, None, load_ranker()) if not s.empty]
            ranks[name].append(rank_of(order, case.answer))
        ranks["bagging"].append(rank_of(bagged(obs, ps, args.size, args.draws), case.answer))
    print(f"{'variant':20} {'top1':>5} {'top3':>5} {'top10':>5}  ({len(cases)} reports as is)")
    for name, values in ranks.items():
        n = len(values)
        print(f"{name:20} {sum(r == 1 for r in values) / n:5.2f} {sum(r <= 3 for r in values) / n:5.2f} "
              f"{sum(r <= 10 for r in values) / n:5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
