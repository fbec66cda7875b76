"""Screen: the ATT&CK procedure bank as a second opinion on TRAM's 50 classes, averaged with the report bank.

The report bank (shipped configuration) learns from TRAM's annotated report sentences; a procedure bank learns
from ATT&CK's procedure examples and technique descriptions, i.e. from other text, so its errors differ. Per
outer fold (5 by report) and per inner fold (the 4 used to calibrate the report bank), a procedure bank is trained
on the procedure texts that overlap no report outside the fit's training reports (normalised containment or a
shared 8-word shingle) with negatives from those training reports only, restricted to techniques that map to the
50 classes. Report score of each bank = mean of its top-2 sentence scores, standardised with the inner out-of-fold
scores; combined = w x report bank + (1 - w) x procedure bank; w and the shrunk per-class thresholds are chosen on
the inner out-of-fold scores of the training reports only. Model-only path (no explicit ids), so the baseline is
about 0.004 above the full benchmark's figure.

    .venv/bin/python bench/technique_procedure_screen.py [--jobs 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import numpy.typing as npt
from joblib import Parallel, delayed

from threadline.extract import technique_train as tt
from threadline.extract.technique_blend import overlapping_reports
from threadline.extract.technique_model import FeatureSpec, Featurizer, FloatArray, report_scores, train_bank
from threadline.extract.technique_signals import is_negated
from threadline.extract.technique_stack import doc_f1
from threadline.knowledge.index import load_kb

TRAM = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tram"
WEIGHTS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.0)


class Data:
    """Everything the screen reads, computed once: TRAM sentences and the procedure texts with their overlaps."""

    def __init__(self, tram: Path) -> None:
        self.reports, self.classes = tt.load_tram(tram)
        ss = tt.sentence_set(self.reports, self.classes)
        self.texts, self.doc, self.y = ss.texts, np.asarray(ss.doc_ids), ss.y
        self.gold = tt.gold_matrix(self.reports, self.classes)
        self.negated = np.array([is_negated(t) for t in self.texts], dtype=bool)
        self.ptexts, self.plabels = tt.procedure_examples(load_kb(progress=False))
        self.overlaps = overlapping_reports(self.ptexts, self.reports)
        self.names = sorted({t for row in self.plabels for t in row
                             if tt.to_class(t, self.classes) in self.classes})


def procedure_scores(data: Data, train_docs: Sequence[int], rows: npt.NDArray[np.intp]) -> FloatArray:
    """Class scores of sentence ``rows`` from a procedure bank that saw nothing of any report outside train_docs."""
    allowed = set(train_docs)
    keep = [i for i, o in enumerate(data.overlaps) if o <= allowed]
    negatives = np.flatnonzero(np.isin(data.doc, list(train_docs)) & ~data.y.any(axis=1))
    texts = [data.ptexts[i] for i in keep] + [data.texts[r] for r in negatives]
    index = {t: i for i, t in enumerate(data.names)}
    y = np.zeros((len(texts), len(data.names)), dtype=bool)
    for n, i in enumerate(keep):
        for t in data.plabels[i]:
            if t in index:
                y[n, index[t]] = True
    feat = Featurizer.fit(texts, FeatureSpec(word_max=30000, use_char=False, context=0.0, word_min_df=2))
    bank = train_bank(feat.transform(texts), y, data.names, c=1e-5, keep=400, kind="sgd")
    dec = bank.decision(feat.transform([data.texts[r] for r in rows]))
    out = np.full((len(rows), len(data.classes)), -10.0)
    for j, label in enumerate(data.names):
        c = data.classes.index(tt.to_class(label, data.classes))
        out[:, c] = np.maximum(out[:, c], dec[:, j])
    out[data.negated[rows]] = -1e3
    return out


def report_bank_scores(data: Data, train: list[int], test: list[int]) -> tuple[FloatArray, FloatArray]:
    """The shipped report bank of one outer fold: its inner out-of-fold report scores and its test report scores."""
    cfg = tt.ReportConfig()
    reports = [data.reports[i] for i in train]
    feat = Featurizer.fit(tt.sentence_set(reports, data.classes).texts, cfg.spec)
    prep = tt.prepare(reports, data.classes, feat)
    seen: list[FloatArray] = []

    def keep(decision: FloatArray, doc_ids: Sequence[int], n_docs: int, top: int = 2) -> FloatArray:
        scores = report_scores(decision, doc_ids, n_docs, top)
        seen.append(scores)
        return scores

    # calibrated_bank computes the inner out-of-fold report scores: keep a copy of each
    with mock.patch.object(tt, "report_scores", keep):
        bank = tt.calibrated_bank(prep, list(range(len(train))), data.gold[train], data.classes, cfg)
    oof = np.zeros((len(train), len(data.classes)))
    for k, scores in enumerate(seen[:cfg.folds]):
        oof[[i for i in range(len(train)) if i % cfg.folds == k]] = scores
    test_prep = tt.prepare([data.reports[i] for i in test], data.classes, feat)
    dec = bank.decision(test_prep.x)
    dec[test_prep.silent] = -1e3
    return oof, report_scores(dec, test_prep.data.doc_ids, len(test), cfg.top)


def _z(a: FloatArray, ref: FloatArray) -> FloatArray:
    live = ref[ref > -4]
    return np.asarray((a - live.mean()) / live.std(), dtype=np.float64)


def _per_report(data: Data, rows: npt.NDArray[np.intp], scores: FloatArray, docs: list[int]) -> FloatArray:
    where = {d: n for n, d in enumerate(docs)}
    return report_scores(scores, [where[d] for d in data.doc[rows]], len(docs), 2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tram", type=Path, default=TRAM)
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args(argv)
    if not (args.tram / "tram2-reports.jsonl.gz").is_file():
        print(f"TRAM data not found in {args.tram}", file=sys.stderr)
        return 1
    t0 = time.time()
    data = Data(args.tram)
    print(f"{len(data.ptexts)} procedure texts, {sum(1 for o in data.overlaps if o)} overlap some report; "
          f"{len(data.names)} techniques map to the {len(data.classes)} classes", flush=True)
    n = len(data.reports)
    folds = [([i for i in range(n) if i % 5 != k], [i for i in range(n) if i % 5 == k]) for k in range(5)]
    jobs: list[tuple[int, int, list[int], Any]] = []
    for k, (train, test) in enumerate(folds):
        jobs.append((k, -1, train, np.flatnonzero(np.isin(data.doc, test))))
        for f in range(4):
            val = [train[i] for i in range(len(train)) if i % 4 == f]
            inner = [train[i] for i in range(len(train)) if i % 4 != f]
            jobs.append((k, f, inner, np.flatnonzero(np.isin(data.doc, val))))
    banks = Parallel(n_jobs=args.jobs)(delayed(procedure_scores)(data, tr, rows) for _, _, tr, rows in jobs)
    linear = Parallel(n_jobs=args.jobs)(delayed(report_bank_scores)(data, tr, te) for tr, te in folds)
    results: dict[str, list[float]] = {}
    for k, (train, test) in enumerate(folds):
        oof_l, test_l = linear[k]
        oof_p, test_p = np.zeros_like(oof_l), np.zeros_like(test_l)
        for (kk, f, _, rows), scores in zip(jobs, banks, strict=True):
            if kk == k and f == -1:
                test_p = _per_report(data, rows, scores, test)
            elif kk == k:
                val = [i for i in range(len(train)) if i % 4 == f]
                oof_p[val] = _per_report(data, rows, scores, [train[i] for i in val])
        best: tuple[float, float, float] | None = None
        for w in WEIGHTS:
            combined = w * _z(oof_l, oof_l) + (1 - w) * _z(oof_p, oof_p)
            thresholds = tt.fit_thresholds(combined, data.gold[train], 4.0)
            f1_inner = doc_f1(combined >= thresholds, data.gold[train])
            f1 = doc_f1((w * _z(test_l, oof_l) + (1 - w) * _z(test_p, oof_p)) >= thresholds, data.gold[test])
            results.setdefault(f"w {w}", []).append(f1)
            if best is None or f1_inner > best[0] + 1e-4:
                best = (f1_inner, w, f1)
        assert best is not None
        results.setdefault("w chosen on inner folds", []).append(best[2])
        print(f"fold {k + 1}: w {best[1]} chosen, per-document F1 {best[2]:.3f} (report bank alone "
              f"{results['w 1.0'][-1]:.3f}) ({time.time() - t0:.0f}s)", flush=True)
    for name, values in results.items():
        print(f"{name:>24}: {np.mean(values):.3f}  ({' '.join(f'{v:.3f}' for v in values)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
