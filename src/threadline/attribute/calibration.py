"""Turn scores into calibrated probabilities, with an explicit "unknown actor" outcome.

Two fitted parts (``bench/attribution.py --fit``, maximum likelihood on leave-one-out cases and on thinned copies
of them, 1-3 of their techniques/software: a real document yields thin evidence, ATT&CK's curated cases rich):
1. which profiled group, if it is one of them: a softmax over the groups' scores, ``scale * score / n**gamma``
   (``n`` = number of observed features, since scores grow with the evidence);
2. whether it is one of them at all: a logistic curve on how far the best score stands above the background (the
   REF_RANK-th best group's), fitted on each case as it is (answer: a profiled group) and with its group removed
   from the candidates (answer: unknown). That pairing makes the prior of an unprofiled actor one half; the
   engine's caller sees the unknown probability beside the candidates and the explanation says what it means.
The probability of a group is P(known) * P(group | known).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from threadline.attribute.fitted import load_fitted, save_fitted

REF_RANK = 10          # the background score is the 10th best group's
PARAMETERS_FILE = "calibration.json"


@dataclass(frozen=True, slots=True)
class Calibration:
    """P(group | known) = softmax(scale * score / n**gamma); P(unknown) = sigmoid(offset - slope * margin)."""

    scale: float = 0.6
    gamma: float = 0.5
    slope: float = 1.0
    offset: float = 1.0
    fitted_on: str = "defaults (not fitted)"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _parse(data: dict[str, Any]) -> Calibration:
    return Calibration(float(data["scale"]), float(data["gamma"]), float(data["slope"]), float(data["offset"]),
                       str(data.get("fitted_on", "")))


def load_calibration(path: Path | None = None) -> Calibration:
    """The fitted parameters shipped with the package (defaults when the file is absent)."""
    return load_fitted(PARAMETERS_FILE, _parse, Calibration, "calibration parameters", path)


def save_calibration(cal: Calibration, path: Path | None = None) -> Path:
    return save_fitted(PARAMETERS_FILE, cal.to_dict(), path)


def _divisor(n_features: int, gamma: float) -> float:
    return math.pow(max(n_features, 1), gamma)


def conditional(scores: Sequence[float], n_features: int, scale: float, gamma: float) -> list[float]:
    """P(group | the actor is a profiled group), scores best first."""
    if not scores:
        return []
    div = _divisor(n_features, gamma)
    peak = scale * scores[0] / div
    weights = [math.exp(scale * s / div - peak) for s in scores]
    total = sum(weights)
    return [x / total for x in weights]


def margin(scores: Sequence[float], n_features: int, gamma: float) -> float:
    """How far the best score stands above the background, per unit of evidence."""
    if not scores:
        return 0.0
    background = scores[REF_RANK - 1] if len(scores) >= REF_RANK else 0.0
    return (scores[0] - background) / _divisor(n_features, gamma)


def unknown_probability(scores: Sequence[float], n_features: int, cal: Calibration) -> float:
    z = cal.offset - cal.slope * margin(scores, n_features, cal.gamma)
    return 1 / (1 + math.exp(-z)) if z > -40 else 0.0


def probabilities(scores: Sequence[float], n_features: int, cal: Calibration) -> tuple[list[float], float]:
    """Probabilities of the groups (scores best first) and of an unknown actor; they sum to 1."""
    if not scores:
        return [], 1.0
    unknown = unknown_probability(scores, n_features, cal)
    return [(1 - unknown) * p for p in conditional(scores, n_features, cal.scale, cal.gamma)], unknown


@dataclass(frozen=True, slots=True)
class FitCase:
    """A case for fitting: its groups' scores (best first), the rank of its answer (None = unknown), size."""

    scores: tuple[float, ...]
    answer: int | None
    n_features: int


def with_answer_removed(case: FitCase) -> FitCase:
    """The same case as if its group were unknown to the knowledge base."""
    if case.answer is None:
        return case
    scores = case.scores[:case.answer] + case.scores[case.answer + 1:]
    return FitCase(scores, None, case.n_features)


def _ll_conditional(cases: Sequence[FitCase], scale: float, gamma: float) -> float:
    total = 0.0
    for case in cases:
        if case.answer is not None:
            total += math.log(max(conditional(case.scores, case.n_features, scale, gamma)[case.answer], 1e-12))
    return total


def _ll_unknown(pairs: Sequence[tuple[float, bool]], slope: float, offset: float) -> float:
    total = 0.0
    for m, unknown in pairs:
        z = offset - slope * m
        p = 1 / (1 + math.exp(-max(min(z, 40.0), -40.0)))
        total += math.log(max(p if unknown else 1 - p, 1e-12))
    return total


def _refine(objective: Callable[[float, float], float], start: tuple[float, float],
            steps: tuple[float, float]) -> tuple[float, float]:
    """Coordinate search (pattern search) on two parameters, shrinking the step when nothing improves."""
    best, value = start, objective(*start)
    step = list(steps)
    for _ in range(60):
        improved = False
        for i in (0, 1):
            for sign in (1, -1):
                trial = list(best)
                trial[i] += sign * step[i]
                if trial[i] < 0 and i == 0:
                    continue
                v = objective(*trial)
                if v > value:
                    best, value, improved = (trial[0], trial[1]), v, True
        if not improved:
            step = [s / 2 for s in step]
            if max(step) < 1e-3:
                break
    return best


def fit(cases: Sequence[FitCase], label: str = "") -> Calibration:
    """Maximum-likelihood parameters of both parts."""
    known = [c for c in cases if c.answer is not None]

    def objective_conditional(scale: float, gamma: float) -> float:
        return _ll_conditional(known, scale, min(max(gamma, 0.0), 1.5))

    scale, gamma = _refine(objective_conditional, (0.5, 0.5), (0.25, 0.25))
    gamma = min(max(gamma, 0.0), 1.5)
    pairs = [(margin(c.scores, c.n_features, gamma), False) for c in known]
    pairs += [(margin(r.scores, r.n_features, gamma), True) for r in map(with_answer_removed, known)]

    def objective_unknown(slope: float, offset: float) -> float:
        return _ll_unknown(pairs, slope, offset)

    slope, offset = _refine(objective_unknown, (1.0, 0.0), (0.5, 0.5))
    return Calibration(round(scale, 4), round(gamma, 4), round(slope, 4), round(offset, 4), label)


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """ECE over equal-width bins of the top candidate's probability."""
    if not confidences:
        return 0.0
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, c in enumerate(confidences) if lo <= c < hi or (b == bins - 1 and c == 1.0)]
        if idx:
            gap = abs(sum(confidences[i] for i in idx) / len(idx) - sum(correct[i] for i in idx) / len(idx))
            total += gap * len(idx) / len(confidences)
    return total
