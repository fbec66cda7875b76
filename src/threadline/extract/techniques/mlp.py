"""A one-hidden-layer MLP sentence model over chi2-selected TF-IDF features (numpy only, deterministic).

A second, non-linear view of the same sentence features, meant to be averaged with the linear bank at the report
level. Inference is two matrix products (sparse features x W1, ReLU, x W2); training is plain minibatch Adam on
the multi-label binary cross-entropy with dropout on the hidden layer, stopped early on the loss of a few held-out
training reports. No torch: the whole model is a few numpy arrays, saved as float16 like the linear banks.

Not shipped: in 5-fold cross-validation by report the ensemble scores 0.691 per-document F1, the same as the
linear bank alone (bench/results/techniques.md); it stays available as `bench/techniques.py --mlp`, and
`TechniqueModel` uses it only if a `techniques-report-mlp.npz` file sits beside the report model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from threadline.extract.techniques.model import LinearBank, neighbours, report_scores
from threadline.extract.techniques.train import (
    Prepared,
    ReportConfig,
    choose_weight,
    finished_bank,
    fold_banks,
    inner_splits,
)

FloatArray = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]


@dataclass(slots=True)
class MlpConfig:
    features: int = 20000        # chi2-selected input columns
    hidden: int = 256
    dropout: float = 0.3
    lr: float = 1e-3
    l2: float = 1e-6
    batch: int = 128
    max_epochs: int = 25
    patience: int = 3
    seed: int = 20240601
    context: float = 0.0         # weight of the neighbouring-sentence block in the MLP input (0: none)


@dataclass(slots=True)
class MlpBank:
    """Sentence logits = relu(x[:, cols] @ w1 + b1) @ w2 + b2; several fold models concatenate to one."""

    cols: npt.NDArray[np.int32]      # selected columns of the featurizer's output
    w1: F32                          # len(cols) x hidden
    b1: F32
    w2: F32                          # hidden x classes
    b2: F32
    epochs: int = 0                  # epochs trained until the best validation loss (information only)

    def logits(self, x: sp.csr_matrix) -> FloatArray:
        h = np.asarray(x[:, self.cols] @ self.w1, dtype=np.float32) + self.b1
        np.maximum(h, 0.0, out=h)
        return np.asarray(h @ self.w2 + self.b2, dtype=np.float64)


def chi2_columns(x: sp.csr_matrix, y: npt.NDArray[np.bool_], k: int) -> npt.NDArray[np.int32]:
    """The ``k`` columns with the largest chi2 statistic for any one class (sorted column indices)."""
    if k >= x.shape[1]:
        return np.arange(x.shape[1], dtype=np.int32)
    yf = y.astype(np.float64)
    observed = np.asarray((sp.csr_matrix(yf.T) @ x).toarray())            # classes x features
    feature_sum = np.asarray(x.sum(axis=0)).ravel()
    class_prob = yf.mean(axis=0)
    expected = np.outer(class_prob, feature_sum)
    with np.errstate(divide="ignore", invalid="ignore"):
        chi = np.where(expected > 0, (observed - expected) ** 2 / expected, 0.0)
    best = chi.max(axis=0)
    top = np.argsort(-best, kind="stable")[:k]
    return np.sort(top).astype(np.int32)


def _bce(z: FloatArray, y: FloatArray) -> float:
    return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))


class _Adam:
    def __init__(self, params: list[F32], lr: float) -> None:
        self.params, self.lr, self.t = params, lr, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, grads: list[F32]) -> None:
        self.t += 1
        c1, c2 = 1 - 0.9 ** self.t, 1 - 0.999 ** self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m *= 0.9
            m += 0.1 * g
            v *= 0.999
            v += 0.001 * g * g
            p -= (self.lr / c1) * m / (np.sqrt(v / c2) + 1e-8)


def train_mlp(x: sp.csr_matrix, y: npt.NDArray[np.bool_], val: npt.NDArray[np.bool_], cfg: MlpConfig) -> MlpBank:
    """Fit on the rows not in ``val`` (a boolean row mask: whole held-out reports), stop early on ``val``'s loss."""
    rng = np.random.default_rng(cfg.seed)
    cols = chi2_columns(x[~val], y[~val], cfg.features)
    xs = x[:, cols].astype(np.float32).tocsr()
    xt, yt = xs[~val], y[~val].astype(np.float32)
    xv, yv = xs[val], y[val].astype(np.float64)
    n_in, n_out = xs.shape[1], y.shape[1]
    w1 = (rng.standard_normal((n_in, cfg.hidden)) * np.sqrt(2.0 / 200.0)).astype(np.float32)
    b1 = np.zeros(cfg.hidden, dtype=np.float32)
    w2 = (rng.standard_normal((cfg.hidden, n_out)) * np.sqrt(1.0 / cfg.hidden)).astype(np.float32)
    prior = np.clip(yt.mean(axis=0), 1e-4, 0.5)
    b2 = np.log(prior / (1 - prior)).astype(np.float32)       # start at the class priors
    params = [w1, b1, w2, b2]
    opt = _Adam(params, cfg.lr)
    best_loss, best, waited, best_epoch = np.inf, [p.copy() for p in params], 0, 0
    keep = 1.0 - cfg.dropout
    for epoch in range(1, cfg.max_epochs + 1):
        order = rng.permutation(xt.shape[0])
        for start in range(0, len(order), cfg.batch):
            idx = order[start:start + cfg.batch]
            xb, yb = xt[idx], yt[idx]
            h = np.asarray(xb @ w1, dtype=np.float32) + b1
            np.maximum(h, 0.0, out=h)
            mask = (rng.random(h.shape) < keep).astype(np.float32) / keep
            hd = h * mask
            z = hd @ w2 + b2
            dz = (1.0 / (1.0 + np.exp(-z)) - yb) / (len(idx) * 1.0)
            gw2 = hd.T @ dz + cfg.l2 * w2
            gb2 = dz.sum(axis=0)
            dh = (dz @ w2.T) * mask * (h > 0)
            gw1 = np.asarray(xb.T @ dh, dtype=np.float32) + cfg.l2 * w1
            gb1 = dh.sum(axis=0)
            opt.step([gw1.astype(np.float32), gb1.astype(np.float32), gw2.astype(np.float32),
                      gb2.astype(np.float32)])
        if xv.shape[0] == 0:
            best, best_epoch = [p.copy() for p in params], epoch
            continue
        loss = _bce(MlpBank(np.arange(n_in, dtype=np.int32), w1, b1, w2, b2).logits(xv), yv)
        if loss < best_loss - 1e-5:
            best_loss, best, waited, best_epoch = loss, [p.copy() for p in params], 0, epoch
        else:
            waited += 1
            if waited >= cfg.patience:
                break
    return MlpBank(cols, best[0], best[1], best[2], best[3], best_epoch)


