"""A joint re-ranker: trained on the out-of-fold first-stage features of BOTH TRAM2 and AnnoCTR train, measured by
nested cross-validation by report on both (dev never read).

Stage one, out-of-fold features:
- TRAM2: the 5 folds of bench/techniques.py (fold = report index mod 5); each fold's report model and blend are
  trained on the 96 other reports, with the shipped procedure model, utility and phrase tables (learnt from ATT&CK
  and AnnoCTR, never from TRAM), and the 24 held-out reports give their candidates (the first stage alone decides).
- AnnoCTR train: bench/techniques_rerank.py's features (4 folds by report, procedure model and phrase table of
  each fold learnt without it), read from its ``--cache``.

Stage two, the figure: a TRAM fold is decided by a re-ranker fitted on the other TRAM folds and all of AnnoCTR
train; an AnnoCTR fold by one fitted on the other AnnoCTR folds and all of TRAM. TRAM labels a candidate only
when it maps to one of TRAM's 50 classes (TRAM annotates nothing else: other candidates are left out of training,
not counted as wrong); AnnoCTR labels every candidate at the parent level. No feature says which corpus a row
comes from: a user's report has no such label. Figures: TRAM per-document F1 over its 50 classes (the issue's
gate, >= 0.70) and AnnoCTR train parent P/R/F1 (text view), for each decision rule and bar.

    .venv/bin/python bench/techniques_joint.py --cache DIR [--jobs 2] [--tram-weight 1.0]
"""

from __future__ import annotations

import argparse
import pickle
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import techniques  # the TRAM benchmark: its data directory
import techniques_real
from techniques_annoctr_cv import FOLDS as ANNOCTR_FOLDS
from techniques_rerank import Row, labels, out_of_fold
from threadline.extract.techniques import TechniqueModel, extract_techniques
from threadline.extract.techniques.blend import PROCEDURE_SPEC, Procedures, calibrated_blend, overlapping_reports
from threadline.extract.techniques.model import Featurizer
from threadline.extract.techniques.rerank import SINGLE_CLEAR, Reranker, Signals, fit_reranker, priors
from threadline.extract.techniques.stack import doc_f1
from threadline.extract.techniques.train import (
    ReportConfig,
    gold_matrix,
    load_tram,
    prepare,
    procedure_examples,
    revoked_classes,
    sentence_set,
    to_class,
)
from threadline.knowledge.index import load_kb

TRAM_FOLDS = 5
Rule = Callable[[dict[str, float]], bool]


