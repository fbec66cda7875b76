"""The technique classifiers: TF-IDF sentence features (with neighbouring-sentence context) and sparse linear banks.

Two banks share one file format. The *report* bank covers the TRAM classes and is trained on annotated report
sentences; the *procedure* bank covers every Enterprise technique with ATT&CK procedure examples. Each is stored as
a vocabulary (JSON) plus IDF vectors and pruned sparse weights (``.npz``), so no pickle is ever loaded.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.svm import LinearSVC

from threadline.extract.techniques import runtime

FloatArray = npt.NDArray[np.float64]
SEED = 20240601
FORMAT = 1


@dataclass(slots=True)
class FeatureSpec:
    """How sentences become vectors; stored with the model so run time builds exactly the same features."""

    word_max: int = 40000
    char_max: int = 120000
    use_char: bool = True
    context: float = 0.0          # weight of the neighbouring-sentence block; 0 disables it (no gain measured)
    word_min_df: int = 2
    char_min_df: int = 3


def _word_vectorizer(spec: FeatureSpec) -> TfidfVectorizer:
    return TfidfVectorizer(ngram_range=(1, 2), min_df=spec.word_min_df, max_features=spec.word_max,
                           sublinear_tf=True, dtype=np.float32)


def _char_vectorizer(spec: FeatureSpec) -> TfidfVectorizer:
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=spec.char_min_df,
                           max_features=spec.char_max, sublinear_tf=True, dtype=np.float32)


@dataclass(slots=True)
class Featurizer:
    """Fitted word (+ char) TF-IDF vectorizers and the context rule."""

    spec: FeatureSpec
    word: TfidfVectorizer
    char: TfidfVectorizer | None

    @classmethod
    def fit(cls, texts: Sequence[str], spec: FeatureSpec) -> Featurizer:
        word = _word_vectorizer(spec).fit(texts)
        char = _char_vectorizer(spec).fit(texts) if spec.use_char else None
        return cls(spec, word, char)

    @property
    def width(self) -> int:
        base = len(self.word.vocabulary_) + (len(self.char.vocabulary_) if self.char is not None else 0)
        return base * (2 if self.spec.context else 1)

    def transform(self, texts: Sequence[str], doc_ids: Sequence[int] | None = None,
                  grams: dict[str, list[int]] | None = None) -> sp.csr_matrix:
        """Rows of sentence features; with context, each row also carries the mean of its neighbours in its doc.
        ``grams`` caches each word's character n-grams across calls on blocks of one text."""
        blocks = [self.word.transform(texts)]
        if self.char is not None:
            blocks.append(char_wb_transform(self.char, texts, grams))
        x = sp.hstack(blocks, format="csr", dtype=np.float32) if len(blocks) > 1 else blocks[0].tocsr()
        if not self.spec.context:
            return x
        ids = list(doc_ids) if doc_ids is not None else [0] * len(texts)
        return sp.hstack([x, self.spec.context * neighbours(ids) @ x], format="csr", dtype=np.float32)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"spec": {k: getattr(self.spec, k) for k in FeatureSpec.__slots__},
                               "word": _vocab_list(self.word)}
        if self.char is not None:
            out["char"] = _vocab_list(self.char)
        return out

    def idf_arrays(self) -> dict[str, Any]:
        out = {"word_idf": np.asarray(self.word.idf_, dtype=np.float32)}
        if self.char is not None:
            out["char_idf"] = np.asarray(self.char.idf_, dtype=np.float32)
        return out

    @classmethod
    def from_saved(cls, meta: dict[str, Any], arrays: Any) -> Featurizer:
        spec = FeatureSpec(**meta["spec"])
        word = _restore(_word_vectorizer(spec), meta["word"], arrays["word_idf"])
        char = _restore(_char_vectorizer(spec), meta["char"], arrays["char_idf"]) if "char" in meta else None
        return cls(spec, word, char)


