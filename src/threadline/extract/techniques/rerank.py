"""Second stage: a document-level re-ranker that decides every technique some signal of a report points to.

The first stage has six sources, each with its own rule (report thresholds, a single-sentence margin, the
procedure bank's precision-first thresholds, name and phrase tables, explicit ids, named software). Each rule sees
one signal; an analyst weighs them together: a procedure score just under its bar plus a phrase plus a named
malware that ATT&CK says does it is a finding, a lone 0.5 single-sentence hit on a generic sentence is not. The
re-ranker is a logistic regression over the features of :data:`FEATURES`, one row per (report, technique) candidate
(a technique with some text signal, :func:`Signals.candidates`), trained on the *out-of-fold* first-stage features
of AnnoCTR train (4-fold cross-validation by report: each report scored by models that never saw it), with the
label "the report's gold has this technique's parent". bench/techniques_rerank.py trains it and measures it in a
second, outer cross-validation; the threshold is chosen there, never on dev.

Only text-supported candidates can be kept: software alone is a feature, never a finding (it stays ``inferred``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

RERANK_FILE = "techniques-rerank.json"
FloatArray = npt.NDArray[np.float64]
FEATURES = (
    "report_margin",     # report-level score minus the class threshold (TRAM classes; blend scale)
    "single_margin",     # best single sentence minus the class's single-sentence bar
    "report_class",      # 1 for a TRAM class the report model scores
    "proc_best",         # procedure bank: best sentence decision minus the label's threshold
    "proc_second",       # the second best sentence, likewise
    "proc_count",        # log(1 + sentences at or over the threshold)
    "proc_label",        # 1 when the procedure bank has this label
    "tool",              # utility/technique-name table: best share of a named utility (0: none named)
    "tool_rows",         # log(1 + sentences naming one)
    "phrase",            # mention-phrase table: best precision of a phrase found (0: none)
    "phrase_rows",       # log(1 + sentences holding one)
    "explicit",          # the id is written in the text
    "software",          # log(1 + named software whose ATT&CK entry uses the technique)
    "chosen",            # the first stage's rules found it
    "sub",               # a sub-technique
    "prior",             # log share of training reports whose gold holds the parent technique
    # the family (the candidates sharing the parent technique, this one included): a parent found is what counts
    *(f"family_{name}" for name in ("report_margin", "single_margin", "proc_best", "tool", "phrase", "chosen",
                                    "explicit")),
    "family_size",       # candidates of the family
)
# No feature of the report's length or candidate count: a single clear statement counts in a two-line brief as in a
# long report (with them, the figure on long training reports rose a little and every one-sentence text lost its
# technique).
# Paraphrase features (paraphrase.py), of the candidate's parent technique: the best cosine of a sentence with the
# technique's prototype, and the best per-sentence z-score among all techniques. Used when the re-ranker's file
# lists them (it was trained with them).
PARAPHRASE_FEATURES = ("para_best", "para_z")
FAMILY = ("report_margin", "single_margin", "proc_best", "tool", "phrase", "chosen", "explicit")
CLIP = 4.0               # margins beyond this say nothing more
REPORT_FLOOR = -1.5      # a TRAM class is a candidate when its report or single-sentence margin is over this
PROC_FLOOR = -1.0        # a procedure label when its best sentence decision is over this
SINGLE_CLEAR = 0.5       # a report class's single sentence this far over its bar is a clear statement (stated)
LOG_FEATURES = ("proc_count", "tool_rows", "phrase_rows", "software")


def _clip(value: float) -> float:
    return max(-CLIP, min(CLIP, value))


def paraphrase_row(value: tuple[float, float, int] | None) -> dict[str, float]:
    """The paraphrase features of a candidate from its parent's (best cosine, best z, row); zeros without one."""
    if value is None:
        return {"para_best": 0.0, "para_z": 0.0}
    return {"para_best": value[0], "para_z": _clip(value[1])}


