"""Report-level decisions: one logistic stacker shared by all classes over a few report features per class.

The sentence bank scores every sentence; a report's evidence for a class is summarised by a few numbers (best
sentence, mean of the best two and three, how many sentences score above 0 and above -0.5). One logistic regression,
shared by all classes with a per-class offset, turns them into a probability; it is fitted on out-of-fold report
scores (never on the reports it will judge), and one probability threshold, chosen to maximise per-document F1 on
the same out-of-fold scores, decides the set. Pooling lets rare classes borrow the slope of common ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression

FloatArray = npt.NDArray[np.float64]
FEATURES = ("top1", "top2", "top3", "log1p_above_0", "log1p_above_-0.5")
_FLOOR = -5.0          # value of an empty report, and lower bound of a sentence score in the features


def doc_f1(pred: npt.NDArray[np.bool_], gold: npt.NDArray[np.bool_]) -> float:
    """Mean over reports of the F1 between predicted and gold class sets (1.0 when both are empty)."""
    scores = []
    for p, g in zip(pred, gold, strict=True):
        tp = int((p & g).sum())
        denom = int(p.sum() + g.sum())
        scores.append(1.0 if denom == 0 else 2 * tp / denom)
    return float(np.mean(scores)) if scores else 0.0


def report_features(decision: FloatArray, doc_ids: Sequence[int], n_docs: int) -> FloatArray:
    """Array (reports, classes, len(FEATURES)) summarising the sentence scores of each report."""
    out = np.zeros((n_docs, decision.shape[1], len(FEATURES)))
    out[:, :, :3] = _FLOOR
    ids = np.asarray(doc_ids)
    for d in range(n_docs):
        rows = np.maximum(decision[ids == d], _FLOOR)     # negated sentences (-1e3) count as the floor
        if rows.shape[0] == 0:
            continue
        best = -np.sort(-rows, axis=0)
        for f, k in enumerate((1, 2, 3)):
            out[d, :, f] = best[:min(k, best.shape[0])].mean(axis=0)
        out[d, :, 3] = np.log1p((rows > 0.0).sum(axis=0))
        out[d, :, 4] = np.log1p((rows > -0.5).sum(axis=0))
    return out


@dataclass(slots=True)
class Stacker:
    """p(class in report) = sigmoid(features . weights + offset[class] + intercept); report it when p >= threshold."""

    weights: FloatArray
    offsets: FloatArray
    intercept: float
    threshold: float

    def probability(self, features: FloatArray) -> FloatArray:
        """Probabilities (reports, classes) from :func:`report_features` output."""
        z = features @ self.weights + self.offsets[None, :] + self.intercept
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)

    def to_json(self) -> dict[str, Any]:
        return {"features": list(FEATURES), "weights": [float(w) for w in self.weights],
                "offsets": [float(o) for o in self.offsets], "intercept": self.intercept,
                "threshold": self.threshold}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Stacker:
        if list(raw["features"]) != list(FEATURES):
            raise ValueError(f"stacker features {raw['features']} differ from this version's {list(FEATURES)}")
        return cls(np.asarray(raw["weights"], dtype=np.float64), np.asarray(raw["offsets"], dtype=np.float64),
                   float(raw["intercept"]), float(raw["threshold"]))


def _design(features: FloatArray) -> FloatArray:
    n, c, f = features.shape
    onehot = np.tile(np.eye(c), (n, 1))
    return np.hstack([features.reshape(n * c, f), onehot])


def fit_stacker(features: FloatArray, gold: npt.NDArray[np.bool_], c: float = 0.1) -> Stacker:
    """Fit the pooled logistic stacker and its per-document-F1 threshold on out-of-fold report features."""
    f = features.shape[2]
    model = LogisticRegression(C=c, max_iter=5000)          # lbfgs: deterministic
    model.fit(_design(features), gold.reshape(-1))
    coef = model.coef_[0]
    stacker = Stacker(coef[:f].astype(np.float64), coef[f:].astype(np.float64), float(model.intercept_[0]), 0.5)
    prob = stacker.probability(features)
    grid = np.round(np.linspace(0.10, 0.70, 61), 3)
    stacker.threshold = float(max(grid, key=lambda t: doc_f1(prob >= t, gold)))
    return stacker