def char_wb_transform(vec: TfidfVectorizer, texts: Sequence[str],
                      grams: dict[str, list[int]] | None = None) -> sp.csr_matrix:
    """``vec.transform(texts)`` (the same matrix) for a fitted ``char_wb`` vectorizer, with the n-grams of each
    distinct word looked up once (``grams``, word -> vocabulary indices, may carry them over from earlier calls).

    ``char_wb`` n-grams never cross a word boundary, so a sentence's counts are the sum of its words' counts: one
    sparse product (sentences x words) @ (words x n-grams) adds them up in C. scikit-learn's own loop looks up every
    n-gram of every sentence in Python, the bulk of the time of technique extraction (3x slower on long reports).
    """
    params = vec.get_params()
    if (params["analyzer"] != "char_wb" or not params["lowercase"] or params["preprocessor"] is not None
            or params["strip_accents"] is not None or params["binary"] or params["input"] != "content"):
        return vec.transform(texts)          # the shortcut below assumes the plain char_wb analyzer
    analyze, vocabulary = vec.build_analyzer(), vec.vocabulary_
    grams = {} if grams is None else grams
    columns: dict[str, int] = {}             # word -> its row in the words x n-grams matrix of this call
    gram_rows: list[int] = []
    gram_cols: list[int] = []
    sent_cols: list[int] = []                # word rows of each sentence, delimited by sent_ptr
    sent_ptr = [0]
    for text in texts:
        words = text.lower().split()         # what the analyzer does: lower case, then split at white space
        for word in words:
            if word not in columns:
                j = columns[word] = len(columns)
                found = grams.get(word)
                if found is None:
                    found = grams[word] = [i for i in map(vocabulary.get, analyze(word)) if i is not None]
                gram_rows.extend([j] * len(found))
                gram_cols.extend(found)
        sent_cols.extend(map(columns.__getitem__, words))
        sent_ptr.append(len(sent_cols))
    words_grams = sp.csr_matrix((np.ones(len(gram_rows), dtype=np.int32), (gram_rows, gram_cols)),
                                shape=(len(columns), len(vocabulary)))
    sentence_words = sp.csr_matrix((np.ones(len(sent_cols), dtype=np.int32), np.asarray(sent_cols, dtype=np.int32),
                                    np.asarray(sent_ptr, dtype=np.int32)), shape=(len(texts), len(columns)))
    sentence_words.sum_duplicates()
    counts = sp.csr_matrix(sentence_words @ words_grams, dtype=vec.dtype)
    counts.eliminate_zeros()
    counts.sort_indices()
    return vec._tfidf.transform(counts, copy=False)      # the vectorizer's own TF-IDF step, as in its transform()


BLOCK = 4096          # sentences scored at a time: on a long report the feature matrices and the decision values
                      # (691 columns for the procedure bank) would otherwise grow by about 70 MB per MB of text


def decisions_by_block(feat: Featurizer, bank: LinearBank, texts: Sequence[str]) -> Iterator[tuple[int, FloatArray]]:
    """``bank.decision(feat.transform(texts))`` a block of rows at a time, as (first row, decision values); the
    rows are the same as in one call (each row's features and scores depend on its own sentence alone)."""
    if feat.spec.context:        # neighbouring sentences would cross block borders
        yield 0, bank.decision(feat.transform(texts, [0] * len(texts)))
        return
    grams: dict[str, list[int]] = {}
    for start in range(0, len(texts) or 1, BLOCK):      # an empty list still gets its (empty) decision matrix
        yield start, bank.decision(feat.transform(texts[start:start + BLOCK], grams=grams))


def _vocab_list(vec: TfidfVectorizer) -> list[str]:
    terms = [""] * len(vec.vocabulary_)
    for term, index in vec.vocabulary_.items():
        terms[index] = term
    return terms


def _restore(vec: TfidfVectorizer, terms: list[str], idf: Any) -> TfidfVectorizer:
    vec.vocabulary_ = {t: i for i, t in enumerate(terms)}
    vec.idf_ = np.asarray(idf, dtype=np.float64)
    return vec


def neighbours(doc_ids: Sequence[int]) -> sp.csr_matrix:
    """Row i averages sentences i-1 and i+1 when they belong to the same document."""
    n = len(doc_ids)
    rows: list[int] = []
    cols: list[int] = []
    for i in range(n):
        near = [j for j in (i - 1, i + 1) if 0 <= j < n and doc_ids[j] == doc_ids[i]]
        for j in near:
            rows.append(i)
            cols.append(j)
    vals = np.full(len(rows), 0.5, dtype=np.float32)
    return sp.csr_matrix((vals, (rows, cols)), shape=(n, n))


@dataclass(slots=True)
class LinearBank:
    """One-vs-rest linear scorers over a shared feature space, weights kept sparse (top weights per class)."""

    labels: list[str]
    coef: sp.csr_matrix               # n_features x n_labels
    intercept: FloatArray
    thresholds: FloatArray            # report-level decision threshold per label (on the aggregated score)
    scale: float = 1.0                # slope of the 0-1 score around the threshold
    extra: dict[str, Any] = field(default_factory=dict)

    def decision(self, x: sp.csr_matrix) -> FloatArray:
        return np.asarray((x @ self.coef).toarray(), dtype=np.float64) + self.intercept

    def probability(self, value: float | FloatArray, index: int | slice) -> Any:
        """A 0-1 score that crosses 0.5 at the calibrated threshold."""
        return 1.0 / (1.0 + np.exp(-self.scale * (np.asarray(value) - self.thresholds[index])))


