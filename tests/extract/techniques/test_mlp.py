"""The MLP sentence model and its report-level ensemble with the linear bank."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from threadline.extract.techniques.mlp import (
    Ensemble,
    MlpBank,
    MlpConfig,
    average_mlps,
    chi2_columns,
    load_ensemble,
    mlp_input,
    save_ensemble,
    train_mlp,
)


def _toy(n: int = 400, seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray]:
    """Class 0 fires on column 0, class 1 on columns 1 AND 2 together (not linearly separable from each alone)."""
    rng = np.random.default_rng(seed)
    dense = (rng.random((n, 30)) < 0.3).astype(np.float32)
    y = np.stack([dense[:, 0] > 0, (dense[:, 1] > 0) & (dense[:, 2] > 0)], axis=1)
    return sp.csr_matrix(dense), y


def test_chi2_keeps_the_informative_columns() -> None:
    x, y = _toy()
    cols = chi2_columns(x, y, 3)
    assert set(cols.tolist()) == {0, 1, 2}
    assert chi2_columns(x, y, 100).tolist() == list(range(30))


def test_train_mlp_learns_and_is_deterministic() -> None:
    x, y = _toy()
    val = np.arange(x.shape[0]) % 8 == 0
    cfg = MlpConfig(features=10, hidden=16, dropout=0.1, lr=1e-2, batch=32, max_epochs=40, patience=5)
    mlp = train_mlp(x, y, val, cfg)
    logits = mlp.logits(x)
    assert logits.shape == (x.shape[0], 2)
    assert ((logits > 0) == y).mean() > 0.95
    again = train_mlp(x, y, val, cfg)
    assert np.array_equal(again.w1, mlp.w1) and again.epochs == mlp.epochs >= 1


def test_averaged_mlps_give_the_mean_logits() -> None:
    x, y = _toy()
    val = np.arange(x.shape[0]) % 8 == 0
    a = train_mlp(x, y, val, MlpConfig(features=8, hidden=4, max_epochs=2, seed=1))
    b = train_mlp(x, y, val, MlpConfig(features=12, hidden=6, max_epochs=2, seed=2))
    both = average_mlps([a, b])
    assert both.w1.shape == (12, 10)
    assert np.allclose(both.logits(x), (a.logits(x) + b.logits(x)) / 2, atol=1e-5)


def test_context_input_appends_the_neighbours() -> None:
    x = sp.csr_matrix(np.eye(3, dtype=np.float32))
    assert mlp_input(x, [0, 0, 1], 0.0) is x
    out = mlp_input(x, [0, 0, 1], 1.0).toarray()
    assert out.shape == (3, 6)
    assert out[0, 3:].tolist() == [0.0, 0.5, 0.0] and out[2, 3:].tolist() == [0.0, 0.0, 0.0]


def test_ensemble_combines_and_round_trips(tmp_path: Path) -> None:
    mlp = MlpBank(np.array([0, 2], dtype=np.int32), np.ones((2, 3), dtype=np.float32),
                  np.zeros(3, dtype=np.float32), np.ones((3, 2), dtype=np.float32), np.zeros(2, dtype=np.float32))
    ens = Ensemble(mlp, 0.5, np.array([1.0, 2.0, 0.0, 4.0]), np.array([0.0, 1.0]), scale=3.0, context=0.0)
    lin, mlp_scores = np.array([[3.0, 1.0]]), np.array([[4.0, -4.0]])
    assert ens.combine(lin, mlp_scores).tolist() == [[1.0, -0.5]]
    assert ens.probability(np.array([0.0, 1.0])).tolist() == [0.5, 0.5]
    save_ensemble(tmp_path / "m", ens)
    again = load_ensemble(tmp_path / "m")
    x = sp.csr_matrix(np.array([[1.0, 5.0, 2.0]], dtype=np.float32))
    assert np.allclose(again.mlp.logits(x), mlp.logits(x))
    assert again.weight == 0.5 and again.scale == 3.0 and again.top == 2
    assert np.allclose(again.combine(lin, mlp_scores), ens.combine(lin, mlp_scores))


def test_a_model_with_an_ensemble_decides_with_it() -> None:
    from threadline.extract.techniques import TechniqueModel, extract_techniques, shipped_model
    from threadline.knowledge.index import load_kb

    feat, bank = shipped_model().report
    n = len(bank.labels)
    # an MLP whose logits are always 0, weight 0.5, thresholds halved: combined = linear / 2, so the ensemble
    # must report exactly the classes of the linear bank's own rule
    silent = MlpBank(np.array([0], dtype=np.int32), np.zeros((1, 1), dtype=np.float32),
                     np.zeros(1, dtype=np.float32), np.zeros((1, n), dtype=np.float32), np.zeros(n, dtype=np.float32))
    ens = Ensemble(silent, 0.5, np.array([0.0, 1.0, 0.0, 1.0]), bank.thresholds / 2)
    text = ("The attackers sent spearphishing emails with a malicious Word attachment. "
            "A macro ran PowerShell to download the second stage.")
    kb = load_kb(progress=False)
    plain = {h.id for h in extract_techniques(text, kb=kb, model=TechniqueModel((feat, bank), None), infer=False)
             if "model" in h.sources}
    hits = extract_techniques(text, kb=kb, model=TechniqueModel((feat, bank), None, ensemble=ens), infer=False)
    model_hits = [h for h in hits if "model" in h.sources]
    assert model_hits and {h.id for h in model_hits} == plain
    assert all(h.evidence and 0.5 <= h.score <= 1.0 for h in model_hits)