def tram_features(cache: Path, jobs: int) -> list[list[Row]]:
    """Every TRAM2 report's candidates and features from the first stage of its fold (kept in ``cache``)."""
    store = cache / "tram-features.pkl"
    if store.is_file():
        rows: list[list[Row]] = pickle.loads(store.read_bytes())
        return rows
    reports, classes = load_tram(techniques.TRAM)
    kb = load_kb(progress=False)
    gold = gold_matrix(reports, classes)
    cfg = ReportConfig(jobs=jobs)
    ptexts, plabels = procedure_examples(kb)
    poverlaps = overlapping_reports(ptexts, reports)
    shipped = TechniqueModel.load()
    out: list[list[Row]] = [[] for _ in reports]
    for k in range(TRAM_FOLDS):
        test = [i for i in range(len(reports)) if i % TRAM_FOLDS == k]
        train = [i for i in range(len(reports)) if i % TRAM_FOLDS != k]
        train_reports = [reports[i] for i in train]
        feat = Featurizer.fit(sentence_set(train_reports, classes).texts, cfg.spec)
        prep = prepare(train_reports, classes, feat)
        local = {d: n for n, d in enumerate(train)}
        ok = [i for i, o in enumerate(poverlaps) if o <= set(train)]
        procs = Procedures([ptexts[i] for i in ok], [plabels[i] for i in ok],
                           [{local[d] for d in poverlaps[i]} for i in ok])
        bank, blend = calibrated_blend(prep, list(range(len(train))), gold[train], classes, cfg, procs,
                                       spec=PROCEDURE_SPEC)
        model = TechniqueModel((feat, bank), shipped.procedure, blend=blend, tools=shipped.tools,
                               phrases=shipped.phrases, reranker=None)
        for d in test:
            signals: list[Signals] = []
            hits = extract_techniques(reports[d].text, kb=kb, model=model, infer=False, signals=signals)
            chosen = [kb.current_technique_id(h.id) for h in hits if not h.inferred]
            out[d] = sorted(signals[0].candidates(chosen).items())
        print(f"TRAM fold {k + 1}/{TRAM_FOLDS} features ready", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    store.write_bytes(pickle.dumps(out))
    return out


# ---- decision rules: which first-stage hits the re-ranker may not overrule -----------------------------------
def shipped_rule(f: dict[str, float]) -> bool:
    """rerank.stated as shipped: ids, named utilities, phrases, report classes over their bar, clear singles."""
    report = bool(f["report_class"]) and (f["report_margin"] >= 0.0 or f["single_margin"] >= SINGLE_CLEAR)
    return bool(f["explicit"]) or f["tool"] > 0 or f["phrase"] > 0 or report


def joint_rule(f: dict[str, float]) -> bool:
    """The brief's rule: written ids, phrases and clear single statements protected; report classes over their
    bar and named utilities are the re-ranker's to decide."""
    clear = bool(f["report_class"]) and f["single_margin"] >= SINGLE_CLEAR
    return bool(f["explicit"]) or f["phrase"] > 0 or clear


def ids_rule(f: dict[str, float]) -> bool:
    """Only written ids and clear single statements protected."""
    return bool(f["explicit"]) or (bool(f["report_class"]) and f["single_margin"] >= SINGLE_CLEAR)


RULES: dict[str, Rule] = {"shipped": shipped_rule, "joint": joint_rule, "ids+single": ids_rule}


def decide(model: Reranker, rows: list[Row], rule: Rule, keep: float, add: float, add_report: bool) -> set[str]:
    """The ids the run-time _rerank would output (a parent is not added beside an accepted sub-technique)."""
    if not rows:
        return set()
    p = model.probability(rows)
    accepted = {tid for (tid, f), q in zip(rows, p, strict=True)
                if (f["chosen"] and (q >= keep or rule(f)))
                or (q >= add and (add_report or not f.get("report_decides", 0.0)))}
    return {t for t in accepted if "." in t or not any(o.startswith(t + ".") for o in accepted)
            or any(f["chosen"] for tid, f in rows if tid == t)}


def fit(x: list[Row], y: list[bool], w: list[float], prior: dict[str, float], c: float) -> Reranker:
    return fit_reranker(x, y, prior, 0.5, 0.0, c, {}, weights=w)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, metavar="DIR", help="bench/techniques_rerank.py's cache")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--c", type=float, default=0.1)
    ap.add_argument("--tram-weight", type=float, nargs="+", default=[1.0], help="weight of a TRAM row (0: AnnoCTR "
                    "alone, as shipped)")
    ap.add_argument("--features-only", action="store_true")
    args = ap.parse_args()
    trows = tram_features(args.cache, args.jobs)
    if args.features_only:
        return 0
    kb = load_kb(progress=False)
    areports, arows = out_of_fold(args.cache)
    treports, classes = load_tram(techniques.TRAM)
    renamed = revoked_classes(classes, kb.current_technique_id)
    index = {c: i for i, c in enumerate(classes)}
    tgold = gold_matrix(treports, classes)

    def tram_labelled(d: int) -> tuple[list[Row], list[bool]]:
        x, y = [], []
        for tid, f in trows[d]:
            cls = to_class(tid, classes, renamed)
            if cls in index:
                x.append((tid, f))
                y.append(bool(tgold[d, index[cls]]))
        return x, y

    def training(anno: Sequence[int], tram: Sequence[int], tw: float) -> Reranker:
        x: list[Row] = [r for d in anno for r in arows[d]]
        y = [lab for d in anno for lab in labels(areports[d], arows[d])]
        w = [1.0] * len(x)
        if tw > 0:
            for d in tram:
                tx, ty = tram_labelled(d)
                x, y, w = x + tx, y + ty, w + [tw] * len(tx)
        return fit(x, y, w, priors([areports[d].gold for d in anno]), args.c)

    def tram_f1(pred_sets: list[set[str]]) -> float:
        pred = np.zeros_like(tgold)
        for d, ids in enumerate(pred_sets):
            for tid in ids:
                cls = to_class(tid, classes, renamed)
                if cls in index:
                    pred[d, index[cls]] = True
        return doc_f1(pred, tgold)

    first_t = tram_f1([{t for t, f in r if f["chosen"]} for r in trows])
    first_a = techniques_rerank_score(areports, [{t for t, f in r if f["chosen"]} for r in arows])
    print(f"first stage: TRAM doc F1 {first_t:.4f}; AnnoCTR train parent P/R/F1 {first_a}")
    all_a, all_t = range(len(areports)), range(len(treports))
    for tw in args.tram_weight:
        amodels = [training([d for d in all_a if d % ANNOCTR_FOLDS != k], all_t, tw) for k in range(ANNOCTR_FOLDS)]
        tmodels = [training(all_a, [d for d in all_t if d % TRAM_FOLDS != k], tw) for k in range(TRAM_FOLDS)]
        print(f"\nTRAM row weight {tw}")
        for name, rule in RULES.items():
            for add_report in (False, True):
                for keep in (0.1, 0.15, 0.2, 0.3):
                    for add in (0.4, 0.5, 0.6):
                        a = [decide(amodels[d % ANNOCTR_FOLDS], r, rule, keep, add, add_report)
                             for d, r in enumerate(arows)]
                        t = [decide(tmodels[d % TRAM_FOLDS], r, rule, keep, add, add_report)
                             for d, r in enumerate(trows)]
                        print(f"rule {name:<10} add-report {int(add_report)} keep {keep:<4} add {add:<4} "
                              f"TRAM {tram_f1(t):.4f}  AnnoCTR {techniques_rerank_score(areports, a)}", flush=True)
    return 0


def techniques_rerank_score(reports: list[techniques_real.Report], pred: list[set[str]]) -> str:
    counts = techniques_real.Counts()
    for report, ids in zip(reports, pred, strict=True):
        counts.add(techniques_real.LIFT["parent"](frozenset(ids)), techniques_real.LIFT["parent"](report.gold))
    s: dict[str, Any] = counts.scores()
    return f"{s['micro_p']:.3f} / {s['micro_r']:.3f} / {s['micro_f1']:.3f}"


if __name__ == "__main__":
    sys.exit(main())