def average_mlps(banks: Sequence[MlpBank]) -> MlpBank:
    """One MLP whose logits are the mean of ``banks``' logits: hidden layers side by side, W2 scaled down."""
    cols = np.unique(np.concatenate([b.cols for b in banks])).astype(np.int32)
    pos = {int(c): i for i, c in enumerate(cols)}
    hidden = sum(b.w1.shape[1] for b in banks)
    w1 = np.zeros((len(cols), hidden), dtype=np.float32)
    at = 0
    for b in banks:
        rows = np.array([pos[int(c)] for c in b.cols], dtype=np.intp)
        w1[rows, at:at + b.w1.shape[1]] = b.w1
        at += b.w1.shape[1]
    b1 = np.concatenate([b.b1 for b in banks]).astype(np.float32)
    w2 = (np.vstack([b.w2 for b in banks]) / len(banks)).astype(np.float32)
    b2 = (np.mean([b.b2 for b in banks], axis=0)).astype(np.float32)
    return MlpBank(cols, w1, b1, w2, b2)


def mlp_input(x: sp.csr_matrix, doc_ids: Sequence[int], context: float) -> sp.csr_matrix:
    """The MLP's input: the sentence features, plus ``context`` x the mean of the neighbouring sentences'."""
    if not context:
        return x
    return sp.hstack([x, context * (neighbours(doc_ids) @ x)], format="csr", dtype=np.float32)


# ---- report-level ensemble with the linear bank --------------------------------------------------------------
WEIGHTS = (1.0, 0.75, 0.6, 0.5, 0.4)     # candidate weights of the linear model; 1.0 = the linear model alone


@dataclass(slots=True)
class Ensemble:
    """Report score = w * z(linear top-k mean) + (1 - w) * z(MLP top-k mean logit), z from out-of-fold scores."""

    mlp: MlpBank
    weight: float
    norm: FloatArray                 # linear mean, linear sd, MLP mean, MLP sd (out-of-fold report scores)
    thresholds: FloatArray           # per class, on the combined score
    scale: float = 4.0
    top: int = 2
    context: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    def combine(self, linear: FloatArray, mlp: FloatArray) -> FloatArray:
        zl = (linear - self.norm[0]) / self.norm[1]
        zm = (mlp - self.norm[2]) / self.norm[3]
        return np.asarray(self.weight * zl + (1.0 - self.weight) * zm, dtype=np.float64)

    def probability(self, combined: FloatArray) -> FloatArray:
        """A 0-1 score that crosses 0.5 at the calibrated threshold."""
        return np.asarray(1.0 / (1.0 + np.exp(-self.scale * (combined - self.thresholds))), dtype=np.float64)


