"""The report-level stacker: features from sentence scores, fitting, the stored form."""

from __future__ import annotations

import numpy as np
import pytest

from threadline.extract.techniques.stack import FEATURES, Stacker, doc_f1, fit_stacker, report_features


def test_report_features_summarise_each_report() -> None:
    dec = np.array([[2.0, -1.0], [1.0, -1e3], [-0.2, -3.0], [0.5, 4.0]])
    feats = report_features(dec, [0, 0, 0, 1], 3)
    assert feats.shape == (3, 2, len(FEATURES))
    assert feats[0, 0].tolist() == pytest.approx([2.0, 1.5, 2.8 / 3, np.log1p(2), np.log1p(3)])
    # a negated sentence (-1e3) counts as the floor, not as a huge negative
    assert feats[0, 1, 1] == pytest.approx((-1.0 - 3.0) / 2)
    assert feats[1, 1].tolist() == pytest.approx([4.0, 4.0, 4.0, np.log1p(1), np.log1p(1)])
    assert feats[2, 0, 0] == -5.0 and feats[2, 0, 3] == 0.0       # a report without sentences


def test_doc_f1_is_the_mean_over_reports() -> None:
    pred = np.array([[True, True, False], [False, False, False]])
    gold = np.array([[True, False, False], [False, False, False]])
    assert doc_f1(pred, gold) == pytest.approx((2 / 3 + 1.0) / 2)


def test_fit_stacker_separates_and_round_trips() -> None:
    rng = np.random.default_rng(0)
    gold = rng.random((60, 4)) < 0.3
    feats = rng.normal(size=(60, 4, len(FEATURES))) * 0.3
    feats[:, :, 0] += np.where(gold, 1.5, -1.5)
    stacker = fit_stacker(feats, gold, c=1.0)
    assert stacker.weights[0] > 0
    assert 0.1 <= stacker.threshold <= 0.7
    assert doc_f1(stacker.probability(feats) >= stacker.threshold, gold) > 0.9
    again = Stacker.from_json(stacker.to_json())
    assert np.allclose(again.probability(feats), stacker.probability(feats))
    with pytest.raises(ValueError):
        Stacker.from_json({**stacker.to_json(), "features": ["top1"]})


def test_a_model_with_a_stacker_decides_with_it() -> None:
    from threadline.extract.techniques import TechniqueModel, extract_techniques, shipped_model
    from threadline.extract.techniques.model import LinearBank
    from threadline.knowledge.index import load_kb

    feat, bank = shipped_model().report
    n = len(bank.labels)
    # probability driven by the best sentence only: sigmoid(2 * top1), reported from 0.5 on (top1 >= 0)
    stacker = Stacker(np.array([2.0, 0, 0, 0, 0]), np.zeros(n), 0.0, 0.5)
    stacked = LinearBank(bank.labels, bank.coef, bank.intercept, bank.thresholds, bank.scale,
                         {**bank.extra, "stacker": stacker.to_json()})
    text = ("The attackers sent spearphishing emails with a malicious Word attachment. "
            "A macro ran PowerShell to download the second stage.")
    hits = extract_techniques(text, kb=load_kb(progress=False), model=TechniqueModel((feat, stacked), None),
                              infer=False)
    model_hits = [h for h in hits if "model" in h.sources]
    assert model_hits
    assert all(h.evidence and 0.5 <= h.score <= 1.0 for h in model_hits)
