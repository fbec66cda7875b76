"""Fit the single-sentence margin of the technique extractor on AnnoCTR *train* (never on dev, the reported split).

A report class is found when its report score clears the class threshold, or when its best single sentence clears
that threshold by ``SINGLE_MARGIN`` (src/threadline/extract/techniques/extractor.py). This sweeps the margin over
4-fold cross-validation by report on train (the fold models of bench/techniques_annoctr_cv.py: procedure model and
phrase table learnt without the fold's reports) and prints the parent-level micro P/R/F1 of the text view for each;
the chosen margin is the largest within 0.002 F1 of the best (fewer single-sentence hits at equal quality).

    .venv/bin/python bench/techniques_single.py [--cache DIR] [--margins 0.5 0.75 1.0 ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import techniques_annoctr_cv as cv  # the evaluation this script varies (bench/ is on sys.path for a script)
import techniques_real
from threadline.extract.techniques import extractor
from threadline.knowledge.index import load_kb

INF = float("inf")


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--margins", type=float, nargs="*", default=[INF, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0])
    ap.add_argument("--cache", type=Path, default=None, metavar="DIR", help="fold models (techniques_annoctr_cv.py)")
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args()
    kb = load_kb(progress=False)
    reports, _ = techniques_real.load_reports(techniques_real.ANNOCTR / "annoctr-train.jsonl.gz", kb)
    models = cv.fold_models(kb, annoctr=True, jobs=args.jobs, cache=args.cache)
    rows = []
    for margin in args.margins:
        extractor.SINGLE_MARGIN = margin
        s = cv.cross_validate(reports, models, kb)["scores"]["text"]["parent"]
        rows.append((margin, s["micro_f1"]))
        print(f"margin {margin:>5}: P {s['micro_p']:.3f} R {s['micro_r']:.3f} F1 {s['micro_f1']:.3f} "
              f"(TP {s['tp']} FP {s['fp']} FN {s['fn']})", flush=True)
    best = max(f for _, f in rows)
    chosen = max(m for m, f in rows if f >= best - 0.002 and m != INF) if any(m != INF for m, _ in rows) else INF
    print(f"chosen margin (largest within 0.002 of the best F1 {best:.3f}): {chosen}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
