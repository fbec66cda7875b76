"""Fit the phrase table's rule on AnnoCTR *train* (4-fold CV by report; dev is never read).

The phrase table (src/threadline/extract/techniques/phrases.py) of each fold is mined from the three other folds'
annotated mentions; what is chosen here is how strict the mining is (``MIN_REPORTS``: reports where annotators
linked the phrase to the technique; ``MIN_PRECISION``: share of reports holding the phrase with the technique in
their gold). Scored by the parent-level micro P/R/F1 of the text view over the 68 out-of-fold train reports, with the
fold models of bench/techniques_annoctr_cv.py.

    .venv/bin/python bench/techniques_phrases.py [--cache /tmp/cv-models] [--jobs 2]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import replace
from pathlib import Path

import techniques_annoctr_cv as cv  # bench/ is on sys.path for a script
import techniques_real
from threadline.extract.techniques import phrases
from threadline.extract.techniques.phrases import PhraseMatcher, mine_phrases
from threadline.knowledge.index import load_kb


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--cache", type=Path, default=None, metavar="DIR", help="fold models (techniques_annoctr_cv.py)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--reports", type=int, nargs="*", default=[2, 3])
    ap.add_argument("--ngrams", action="store_true", help="candidates: every run of words of a mention")
    ap.add_argument("--min-chars", type=int, default=None)
    ap.add_argument("--precisions", type=float, nargs="*", default=[0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    args = ap.parse_args()
    if args.min_chars is not None:
        phrases.MIN_CHARS = args.min_chars
    kb = load_kb(progress=False)
    path = techniques_real.ANNOCTR / "annoctr-train.jsonl.gz"
    reports, _ = techniques_real.load_reports(path, kb)
    models = cv.fold_models(kb, annoctr=True, jobs=args.jobs, cache=args.cache)

    def show(label: str, tables: list[PhraseMatcher | None]) -> None:
        result = cv.cross_validate(reports, [replace(m, phrases=t) for m, t in zip(models, tables, strict=True)], kb)
        s = result["scores"]["text"]["parent"]
        print(f"{label:<40} P {s['micro_p']:.3f} R {s['micro_r']:.3f} F1 {s['micro_f1']:.3f} "
              f"(TP {s['tp']} FP {s['fp']} FN {s['fn']})", flush=True)

    show("no phrase table", [None] * cv.FOLDS)
    for n, precision in itertools.product(args.reports, args.precisions):
        tables: list[PhraseMatcher | None] = []
        for k in range(cv.FOLDS):
            def other_folds(i: int, k: int = k) -> bool:
                return i % cv.FOLDS != k

            tables.append(PhraseMatcher(mine_phrases(path, kb, other_folds, min_reports=n, min_precision=precision,
                                                       ngrams=args.ngrams)))
        sizes = "/".join(str(len(t)) for t in tables if t is not None)
        show(f"reports>={n} precision>={precision} ({sizes})", tables)
    return 0


if __name__ == "__main__":
    sys.exit(main())
