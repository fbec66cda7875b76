"""The text channel (attribute/textual.py) on ATT&CK's leave-one-out report cases (issue 15).

bench/attribution.py holds each report ATT&CK cites for exactly one group out of the profiles and ranks the groups
on its techniques and software; those cases have no report text, so there the text channel is off and the figures
are the structured engine's by construction. This script gives each report case a text: ATT&CK's own procedure
examples that cite the report (what ATT&CK says the report shows), and leaves every passage citing it out of the
dossiers (the engine's strict rule for text; ``--lenient`` keeps those another source also supports, as the
structured profiles do, and shows how much the case's own words leak back). The actors' names are masked by
the channel itself. Then the same cases are ranked with the shipped ranker (not refitted) with and without the text,
at each weight given.

Read it as a check that the channel does not hurt ranking on ATT&CK's cases, not as its gain: the case's text is
ATT&CK's phrasing, the same style as the dossiers, so a gain here flatters the channel; software descriptions (kept
in every dossier) may also paraphrase the held-out report.

    .venv/bin/python bench/attribution_text_loo.py [--weights 0,1,3] [--limit N]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict

from attribution import report_cases
from threadline.attribute.profiles import build_profiles
from threadline.attribute.ranker import load_ranker
from threadline.attribute.scoring import score_groups
from threadline.attribute.textual import clean, text_matches
from threadline.knowledge import KnowledgeBase
from threadline.knowledge.index import load_kb


def case_texts(kb: KnowledgeBase) -> dict[str, str]:
    """Citation name -> the procedure examples of the groups' ``uses`` relationships that cite it, joined."""
    texts: dict[str, list[str]] = defaultdict(list)
    for rel in kb.attack.relationships:
        if rel.type == "uses" and rel.source in kb.attack.groups and rel.description:
            for cite in rel.citations:
                texts[cite.source_name].append(clean(rel.description))   # as prose: no ATT&CK markup
    return {k: " ".join(v) for k, v in texts.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="0,1,3", help="text weights to compare (comma-separated)")
    ap.add_argument("--lenient", action="store_true",
                    help="keep in the dossiers the passages citing the case's report with another source (the "
                         "structured profiles' rule; a leak of the case's own words, shown for comparison)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N report cases")
    args = ap.parse_args(argv)
    weights = [float(w) for w in args.weights.split(",")]
    started = time.perf_counter()
    kb = load_kb(progress=False)
    cases = report_cases(kb)
    cases = cases[:args.limit] if args.limit else cases
    texts = case_texts(kb)
    ranker = load_ranker()
    ranks: dict[float, list[int]] = {w: [] for w in weights}
    text_time = 0.0
    for case in cases:
        ps = build_profiles(kb, case.exclude_sources)
        base = {s.attack_id: (s.score, s.empty, s.matched) for s in score_groups(case.observations, ps, None, ranker)}
        for w in weights:
            t0 = time.perf_counter()
            matches = text_matches(texts.get(case.name, ""), kb, w, case.exclude_sources, strict=not args.lenient)
            text_time += time.perf_counter() - t0
            order = sorted(base, key=lambda g: (not base[g][1], base[g][0] + (matches[g].value if g in matches
                                                                              else 0.0), base[g][2]), reverse=True)
            ranks[w].append(order.index(case.answer) + 1)
    rule = "lenient: those citing it alone" if args.lenient else "every passage citing it"
    print(f"ATT&CK leave-one-out report cases: {len(cases)} (each with ATT&CK's procedure examples citing it as its "
          f"text, those passages out of the dossiers ({rule}); shipped ranker, not refitted)")
    for w in weights:
        r = ranks[w]
        n = max(len(r), 1)
        print(f"  text weight {w:4.2f}: top-1 {sum(x == 1 for x in r) / n:.3f}  top-3 {sum(x <= 3 for x in r) / n:.3f}"
              f"  top-10 {sum(x <= 10 for x in r) / n:.3f}  MRR {sum(1 / x for x in r) / n:.3f}")
    print(f"text channel: {text_time / max(len(cases) * len(weights), 1) * 1000:.2f} ms per case; "
          f"time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