def _norm(scores: FloatArray) -> tuple[float, float]:
    live = scores[scores > -100]          # reports without a (non-negated) sentence are left out
    return float(live.mean()), float(max(1e-6, float(live.std())))


def calibrated_ensemble(prep: Prepared, docs: Sequence[int], gold: npt.NDArray[np.bool_], labels: list[str],
                        cfg: ReportConfig, mcfg: MlpConfig, log: Any = None) -> tuple[LinearBank, Ensemble]:
    """Like :func:`calibrated_bank`, with an MLP trained on the same inner folds; weight and thresholds out-of-fold.

    Each inner MLP stops early on every eighth of its own training reports, so the out-of-fold report scores of
    both models stay honest; the weight of the linear model is the one whose out-of-fold per-document F1 is best.
    """
    docs = list(docs)
    banks, oof_l, _ = fold_banks(prep, docs, labels, cfg, log)     # the linear side, exactly as calibrated_bank
    xm = mlp_input(prep.x, prep.data.doc_ids, mcfg.context)
    oof_m = np.zeros((len(docs), len(labels)))
    mlps = []
    ids_all = np.asarray(prep.data.doc_ids)
    for k, (val, rest) in enumerate(inner_splits(len(docs), cfg.folds)):
        train = [docs[i] for i in rest]
        rows = prep.rows(train)
        stop = np.isin(ids_all[rows], train[::8])
        mlp = train_mlp(xm[rows], prep.data.y[rows], stop, mcfg)
        vrows = prep.rows([docs[i] for i in val])
        logit = mlp.logits(xm[vrows])
        logit[prep.silent[vrows]] = -1e3
        remap = {docs[i]: n for n, i in enumerate(val)}
        oof_m[val] = report_scores(logit, [remap[int(d)] for d in ids_all[vrows]], len(val), cfg.top)
        mlps.append(mlp)
        if log:
            log(f"  fold {k + 1}/{cfg.folds}: MLP {mlp.epochs} epochs")
    linear = finished_bank(banks, oof_l, gold, cfg)
    norm = np.array([*_norm(oof_l), *_norm(oof_m)])

    def combined(w: float) -> FloatArray:
        return Ensemble(mlps[0], w, norm, np.zeros(len(labels))).combine(oof_l, oof_m)

    weight, thresholds, fitted = choose_weight(WEIGHTS, combined, gold, cfg.shrink, 1e-9)
    ens = Ensemble(average_mlps(mlps), weight, norm, thresholds, top=cfg.top, context=mcfg.context, extra=fitted)
    live = ens.combine(oof_l, oof_m)
    ens.scale = float(4.0 / max(1e-6, float(np.std(live[(oof_l > -100) & (oof_m > -100)]))))
    return linear, ens


def save_ensemble(path: Path, ens: Ensemble) -> None:
    """``<path>.npz``: the MLP weights (float16) and the ensemble's numbers; no pickle."""
    np.savez_compressed(path.with_suffix(".npz"), cols=ens.mlp.cols.astype(np.int32),
                        w1=ens.mlp.w1.astype(np.float16), b1=ens.mlp.b1.astype(np.float32),
                        w2=ens.mlp.w2.astype(np.float16), b2=ens.mlp.b2.astype(np.float32),
                        norm=ens.norm.astype(np.float64), thresholds=ens.thresholds.astype(np.float32),
                        params=np.array([ens.weight, ens.scale, ens.top, ens.context], dtype=np.float64))


def load_ensemble(path: Path) -> Ensemble:
    with np.load(path.with_suffix(".npz"), allow_pickle=False) as a:
        mlp = MlpBank(a["cols"].astype(np.int32), a["w1"].astype(np.float32), a["b1"].astype(np.float32),
                      a["w2"].astype(np.float32), a["b2"].astype(np.float32))
        weight, scale, top, context = (float(v) for v in a["params"])
        return Ensemble(mlp, weight, a["norm"].astype(np.float64), a["thresholds"].astype(np.float64), scale,
                        int(top), context)
