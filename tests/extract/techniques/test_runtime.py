"""The shipped technique models applied with NumPy alone (runtime.py) give scikit-learn's numbers to the bit, the
same techniques on real reports, and extraction by default no longer imports scikit-learn, SciPy or joblib."""

from __future__ import annotations

import gzip
import json
import pickle
import subprocess
import sys
from copy import deepcopy
from pathlib import Path

import numpy as np
import pytest

from threadline.extract.sentences import split_sentences
from threadline.extract.techniques import extract_techniques, grams, runtime, runtime_model, shipped_model
from threadline.extract.techniques import model as technique_model
from threadline.extract.techniques.blend import load_blend
from threadline.extract.techniques.extractor import BLEND_MODEL, MODEL_DIR, PROCEDURE_MODEL, REPORT_MODEL
from threadline.knowledge.base import KnowledgeBase

ROOT = Path(__file__).resolve().parents[3]
TRAM = ROOT / "src" / "threadline" / "data" / "tram" / "tram2-reports.jsonl.gz"
ODD = ["", "   ", "\u0391\u03a3 \u03a3 Stra\u00dfe \u0130stanbul \u01c5x", "x" * 3000, "a\u00a0b\tc\n\nd",
       "T1059 T1059 T1059 powershell.exe -enc", "Ünïcödé wörds ﬁ ligature ǅ titlecase", "a" * 7 + " " + "b c"]


@pytest.fixture(scope="module")
def reports() -> list[str]:
    with gzip.open(TRAM, "rt", encoding="utf-8") as fh:
        return [str(json.loads(line)["text"]) for line in fh]


@pytest.fixture(scope="module")
def sentences(reports: list[str]) -> list[str]:
    return [s.text for text in reports[:15] for s in split_sentences(text)] + ODD


def test_the_format_is_the_training_sides() -> None:
    assert runtime.FORMAT == technique_model.FORMAT
    assert runtime.BLOCK == technique_model.BLOCK


@pytest.mark.parametrize("name", [REPORT_MODEL, PROCEDURE_MODEL, BLEND_MODEL])
def test_features_and_decisions_are_scikit_learns_to_the_bit(name: str, sentences: list[str]) -> None:
    feat, bank, info = technique_model.load(MODEL_DIR / name)
    nfeat, nbank, ninfo = runtime.load(MODEL_DIR / name)
    assert ninfo == info and nbank.labels == bank.labels and nfeat.width == feat.width
    theirs = feat.transform(sentences).tocsr()
    ours = nfeat.transform(sentences)
    assert ours.shape == theirs.shape
    assert np.array_equal(ours.indptr, theirs.indptr) and np.array_equal(ours.indices, theirs.indices)
    assert ours.data.dtype == theirs.data.dtype and np.array_equal(ours.data, theirs.data)
    assert np.array_equal(nbank.decision(ours), bank.decision(theirs))
    assert np.array_equal(nbank.thresholds, bank.thresholds) and nbank.scale == bank.scale
    assert np.array_equal(nbank.probability(nbank.decision(ours), slice(None)),
                          bank.probability(bank.decision(theirs), slice(None)))


@pytest.mark.parametrize("name", [REPORT_MODEL, PROCEDURE_MODEL, BLEND_MODEL])
def test_the_sparse_and_dense_products_are_the_same_to_the_bit(monkeypatch: pytest.MonkeyPatch, name: str,
                                                                sentences: list[str]) -> None:
    """Bank.decision multiplies the stored weights alone (np.add.at) or dense weight rows by the bank's density:
    both forms, in parts of any size, give the same bits (zero sums included), each bank either way."""
    feat, bank, _ = runtime.load(MODEL_DIR / name)
    x = feat.transform(sentences)
    found = []
    for sparse, cells in ((0, 65_536), (10**9, 65_536), (0, 1_000), (10**9, 1_000)):
        monkeypatch.setattr(runtime, "_SPARSE", sparse)
        monkeypatch.setattr(runtime, "_CELLS", cells)
        found.append(bank.decision(x))
    assert all(f.dtype == np.float64 and f.tobytes() == found[0].tobytes() for f in found)


def test_an_empty_block_has_an_empty_decision_matrix() -> None:
    feat, bank, _ = runtime.load(MODEL_DIR / REPORT_MODEL)
    assert bank.decision(feat.transform([])).shape == (0, len(bank.labels))


def test_the_blend_is_blend_pys(sentences: list[str]) -> None:
    theirs, ours = load_blend(MODEL_DIR / BLEND_MODEL), runtime.load_blend(MODEL_DIR / BLEND_MODEL)
    silent = np.zeros(len(sentences), dtype=bool)
    silent[::5] = True
    n = len(shipped_model().classes)
    scores = ours.class_scores(sentences, silent, n)
    assert np.array_equal(scores, theirs.class_scores(sentences, silent, n))
    report = np.linspace(-3, 3, n)
    assert np.array_equal(ours.combine(report, scores[0]), theirs.combine(report, scores[0]))
    assert np.array_equal(ours.probability(scores[1]), theirs.probability(scores[1]))
    assert (ours.weight, ours.scale, ours.top) == (theirs.weight, theirs.scale, theirs.top)
    assert np.array_equal(ours.thresholds, theirs.thresholds) and np.array_equal(ours.columns, theirs.columns)