def _fit_one(x: sp.csr_matrix, target: npt.NDArray[np.int32], c: float, kind: str,
             pos_weight: float = 1.0) -> tuple[FloatArray, float]:
    model: LinearSVC | SGDClassifier
    weights = {0: 1.0, 1: pos_weight}
    if kind == "svm":
        model = LinearSVC(C=c, random_state=SEED, max_iter=3000, dual=True, class_weight=weights)
    else:   # hinge-loss SGD: about 3x faster than liblinear on char n-grams, close in accuracy
        model = SGDClassifier(loss="hinge", alpha=c, max_iter=12, tol=None, random_state=SEED, class_weight=weights)
    model.fit(x, target)
    return model.coef_[0].astype(np.float64), float(model.intercept_[0])


def train_bank(x: sp.csr_matrix, y: npt.NDArray[np.bool_], labels: list[str], *, c: float = 2e-5,
               keep: int = 0, kind: str = "sgd", jobs: int = 1, pos_weight: float = 1.0) -> LinearBank:
    """Fit one linear scorer per label (deterministic); keep only the ``keep`` largest |weights| per label.

    ``pos_weight`` weighs the rare positive sentences up in the loss (hinge loss otherwise mostly learns to reject).
    """
    todo = [j for j in range(len(labels)) if y[:, j].any()]
    fitted = Parallel(n_jobs=jobs)(delayed(_fit_one)(x, y[:, j].astype(np.int32), c, kind, pos_weight)
                                   for j in todo)
    cols = [np.zeros(x.shape[1]) for _ in labels]
    intercepts = [-1.0] * len(labels)
    for j, (w, b) in zip(todo, fitted, strict=True):
        if keep and keep < w.size:
            cut = np.partition(np.abs(w), w.size - keep)[w.size - keep]
            w = np.where(np.abs(w) >= cut, w, 0.0)
        cols[j], intercepts[j] = w, b
    coef = sp.csr_matrix(np.vstack(cols).T.astype(np.float32))
    return LinearBank(labels, coef, np.asarray(intercepts), np.zeros(len(labels)))


def report_scores(decision: FloatArray, doc_ids: Sequence[int], n_docs: int, top: int = 2) -> FloatArray:
    """Report score per label: mean of the ``top`` best sentence scores of that report."""
    out = np.full((n_docs, decision.shape[1]), -5.0)
    ids = np.asarray(doc_ids)
    for d in range(n_docs):
        rows = decision[ids == d]
        if rows.shape[0] == 0:
            continue
        k = min(top, rows.shape[0])
        best = -np.sort(-rows, axis=0)[:k]
        out[d] = best.mean(axis=0)
    return out


# ---- storage ---------------------------------------------------------------------------------------------
def save(path: Path, featurizer: Featurizer, bank: LinearBank, info: dict[str, Any]) -> None:
    """Write ``<path>.json.gz`` (vocabulary, labels, provenance) and ``<path>.npz`` (IDF, weights, thresholds)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    coef = bank.coef.tocoo()
    used = np.unique(coef.row)
    meta = {"format": FORMAT, "labels": bank.labels, "scale": bank.scale, "features": featurizer.to_json(),
            "info": info, "extra": bank.extra}
    # mtime=0 in the gzip header: a rebuild with the same inputs gives byte-identical files
    payload = json.dumps(meta, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    with path.with_suffix(".json.gz").open("wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as fh:
        fh.write(payload)
    np.savez_compressed(path.with_suffix(".npz"), rows=coef.row.astype(np.int32), cols=coef.col.astype(np.int16),
                        vals=coef.data.astype(np.float16), intercept=bank.intercept.astype(np.float32),
                        thresholds=bank.thresholds.astype(np.float32), n_used=np.int32(used.size),
                        **featurizer.idf_arrays())


def load(path: Path) -> tuple[Featurizer, LinearBank, dict[str, Any]]:
    """Read a model written by :func:`save`; a missing or foreign file is a clear error."""
    meta, arr_path = runtime.read_meta(path)
    with np.load(arr_path, allow_pickle=False) as arrays:
        featurizer = Featurizer.from_saved(meta["features"], arrays)
        shape = (featurizer.width, len(meta["labels"]))
        coef = sp.csr_matrix((arrays["vals"].astype(np.float32), (arrays["rows"], arrays["cols"].astype(np.int32))),
                             shape=shape)
        bank = LinearBank(list(meta["labels"]), coef, arrays["intercept"].astype(np.float64),
                          arrays["thresholds"].astype(np.float64), float(meta["scale"]), meta.get("extra", {}))
    return featurizer, bank, meta.get("info", {})
