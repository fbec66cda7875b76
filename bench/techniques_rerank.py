"""The second-stage re-ranker (techniques/rerank.py): trained and measured on AnnoCTR *train* only, dev never read.

Stage one: each train report goes through the full extractor with the models of its fold of
bench/techniques_annoctr_cv.py (procedure model and phrase table learnt without that report's fold), and its
re-ranker candidates and features are kept (out-of-fold features, as a new report would give the shipped models).
Stage two, the figure: an outer 4-fold cross-validation by report over those features (the same folds): the
re-ranker and its technique priors are fitted on three folds and decide the fourth. The text view at the parent
level is scored as bench/techniques_real.py scores it, for a sweep of thresholds, beside the first stage alone.
``--save`` fits on all 68 reports at ``--threshold`` and writes the shipped file.

    .venv/bin/python bench/techniques_rerank.py --cache DIR [--threshold 0.5 --keep 0.15] [--save]
"""

from __future__ import annotations

import argparse
import pickle
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import techniques_real  # the evaluation (bench/ is on sys.path for a script)
from techniques_annoctr_cv import FOLDS, fold_models
from threadline.extract.techniques import MODEL_DIR, extract_techniques
from threadline.extract.techniques.rerank import (
    FEATURES,
    PARAPHRASE_FEATURES,
    RERANK_FILE,
    Reranker,
    Signals,
    fit_reranker,
    priors,
    save_reranker,
)
from threadline.knowledge.index import load_kb

Row = tuple[str, dict[str, float]]
THRESHOLDS = (0.3, 0.4, 0.5, 0.6)      # a new candidate's bar
KEEP = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4)      # a first-stage hit's bar


def out_of_fold(cache: Path) -> tuple[list[techniques_real.Report], list[list[Row]]]:
    """Every train report's candidates and features from the models of its fold (kept in ``cache``)."""
    kb = load_kb(progress=False)
    reports, _ = techniques_real.load_reports(techniques_real.ANNOCTR / "annoctr-train.jsonl.gz", kb)
    store = cache / "rerank-features.pkl"
    if store.is_file():
        rows: list[list[Row]] = pickle.loads(store.read_bytes())
        return reports, rows
    models = fold_models(kb, annoctr=True, cache=cache)
    rows = []
    for i, report in enumerate(reports):
        signals: list[Signals] = []
        hits = extract_techniques(report.text, kb=kb, model=models[i % FOLDS], signals=signals)
        chosen = [kb.current_technique_id(h.id) for h in hits if not h.inferred]
        rows.append(sorted(signals[0].candidates(chosen).items()))
    store.write_bytes(pickle.dumps(rows))
    return reports, rows


def labels(report: techniques_real.Report, rows: list[Row]) -> list[bool]:
    gold = techniques_real.parents(report.gold)
    return [tid.split(".")[0] in gold for tid, _ in rows]


def fit(reports: list[techniques_real.Report], rows: list[list[Row]], docs: list[int], threshold: float,
        keep: float, c: float, features: Sequence[str] = FEATURES) -> Reranker:
    prior = priors([reports[d].gold for d in docs])
    x = [row for d in docs for row in rows[d]]
    y = [label for d in docs for label in labels(reports[d], rows[d])]
    return fit_reranker(x, y, prior, threshold, keep, c, {"reports": len(docs), "candidates": len(x)}, features)


def score(reports: list[techniques_real.Report], predicted: list[set[str]]) -> dict[str, dict[str, float]]:
    out = {}
    for level, lift in techniques_real.LIFT.items():
        counts = techniques_real.Counts()
        for report, pred in zip(reports, predicted, strict=True):
            counts.add(lift(frozenset(pred)), lift(report.gold))
        out[level] = counts.scores()
    return out


def cross_validate(reports: list[techniques_real.Report], rows: list[list[Row]], c: float,
                   features: Sequence[str] = FEATURES) -> dict[str, Any]:
    """Outer CV: P/R/F1 per threshold (and the first stage's own choice) over the 68 out-of-fold reports."""
    models = [fit(reports, rows, [d for d in range(len(reports)) if d % FOLDS != k], 0.5, 0.0, c, features)
              for k in range(FOLDS)]
    result: dict[str, Any] = {"first stage": score(reports, [{t for t, f in r if f["chosen"]} for r in rows])}
    for keep in KEEP:
        for t in THRESHOLDS:
            pred = []
            for d, candidates in enumerate(rows):
                model = models[d % FOLDS]
                model.threshold, model.keep = t, keep
                pred.append({tid for tid, _ in model.accepted(candidates)})
            result[f"keep {keep}, add {t}"] = score(reports, pred)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, metavar="DIR",
                    help="fold models and out-of-fold features (bench/techniques_annoctr_cv.py --cache)")
    ap.add_argument("--c", type=float, default=0.1, help="inverse regularisation of the logistic regression")
    ap.add_argument("--threshold", type=float, default=0.5, help="bar of a new candidate (shipped)")
    ap.add_argument("--keep", type=float, default=0.15, help="bar of a first-stage hit (shipped)")
    ap.add_argument("--paraphrase", action="store_true", help="with the paraphrase features (the fold vectors of "
                    "bench/techniques_paraphrase.py in --cache)")
    ap.add_argument("--save", action="store_true", help=f"fit on all train reports, write {RERANK_FILE}")
    args = ap.parse_args()
    reports, rows = out_of_fold(args.cache)
    print(f"{len(reports)} reports, {sum(map(len, rows))} candidates, "
          f"{sum(sum(labels(r, x)) for r, x in zip(reports, rows, strict=True))} of them right (parent level)")
    features = [*FEATURES, *PARAPHRASE_FEATURES] if args.paraphrase else list(FEATURES)
    for name, s in cross_validate(reports, rows, args.c, features).items():
        p, e = s["parent"], s["exact"]
        print(f"{name:<20} parent P {p['micro_p']:.3f} R {p['micro_r']:.3f} F1 {p['micro_f1']:.3f}   "
              f"exact P {e['micro_p']:.3f} R {e['micro_r']:.3f} F1 {e['micro_f1']:.3f}")
    if args.save:
        model = fit(reports, rows, list(range(len(reports))), args.threshold, args.keep, args.c, features)
        model.info |= {"trained_on": "AnnoCTR train (68 reports), out-of-fold first-stage features, 4 folds",
                       "command": " ".join(["bench/techniques_rerank.py", *sys.argv[1:]]),
                       "licence": "CC-BY-SA 4.0 (AnnoCTR priors)"}
        save_reranker(MODEL_DIR / RERANK_FILE, model)
        print("coefficients: " + ", ".join(f"{n} {w:+.2f}" for n, w in zip(model.features, model.coef, strict=True)))
        print(f"wrote {MODEL_DIR / RERANK_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
