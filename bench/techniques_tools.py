"""Fit the utility -> technique table's rule on AnnoCTR *train* (4-fold CV by report; dev is never read).

The table (src/threadline/extract/techniques/tools.py) is mined from ATT&CK alone; what is chosen here is how strict
the mining is (``MIN_EXAMPLES``, ``MIN_SHARE``) and how long a sentence must be to count (``TOOL_MIN_WORDS``). Each
setting is scored by the parent-level micro P/R/F1 of the text view over the 68 out-of-fold train reports, with the
fold models of bench/techniques_annoctr_cv.py (the procedure model trained without the fold's reports).

    .venv/bin/python bench/techniques_tools.py [--cache /tmp/cv-models] [--jobs 2]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import replace
from pathlib import Path

import techniques_annoctr_cv as cv  # bench/ is on sys.path for a script
import techniques_real
from threadline.extract.techniques import extractor
from threadline.extract.techniques.tools import ToolMatcher, mine_tool_table
from threadline.knowledge.index import load_kb


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--cache", type=Path, default=None, metavar="DIR", help="fold models (techniques_annoctr_cv.py)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--examples", type=int, nargs="*", default=[2, 3, 5])
    ap.add_argument("--shares", type=float, nargs="*", default=[0.4, 0.5, 0.6, 0.7])
    ap.add_argument("--words", type=int, nargs="*", default=[1, 4, 6])
    args = ap.parse_args()
    kb = load_kb(progress=False)
    reports, _ = techniques_real.load_reports(techniques_real.ANNOCTR / "annoctr-train.jsonl.gz", kb)
    models = cv.fold_models(kb, annoctr=True, jobs=args.jobs, cache=args.cache)

    def score(matcher: ToolMatcher | None) -> dict[str, float]:
        result = cv.cross_validate(reports, [replace(m, tools=matcher) for m in models], kb)
        return dict(result["scores"]["text"]["parent"])

    def show(label: str, s: dict[str, float]) -> None:
        print(f"{label:<36} P {s['micro_p']:.3f} R {s['micro_r']:.3f} F1 {s['micro_f1']:.3f} "
              f"(TP {s['tp']} FP {s['fp']} FN {s['fn']})", flush=True)

    show("no table", score(None))
    for examples, share in itertools.product(args.examples, args.shares):
        matcher = ToolMatcher(mine_tool_table(kb, min_examples=examples, min_share=share))
        for words in args.words:
            extractor.TOOL_MIN_WORDS = words
            show(f"examples>={examples} share>={share} words>={words} ({len(matcher)})", score(matcher))
    return 0


if __name__ == "__main__":
    sys.exit(main())
