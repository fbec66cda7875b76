"""A learned ranker over the scoring's evidence: one coefficient per kind of evidence, fitted on leave-one-out cases.

The hand-weighted scoring (``scoring.py``) yields, per (case, group), the sum of its contributions by kind of
evidence (distinctive / moderate / generic techniques, a tool's techniques, software, victims, time, prior) plus a
few profile features (how much of the case the group covers, how much of the group the case covers, its rarest
shared feature, rare pairs of shared features). The ranker's score is a weighted sum of those; the weights are fitted
by ``bench/attribution.py --fit`` as a conditional logit (softmax over the groups of each case), cross-fitted by
case folds in the benchmark. Without a fitted file the weights reproduce the hand scoring exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from threadline.attribute.fitted import load_fitted, save_fitted

RANKER_FILE = "ranker.json"
# Sums of the hand-weighted contributions, by kind of evidence (scoring.bucket_of names them).
EVIDENCE = ("technique_distinctive", "technique_moderate", "technique_generic", "technique_of_tool",
            "technique_implied", "software_distinctive", "software_other", "software_described", "software_lineage",
            "country", "sector", "time_gap", "recency", "prior")
# Profile features (scoring.profile_features computes them), zero unless the group shares direct evidence.
PROFILE = ("rarest_shared", "shared_count", "profile_share", "case_share", "profile_size", "rare_pairs",
           "rare_tool_pairs",
           # how many shared direct observations few groups hold (the group itself counts), techniques and
           # software apart, and the share of the case's distinctive observations the group holds: the sums above
           # see only a total and the single rarest item
           "techniques_held_by_1", "techniques_held_by_3", "techniques_held_by_10", "software_held_by_1",
           "software_held_by_3", "software_held_by_10", "distinctive_covered")
FEATURES = EVIDENCE + PROFILE
L2 = 0.3          # ridge penalty of the fit (per coefficient, on the summed log-likelihood)


@dataclass(frozen=True, slots=True)
class Ranker:
    """Coefficients per feature; the hand scoring is all evidence coefficients 1 and profile coefficients 0."""

    coefficients: dict[str, float] = field(default_factory=lambda: dict.fromkeys(EVIDENCE, 1.0))
    fitted_on: str = "hand weights (not fitted)"

    def coefficient(self, name: str) -> float:
        return self.coefficients.get(name, 0.0)

    def score(self, features: dict[str, float]) -> float:
        return sum(self.coefficient(k) * v for k, v in features.items())

    def to_dict(self) -> dict[str, object]:
        return {"coefficients": {k: round(self.coefficient(k), 5) for k in FEATURES}, "fitted_on": self.fitted_on}


def _parse(data: dict[str, Any]) -> Ranker:
    coefficients = {str(k): float(v) for k, v in data["coefficients"].items()}
    unknown = set(coefficients) - set(FEATURES)
    if unknown:
        raise ValueError(f"unknown features {sorted(unknown)}")
    return Ranker(coefficients, str(data.get("fitted_on", "")))


def load_ranker(path: Path | None = None) -> Ranker:
    """The fitted coefficients shipped with the package (the hand scoring when the file is absent)."""
    return load_fitted(RANKER_FILE, _parse, Ranker, "ranker coefficients", path)


def save_ranker(ranker: Ranker, path: Path | None = None) -> Path:
    return save_fitted(RANKER_FILE, ranker.to_dict(), path)


@dataclass(frozen=True, slots=True)
class RankCase:
    """A case for fitting: each candidate group's features (in FEATURES order) and the index of its answer."""

    features: tuple[tuple[float, ...], ...]
    answer: int | None


OBJECTIVES = ("logit", "pairwise")   # screened in bench/results/attribution.md; logit ships


def fit_ranker(cases: Sequence[RankCase], label: str = "", l2: float = L2, objective: str = "logit",
               toward_hand: bool = True) -> Ranker:
    """Coefficients fitted on leave-one-out cases, ridge-penalised towards the hand scoring (coefficients 1 for
    evidence, 0 for profile features) or towards zero.

    ``logit``: maximum likelihood of a conditional logit (softmax over each case's groups), what ships.
    ``pairwise``: logistic loss of the answer against each other group, averaged per case (a ranking loss; screened
    for top-1 / top-10, not kept: it gave up top-10 and calibration, see the bench notes).
    """
    import numpy as np
    from scipy.optimize import minimize

    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; expected one of {OBJECTIVES}")
    usable = [(np.asarray(c.features, dtype=float), c.answer) for c in cases
              if c.answer is not None and len(c.features) > 1]
    prior = np.array([1.0 if name in EVIDENCE and toward_hand else 0.0 for name in FEATURES])
    # the pairwise loss sees each case as its answer's differences from the other groups
    pairs = [x[y] - np.delete(x, y, axis=0) for x, y in usable] if objective == "pairwise" else []

    def logit(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros_like(w)
        for x, y in usable:
            s = x @ w
            e = np.exp(s - s.max())
            p = e / e.sum()
            total -= float(s[y] - s.max() - math.log(e.sum()))
            grad = grad - (x[y] - p @ x)
        return total, grad

    def pairwise(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros_like(w)
        for d in pairs:
            margin = d @ w
            total += float(np.logaddexp(0.0, -margin).mean())
            grad = grad - (1.0 / (1.0 + np.exp(margin))) @ d / len(d)
        return total, grad

    loss = logit if objective == "logit" else pairwise

    def objective_fn(w: np.ndarray) -> tuple[float, np.ndarray]:
        diff = w - prior
        total, grad = loss(w)
        return total + l2 * float(diff @ diff), grad + 2 * l2 * diff

    result = minimize(objective_fn, prior.copy(), jac=True, method="L-BFGS-B")
    return Ranker({name: round(float(v), 5) for name, v in zip(FEATURES, result.x, strict=True)}, label)
