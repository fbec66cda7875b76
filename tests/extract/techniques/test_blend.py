"""The report bank blended with a procedure bank: calibration on synthetic reports, storage, run time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from threadline.extract.techniques import TechniqueModel, extract_techniques
from threadline.extract.techniques.blend import (
    WEIGHTS,
    Blend,
    Procedures,
    calibrated_blend,
    load_blend,
    overlapping_reports,
    save_blend,
)
from threadline.extract.techniques.model import FeatureSpec, Featurizer, LinearBank
from threadline.extract.techniques.train import Report, ReportConfig, gold_matrix, prepare, sentence_set
from threadline.knowledge.base import KnowledgeBase

CLASSES = ["T1059", "T1566"]
SHELL = ["The actor ran PowerShell scripts to execute commands on host {n}.",
         "A command shell executed scripts with PowerShell on server {n}."]
PHISH = ["Victims received phishing emails with a malicious attachment, wave {n}.",
         "The spearphishing email carried a malicious link to staff in wave {n}."]
FILLER = ["The weather in region {n} was mild during the quarter.",
          "Analysts wrote this report about region {n} in the spring.",
          "The company grew its market share in region {n} this year."]


def _report(n: int) -> Report:
    """Report ``n``: filler, plus a shell sentence if n % 2 and a phishing sentence if n % 3 == 0 (with spans)."""
    parts: list[tuple[str, str | None]] = [(FILLER[n % 3].format(n=n), None)]
    if n % 2:
        parts.append((SHELL[n % 4 // 2].format(n=n), "T1059"))
    parts.append((FILLER[(n + 1) % 3].format(n=n), None))
    if n % 3 == 0:
        parts.append((PHISH[n % 2].format(n=n), "T1566"))
    text, spans = "", []
    for sentence, cls in parts:
        start = len(text)
        text += sentence + " "
        if cls:
            spans.append((start, start + len(sentence), cls))
    return Report(str(n), text.strip(), spans)


PROCEDURES = Procedures(
    ["the actor used powershell to run scripts and execute commands",
     "powershell scripts executed commands on the host",
     "the group sent spearphishing emails with malicious attachments",
     "phishing emails carried a malicious link",
     "the actor used the weather service",          # overlaps nothing; labelled with a class-less technique
     "the company grew its market share in region 4 this year"],
    [["T1059.001", "T1059"], ["T1059"], ["T1566.001", "T1566"], ["T1566"], ["T1087"], ["T1059"]],
    [set(), set(), set(), set(), set(), {4}])


@pytest.fixture(scope="module")
def fitted() -> tuple[Featurizer, LinearBank, Blend]:
    reports = [_report(n) for n in range(24)]
    spec = FeatureSpec(use_char=False, word_min_df=1)
    feat = Featurizer.fit(sentence_set(reports, CLASSES).texts, spec)
    prep = prepare(reports, CLASSES, feat)
    bank, blend = calibrated_blend(prep, list(range(24)), gold_matrix(reports, CLASSES), CLASSES,
                                   ReportConfig(spec, keep=0), PROCEDURES)
    return feat, bank, blend


def test_overlapping_reports_by_containment_and_shared_runs() -> None:
    reports = [Report("a", "Short text. The actor used one two three four five six seven eight words here.", []),
               Report("b", "Nothing in common with anything else at all in this one.", [])]
    texts = ["short text", "used one two three four five six seven eight", "unrelated words only"]
    assert overlapping_reports(texts, reports) == [{0}, {0}, set()]


def test_blend_calibration_on_synthetic_reports(fitted: tuple[Featurizer, LinearBank, Blend]) -> None:
    _, bank, blend = fitted
    assert bank.labels == CLASSES and bank.thresholds.shape == (2,)
    assert blend.weight in WEIGHTS and blend.thresholds.shape == (2,)
    assert set(blend.extra) == {f"oof_doc_f1_w{w}" for w in WEIGHTS}
    assert max(blend.extra.values()) > 0.9              # the synthetic classes are easy
    # techniques outside the classes are left out; sub-techniques count for their class
    assert blend.bank.labels == ["T1059", "T1059.001", "T1566", "T1566.001"]
    assert blend.columns.tolist() == [0, 0, 1, 1]
    assert blend.norm[1] > 0 and blend.norm[3] > 0 and blend.scale > 0
    texts = ["A command shell executed scripts with PowerShell on server 99.", "The weather was mild."]
    scores = blend.class_scores(texts, np.array([False, False]), 2)
    assert scores[0, 0] > scores[1, 0]
    assert (blend.class_scores(texts, np.array([True, False]), 2)[0] == -1e3).all()


def test_blend_round_trip(fitted: tuple[Featurizer, LinearBank, Blend], tmp_path: Path) -> None:
    _, _, blend = fitted
    save_blend(tmp_path / "b", blend, {"seed": 1})
    again = load_blend(tmp_path / "b")
    assert again.weight == blend.weight and again.top == blend.top and again.scale == blend.scale
    assert np.array_equal(again.columns, blend.columns) and np.array_equal(again.norm, blend.norm)
    assert np.array_equal(again.thresholds, blend.thresholds) and again.extra == blend.extra
    texts = ["The spearphishing email carried a malicious link to staff in wave 7.", "Nothing here."]
    silent = np.zeros(2, dtype=bool)
    # weights are stored as float16, as for every bank
    assert np.allclose(again.class_scores(texts, silent, 2), blend.class_scores(texts, silent, 2), atol=1e-2)
    save_blend(tmp_path / "c", again, {"seed": 1})
    assert (tmp_path / "c.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_run_time_decides_with_the_blend(fitted: tuple[Featurizer, LinearBank, Blend]) -> None:
    from threadline.knowledge.index import load_kb

    kb: KnowledgeBase = load_kb(progress=False)
    feat, bank, blend = fitted
    text = ("The weather in region 50 was mild during the quarter. The actor ran PowerShell scripts to execute "
            "commands on host 50. Analysts wrote this report about region 50 in the spring.")
    model = TechniqueModel((feat, bank), None, blend=blend)
    hits = {h.id: h for h in extract_techniques(text, kb=kb, model=model, infer=False)}
    assert "T1059" in hits and "T1566" not in hits
    assert hits["T1059"].evidence[0].text.startswith("The actor ran PowerShell")
    # the blend decides: with an unreachable threshold on the combined score the class is gone
    blocked = Blend(blend.feat, blend.bank, blend.columns, blend.weight, blend.norm, blend.thresholds + 1e3,
                    blend.scale, blend.top)
    ids = {h.id for h in extract_techniques(text, kb=kb, model=TechniqueModel((feat, bank), None, blend=blocked),
                                            infer=False)}
    assert "T1059" not in ids


def test_averaged_mode_shares_one_featurizer() -> None:
    reports = [_report(n) for n in range(16)]
    spec = FeatureSpec(use_char=False, word_min_df=1)
    prep = prepare(reports, CLASSES, Featurizer.fit(sentence_set(reports, CLASSES).texts, spec))
    _, blend = calibrated_blend(prep, list(range(16)), gold_matrix(reports, CLASSES), CLASSES,
                                ReportConfig(spec, keep=0), PROCEDURES, mode="average")
    assert blend.bank.coef.shape == (blend.feat.width, 4) and blend.weight in WEIGHTS