@dataclass(slots=True)
class Signals:
    """Per technique id (live ATT&CK id), what the first stage's sources saw in one document, and its best rows."""

    feats: dict[str, dict[str, float]] = field(default_factory=dict)
    rows: dict[str, list[int]] = field(default_factory=dict)
    software: dict[str, set[str]] = field(default_factory=dict)
    classes: set[str] = field(default_factory=set)      # the report model's classes (live ids)
    paraphrase: dict[str, tuple[float, float, int]] = field(default_factory=dict)   # parent -> paraphrase.py's

    def put(self, tid: str, rows: Iterable[int] = (), **values: float) -> None:
        """Record features of ``tid`` (the larger value wins: several labels can map to one id) and evidence."""
        feats = self.feats.setdefault(tid, {})
        for name, value in values.items():
            feats[name] = max(feats.get(name, -math.inf), value)
        kept = self.rows.setdefault(tid, [])
        for row in rows:
            if row not in kept:
                kept.append(row)

    def count(self, tid: str, name: str, row: int) -> None:
        """One more sentence supporting ``tid`` through ``name`` (tool_rows, phrase_rows)."""
        feats = self.feats.setdefault(tid, {})
        feats[name] = feats.get(name, 0.0) + 1.0
        kept = self.rows.setdefault(tid, [])
        if row not in kept:
            kept.append(row)

    def candidates(self, chosen: Iterable[str]) -> dict[str, dict[str, float]]:
        """The candidates (some text signal over its floor) with their raw features; ``chosen``: the first
        stage's text hits."""
        picked = set(chosen)
        out: dict[str, dict[str, float]] = {}
        for tid, f in self.feats.items():
            strong = (max(f.get("report_margin", -math.inf), f.get("single_margin", -math.inf)) > REPORT_FLOOR
                      or f.get("proc_best", -math.inf) > PROC_FLOOR or "tool" in f or "phrase" in f
                      or "explicit" in f or tid in picked)
            if not strong:
                continue
            row = {
                "report_margin": _clip(f.get("report_margin", -CLIP)),
                "single_margin": _clip(f.get("single_margin", -CLIP)),
                "report_class": float("report_margin" in f),
                "proc_best": _clip(f.get("proc_best", -CLIP)),
                "proc_second": _clip(f.get("proc_second", -CLIP)),
                "proc_count": f.get("proc_count", 0.0),
                "proc_label": float("proc_best" in f),
                "tool": f.get("tool", 0.0), "tool_rows": f.get("tool_rows", 0.0),
                "phrase": f.get("phrase", 0.0), "phrase_rows": f.get("phrase_rows", 0.0),
                "explicit": float("explicit" in f),
                "software": float(len(self.software.get(tid, ()))),
                "chosen": float(tid in picked),
                "sub": float("." in tid),
                # not a model feature: the report model decides this technique (its class or its parent's)
                "report_decides": float(tid in self.classes or tid.split(".")[0] in self.classes),
            } | paraphrase_row(self.paraphrase.get(tid.split(".")[0]))
            for name in LOG_FEATURES:
                row[name] = math.log1p(row[name])
            out[tid] = row
        family: dict[str, list[dict[str, float]]] = {}
        for tid, row in out.items():
            family.setdefault(tid.split(".")[0], []).append(row)
        for tid, row in out.items():
            rows = family[tid.split(".")[0]]
            for name in FAMILY:
                row[f"family_{name}"] = max(r[name] for r in rows)
            row["family_size"] = float(len(rows))
        return out


def stated(feats: dict[str, float]) -> bool:
    """First-stage hits the re-ranker does not overrule:

    - what the text states in so many words (its id written, a named utility or a mined phrase): the re-ranker
      leans on how common a technique is in training reports, and "bypass the Mark-of-the-Web" or "wmic" is rare
      there but plain;
    - a report class whose report score cleared its calibrated threshold (two sentences agreeing): those thresholds
      are calibrated on TRAM's annotated reports, and letting AnnoCTR's re-ranker prune them cost TRAM 0.025 of
      per-document F1 (0.706 -> 0.680; train CV parent F1 0.713 with it, 0.701 without).
    - a report class whose best sentence alone clears its bar by :data:`SINGLE_CLEAR` (a clear single statement:
      "dumped credentials with Mimikatz" at 0.96 over the bar was dropped at p 0.13; train CV parent F1 0.702
      without this, 0.701 with it at 0.5, equal from 1.0 up).
    The weaker single-sentence hits of the report classes and every procedure-model hit are the re-ranker's to
    judge."""
    if not feats["chosen"]:
        return False
    report = bool(feats["report_class"]) and (feats["report_margin"] >= 0.0 or feats["single_margin"] >= SINGLE_CLEAR)
    return bool(feats["explicit"]) or feats["tool"] > 0 or feats["phrase"] > 0 or report