def test_real_reports_give_the_same_techniques(kb: KnowledgeBase, reports: list[str]) -> None:
    texts = reports[15:45] + [p.read_text(encoding="utf-8") for p in sorted((ROOT / "examples").glob("*.md"))]
    numpy_model, sklearn_model = runtime_model(), shipped_model()
    assert isinstance(numpy_model.report[0], runtime.Featurizer)
    found = 0
    for text in texts:
        ours = [h.to_dict() for h in extract_techniques(text, kb=kb, model=numpy_model)]
        assert ours == [h.to_dict() for h in extract_techniques(text, kb=kb, model=sklearn_model)]
        found += len(ours)
    assert found > 100          # the comparison is about real findings, not empty lists


def test_scored_by_blocks_as_in_one_block(monkeypatch: pytest.MonkeyPatch, kb: KnowledgeBase,
                                          reports: list[str]) -> None:
    text = "\n\n".join(reports[:4])
    whole = [h.to_dict() for h in extract_techniques(text, kb=kb)]
    monkeypatch.setattr(runtime, "BLOCK", 7)
    assert [h.to_dict() for h in extract_techniques(text, kb=kb)] == whole


def test_extraction_imports_neither_scikit_learn_nor_scipy() -> None:
    code = ("import sys; from threadline.extract.techniques import extract_techniques; "
            "from threadline.knowledge.index import load_kb; "
            "hits = extract_techniques('The actor sent spearphishing emails with a malicious attachment. "
            "A PowerShell script downloaded the payload.', kb=load_kb(progress=False)); "
            "assert hits; print(sorted(m for m in ('sklearn', 'scipy', 'joblib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_weights_stored_out_of_order_give_the_same_decisions(tmp_path: Path, sentences: list[str]) -> None:
    import shutil

    source = MODEL_DIR / BLEND_MODEL
    shutil.copyfile(source.with_suffix(".json.gz"), tmp_path / "m.json.gz")
    with np.load(source.with_suffix(".npz"), allow_pickle=False) as arrays:
        saved = {name: arrays[name] for name in arrays.files}
    order = np.random.default_rng(3).permutation(saved["rows"].size)
    np.savez(tmp_path / "m.npz", **{**saved, **{k: saved[k][order] for k in ("rows", "cols", "vals")}})
    feat, bank, _ = runtime.load(MODEL_DIR / BLEND_MODEL)
    shuffled_feat, shuffled, _ = runtime.load(tmp_path / "m")
    assert not np.array_equal(order, np.arange(order.size))
    assert np.array_equal(shuffled.decision(shuffled_feat.transform(sentences)),
                          bank.decision(feat.transform(sentences)))


def _same_rows(a: runtime.Rows, b: runtime.Rows) -> bool:
    return a.shape == b.shape and all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("rows", "indices", "data"))


def test_a_kept_char_pool_gives_the_features_of_a_fresh_one(monkeypatch: pytest.MonkeyPatch,
                                                              sentences: list[str]) -> None:
    """Words kept across calls (ASCII ones looked up in arrays once the pool holds words), and a pool that fills
    up and starts again in the middle of a call, give the features a fresh pool gives (one word at a time)."""
    feat, _, _ = runtime.load(MODEL_DIR / REPORT_MODEL)
    monkeypatch.setattr(runtime, "WORD_CACHE", 300)
    pool = runtime.CharPool()
    for part in (sentences[:5], sentences[3:60], sentences, [*ODD, "\x00\x7f ab x", "x"], sentences[::-1]):
        assert _same_rows(feat.transform(part, grams=pool), feat.transform(part))
    assert 0 < len(pool.slot) <= max(300, len(set(" ".join(sentences).lower().split())))


def test_a_featurizer_pickles_with_an_empty_pool(sentences: list[str]) -> None:
    """A featurizer can still be pickled (to a worker) or deep-copied: its pool, a cache with a lock, starts empty."""
    feat, _, _ = runtime.load(MODEL_DIR / REPORT_MODEL)
    expected = feat.transform(sentences[:20], grams=feat.word_grams)
    for copy in (pickle.loads(pickle.dumps(feat)), deepcopy(feat)):
        assert not copy.word_grams.slot
        assert _same_rows(copy.transform(sentences[:20], grams=copy.word_grams), expected)


def test_the_word_union_gives_each_vocabularys_own_columns(sentences: list[str]) -> None:
    """From a vocabulary's second call on, its word grams are looked up once for the three featurizers (grams.py
    WordUnion): each still gets the columns of its own vocabulary, for any subset of the last call's sentences
    and for sentences it has not seen, as a direct look-up (a copy of the vocabulary, at its first call) gives."""
    from dataclasses import replace

    feats = [runtime.load(MODEL_DIR / name)[0] for name in (REPORT_MODEL, PROCEDURE_MODEL, BLEND_MODEL)]

    def direct(feat: runtime.Featurizer, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        return replace(feat, word=dict(feat.word))._words(texts)

    for part in (sentences[:30], sentences, sentences[::3], sentences[7:40], ODD, [], sentences[::-1]):
        for feat in feats:
            found, expected = feat._words(part), direct(feat, part)
            assert all(np.array_equal(a, b) for a, b in zip(found, expected, strict=True))
    assert all(grams.union().columns[id(feat.word)][0] is feat.word for feat in feats)
