"""The report bank blended with an ATT&CK procedure bank on TRAM's classes (a second opinion from other text).

The report bank learns from TRAM's annotated report sentences; the procedure bank learns from ATT&CK's procedure
examples and technique descriptions restricted to the techniques that map to the report classes, so its errors
differ. Report score of each bank = mean of its top-2 sentence scores, standardised with the inner out-of-fold
report scores; combined = w x report bank + (1 - w) x procedure bank. The weight w and the shrunk per-class
thresholds are chosen on the inner out-of-fold scores (the report bank's inner folds, same split). Measured in
5-fold cross-validation by report: see bench/results/techniques.md (rounds 8-9).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from joblib import Parallel, delayed

from threadline.extract.techniques.model import (
    FeatureSpec,
    Featurizer,
    FloatArray,
    LinearBank,
    decisions_by_block,
    load,
    report_scores,
    save,
    train_bank,
)
from threadline.extract.techniques.train import (
    Prepared,
    Report,
    ReportConfig,
    average_banks,
    choose_weight,
    finish_calibration,
    fold_banks,
    inner_splits,
    to_class,
)

# How the procedure bank is built: each bank with its own featurizer, the shipped one refitted on all training
# reports. Measured in the full 5-fold benchmark against one shared featurizer with the inner banks averaged
# ("average") or refitted ("refit"): see bench/results/techniques.md, round 9.
MODE = "own"
WEIGHTS = (1.0, 0.9, 0.8, 0.7, 0.6)     # candidate weights of the report bank; 1.0 = the report bank alone
PROCEDURE_SPEC = FeatureSpec(word_max=30000, use_char=False, context=0.0, word_min_df=2)
_ABSENT = -10.0                          # class score where no procedure technique maps to the class
_SILENT = -1e3                           # sentence score of a negated sentence
_LIVE = -4.0                             # report scores below this (no sentence, absent class) are left out of z
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


@dataclass(slots=True)
class Blend:
    """Procedure bank (featurizer, bank, class of each bank label) and the report-level combination rule."""

    feat: Featurizer
    bank: LinearBank
    columns: npt.NDArray[np.intp]      # class index (into the report labels) of each procedure bank label
    weight: float
    norm: FloatArray                   # report bank mean, sd, procedure bank mean, sd (out-of-fold report scores)
    thresholds: FloatArray             # per class, on the combined score
    scale: float = 4.0
    top: int = 2
    extra: dict[str, Any] = field(default_factory=dict)

    def class_scores(self, texts: Sequence[str], silent: npt.NDArray[np.bool_], n_classes: int) -> FloatArray:
        """Sentence x class scores: the best procedure technique mapping to each class; negated sentences silent."""
        return np.vstack([class_scores(block, self.columns, silent[start:start + block.shape[0]], n_classes)
                          for start, block in decisions_by_block(self.feat, self.bank, list(texts))])

    def combine(self, report: FloatArray, procedure: FloatArray) -> FloatArray:
        zr = (report - self.norm[0]) / self.norm[1]
        zp = (procedure - self.norm[2]) / self.norm[3]
        return np.asarray(self.weight * zr + (1.0 - self.weight) * zp, dtype=np.float64)

    def probability(self, combined: FloatArray) -> FloatArray:
        """A 0-1 score that crosses 0.5 at the calibrated threshold."""
        z = np.clip(self.scale * (combined - self.thresholds), -50.0, 50.0)     # far from the threshold: 0 or 1
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)


def class_scores(dec: FloatArray, columns: npt.NDArray[np.intp], silent: npt.NDArray[np.bool_],
                 n_classes: int) -> FloatArray:
    out = np.full((dec.shape[0], n_classes), _ABSENT)
    for j, c in enumerate(columns):
        out[:, c] = np.maximum(out[:, c], dec[:, j])
    out[silent] = _SILENT
    return out


# ---- which procedure texts a fit may use ---------------------------------------------------------------------
def _norm_text(text: str) -> str:
    return " ".join(_NON_ALNUM.sub(" ", text.lower()).split())


def _shingles(words: list[str], n: int = 8) -> set[str]:
    return {" ".join(words[i:i + n]) for i in range(max(0, len(words) - n + 1))}


def overlapping_reports(texts: Sequence[str], reports: Sequence[Report]) -> list[set[int]]:
    """For each procedure text, the reports whose text contains it or shares an 8-word run with it."""
    rep_norm = [_norm_text(r.text) for r in reports]
    by_shingle: dict[str, set[int]] = {}
    for d, norm in enumerate(rep_norm):
        for s in _shingles(norm.split()):
            by_shingle.setdefault(s, set()).add(d)
    out = []
    for text in texts:
        norm = _norm_text(text)
        hit: set[int] = set()
        for s in _shingles(norm.split()):
            hit |= by_shingle.get(s, set())
        if len(norm.split()) < 8:
            hit |= {d for d in range(len(reports)) if norm in rep_norm[d]}
        out.append(hit)
    return out


# ---- training -------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Procedures:
    """Procedure texts with their technique labels and the reports (indices into the fit's reports) they overlap."""

    texts: list[str]
    labels: list[list[str]]
    overlaps: list[set[int]]


def _procedure_bank(feat: Featurizer | None, procs: Procedures, names: list[str], negatives: list[str],
                    allowed: set[int], spec: FeatureSpec = PROCEDURE_SPEC) -> tuple[Featurizer, LinearBank]:
    """A bank on the procedure texts overlapping only ``allowed`` reports, with ``negatives`` as negatives.

    Without ``feat`` the bank gets its own featurizer, fitted on exactly its training texts.
    """
    keep = [i for i, o in enumerate(procs.overlaps) if o <= allowed]
    texts = [procs.texts[i] for i in keep] + negatives
    feat = feat or Featurizer.fit(texts, spec)
    index = {t: i for i, t in enumerate(names)}
    y = np.zeros((len(texts), len(names)), dtype=bool)
    for n, i in enumerate(keep):
        for t in procs.labels[i]:
            if t in index:
                y[n, index[t]] = True
    return feat, train_bank(feat.transform(texts), y, names, c=1e-5, keep=400, kind="sgd")


def _z_norm(scores: FloatArray) -> tuple[float, float]:
    live = scores[scores > _LIVE]
    return float(live.mean()), float(max(1e-6, float(live.std())))


def calibrated_blend(prep: Prepared, docs: Sequence[int], gold: npt.NDArray[np.bool_], labels: list[str],
                     cfg: ReportConfig, procs: Procedures, log: Any = None, *,
                     mode: str = MODE, spec: FeatureSpec = PROCEDURE_SPEC) -> tuple[LinearBank, Blend]:
    """The calibrated report bank of :func:`calibrated_bank` and its blend with a procedure bank.

    ``procs.overlaps`` index ``prep``'s reports; a procedure text is used in a fit only if every report it
    overlaps is a training report of that fit (inner folds too, so the out-of-fold scores stay honest).
    Negatives: the unlabelled sentences of the fit's training reports. ``gold`` is indexed like ``docs``.
    ``mode``: "average" (one featurizer, the shipped bank = mean of the inner banks), "refit" (one featurizer,
    one bank refitted on all ``docs``) or "own" (each bank its own featurizer, refitted on all ``docs``).
    """
    docs = list(docs)
    banks, oof_r, feats = fold_banks(prep, docs, labels, cfg, log)
    report = finish_calibration(banks, oof_r, feats, gold, cfg)
    names = sorted({t for row in procs.labels for t in row if to_class(t, labels) in labels})
    columns = np.array([labels.index(to_class(t, labels)) for t in names], dtype=np.intp)
    doc_ids = np.asarray(prep.data.doc_ids)
    unlabelled = ~prep.data.y.any(axis=1)

    def negatives(fit_docs: Sequence[int]) -> list[str]:
        return [prep.data.texts[r] for r in np.flatnonzero(np.isin(doc_ids, list(fit_docs)) & unlabelled)]

    allowed_all = set(docs)
    usable = [t for t, o in zip(procs.texts, procs.overlaps, strict=True) if o <= allowed_all]
    shared = None if mode == "own" else Featurizer.fit(usable + negatives(docs), spec)
    splits = inner_splits(len(docs), cfg.folds)
    fitted = Parallel(n_jobs=cfg.jobs)(
        delayed(_procedure_bank)(shared, procs, names, negatives([docs[i] for i in rest]), {docs[i] for i in rest},
                                 spec)
        for _, rest in splits)
    oof_p = np.zeros_like(oof_r)
    for (val, _), (feat, pbank) in zip(splits, fitted, strict=True):
        rows = prep.rows([docs[i] for i in val])
        scores = class_scores(pbank.decision(feat.transform([prep.data.texts[r] for r in rows])), columns,
                              prep.silent[rows], len(labels))
        remap = {docs[i]: n for n, i in enumerate(val)}
        oof_p[val] = report_scores(scores, [remap[int(d)] for d in doc_ids[rows]], len(val), cfg.top)
    norm = np.array([*_z_norm(oof_r), *_z_norm(oof_p)])
    if mode == "average" and shared is not None:
        feat, final = shared, average_banks([b for _, b in fitted])
    else:
        feat, final = _procedure_bank(shared, procs, names, negatives(docs), allowed_all, spec)
    blend = Blend(feat, final, columns, 1.0, norm, np.zeros(len(labels)), top=cfg.top)

    def combined(w: float) -> FloatArray:
        blend.weight = w
        return blend.combine(oof_r, oof_p)

    # a heavier procedure share must earn its place (margin 1e-4)
    blend.weight, blend.thresholds, blend.extra = choose_weight(WEIGHTS, combined, gold, cfg.shrink, 1e-4)
    live = blend.combine(oof_r, oof_p)[(oof_r > _LIVE) & (oof_p > _LIVE)]
    blend.scale = float(4.0 / max(1e-6, float(np.std(live))))
    return report, blend


# ---- storage ----------------------------------------------------------------------------------------------------
def save_blend(path: Path, blend: Blend, info: dict[str, Any]) -> None:
    """``<path>.json.gz`` + ``<path>.npz`` like the other banks; the combination's numbers go in the JSON."""
    blend.bank.extra = {"columns": [int(c) for c in blend.columns], "weight": blend.weight,
                        "norm": [float(v) for v in blend.norm], "thresholds": [float(v) for v in blend.thresholds],
                        "scale": blend.scale, "top": blend.top, "fit": blend.extra}
    save(path, blend.feat, blend.bank, info)


def load_blend(path: Path) -> Blend:
    feat, bank, _ = load(path)
    e = bank.extra
    return Blend(feat, bank, np.asarray(e["columns"], dtype=np.intp), float(e["weight"]),
                 np.asarray(e["norm"], dtype=np.float64), np.asarray(e["thresholds"], dtype=np.float64),
                 float(e["scale"]), int(e["top"]), dict(e.get("fit", {})))