def priors(golds: Sequence[Iterable[str]]) -> dict[str, float]:
    """Per parent technique, the log share of reports whose gold holds it (add-a-half smoothing)."""
    counts: dict[str, int] = {}
    for gold in golds:
        for parent in {t.split(".")[0] for t in gold}:
            counts[parent] = counts.get(parent, 0) + 1
    n = max(len(golds), 1)
    return {p: math.log((k + 0.5) / (n + 1.0)) for p, k in counts.items()} | {"": math.log(0.5 / (n + 1.0))}


@dataclass(slots=True)
class Reranker:
    """Standardised logistic regression over :data:`FEATURES`; a candidate is kept at ``threshold`` or more."""

    features: list[str]
    mean: FloatArray
    scale: FloatArray
    coef: FloatArray
    intercept: float
    threshold: float
    prior: dict[str, float]
    info: dict[str, Any] = field(default_factory=dict)
    keep: float = 0.0        # a first-stage hit needs only this (the first stage's rules are evidence too)

    def matrix(self, rows: Sequence[tuple[str, dict[str, float]]]) -> FloatArray:
        default = self.prior[""]
        x = np.array([[self.prior.get(tid.split(".")[0], default) if name == "prior" else feats[name]
                       for name in self.features] for tid, feats in rows], dtype=np.float64)
        return x.reshape(len(rows), len(self.features))

    def probability(self, rows: Sequence[tuple[str, dict[str, float]]]) -> FloatArray:
        z = ((self.matrix(rows) - self.mean) / self.scale) @ self.coef + self.intercept
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0))), dtype=np.float64)

    def accepted(self, rows: Sequence[tuple[str, dict[str, float]]]) -> list[tuple[str, float]]:
        """The candidates kept, with their probability: a first-stage hit at ``keep`` or over it, or
        :func:`stated`; a new one at ``threshold`` or over it, unless the report model decides its technique (as
        the first stage's other sources defer to it: new report-class hits cost TRAM 0.008 of F1, 0.706 -> 0.698)."""
        if not rows:
            return []
        return [(tid, float(p)) for (tid, feats), p in zip(rows, self.probability(rows), strict=True)
                if (feats["chosen"] and (p >= self.keep or stated(feats)))
                or (p >= self.threshold and not feats.get("report_decides", 0.0))]

    def to_json(self) -> dict[str, Any]:
        return {"format": 1, "features": self.features, "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "intercept": self.intercept, "threshold": self.threshold, "keep": self.keep,
                "prior": self.prior, "info": self.info}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reranker:
        return cls(list(data["features"]), np.asarray(data["mean"], dtype=np.float64),
                   np.asarray(data["scale"], dtype=np.float64), np.asarray(data["coef"], dtype=np.float64),
                   float(data["intercept"]), float(data["threshold"]),
                   {str(k): float(v) for k, v in data["prior"].items()}, dict(data.get("info", {})),
                   float(data.get("keep", 0.0)))


def fit_reranker(rows: Sequence[tuple[str, dict[str, float]]], labels: Sequence[bool], prior: dict[str, float],
                 threshold: float, keep: float = 0.0, c: float = 1.0, info: dict[str, Any] | None = None,
                 features: Sequence[str] = FEATURES, weights: Sequence[float] | None = None) -> Reranker:
    """Fit on candidate rows (technique id, raw features) and their labels (scikit-learn, training side only);
    ``weights``: one per row (rows of two corpora weighted apart)."""
    from sklearn.linear_model import LogisticRegression

    names = list(features)
    empty = Reranker(names, np.zeros(len(names)), np.ones(len(names)), np.zeros(len(names)), 0.0, threshold, prior)
    x = empty.matrix(rows)
    mean, scale = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-6)
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    clf = LogisticRegression(C=c, max_iter=2000).fit((x - mean) / scale, np.asarray(labels, dtype=bool),
                                                      sample_weight=w)
    return Reranker(names, mean, scale, clf.coef_[0].astype(np.float64), float(clf.intercept_[0]), threshold,
                    prior, dict(info or {}), keep)


def save_reranker(path: Path, reranker: Reranker) -> None:
    path.write_text(json.dumps(reranker.to_json(), indent=1, sort_keys=True) + "\n", encoding="utf-8")


@lru_cache(maxsize=4)
def shipped_reranker(path: str) -> Reranker | None:
    """The shipped re-ranker, or None when the file is absent (the first stage's rules decide alone)."""
    file = Path(path)
    if not file.is_file():
        return None
    return Reranker.from_json(json.loads(file.read_text(encoding="utf-8")))
