"""Paraphrase signal: how close a report's sentences come to each technique, in domain word vectors of our own.

Most of the extractor's misses on real reports are paraphrases ("use the camera" for Video Capture): words the
TF-IDF models never saw with that technique. Word vectors learnt from the domain's own text put such words near
each other; a sentence vector (the SIF-weighted mean of its word vectors, the corpus's common direction removed)
is then compared with each parent technique's *prototype* (the mean vector of the sentences training labels with
it). The similarities are re-ranker features (rerank.py), never findings on their own.

The vectors are positive PMI of word co-occurrence (window :data:`WINDOW`) reduced by truncated SVD, trained offline
with NumPy/SciPy on ATT&CK (procedure examples, technique descriptions), TRAM2 and AnnoCTR *train* (dev is never
read): bench/techniques_paraphrase.py builds them (per cross-validation fold without the held-out fold's reports,
and the shipped ``techniques-paraphrase.npz`` from all of train). Applying them is NumPy alone: one matrix product
per document.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

PARAPHRASE_FILE = "techniques-paraphrase.npz"
FloatArray = npt.NDArray[np.float64]
_TOKEN = re.compile(r"[a-z][a-z0-9]+(?:[._-][a-z0-9]+)*")
WINDOW = 5            # co-occurrence window, words either side
MIN_COUNT = 5         # a word seen fewer times in the corpus gets no vector
DIM = 96              # SVD dimensions
SIF_A = 1e-3          # smooth inverse frequency: weight a / (a + p(word))
MIN_WORDS = 4         # shorter sentences (cells, fragments) are not compared
PER_LABEL = 1         # prototypes (k-means centroids) per technique at most (8: train CV F1 0.696 vs 0.704)
PER_CENTROID = 20     # labelled sentences per centroid
MAX_TOKENS = 200      # a very long block (a table) is judged on its first words


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())[:MAX_TOKENS]


@dataclass(slots=True)
class Paraphraser:
    """Word vectors (rows already SIF-weighted), the corpus mean to remove, and one unit prototype per parent."""

    vocab: dict[str, int]
    vectors: npt.NDArray[np.float32]      # (words, DIM), each row weight * unit word vector
    mean: FloatArray                       # the corpus's common sentence direction
    labels: list[str]                      # parent technique ids
    prototypes: npt.NDArray[np.float32]   # (prototypes, DIM), unit rows, grouped by label
    starts: npt.NDArray[np.int64]         # first prototype row of each label (several per label: k-means)
    info: dict[str, Any] = field(default_factory=dict)

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Unit sentence vectors (zero rows for sentences without a known word)."""
        out = np.zeros((len(texts), self.vectors.shape[1]), dtype=np.float32)
        vocab = self.vocab
        for i, text in enumerate(texts):
            ids = [j for j in (vocab.get(w, -1) for w in tokens(text)) if j >= 0]
            if ids:
                out[i] = self.vectors[ids].sum(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out = np.divide(out, norms, out=np.zeros_like(out), where=norms > 0) - self.mean.astype(np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.asarray(np.divide(out, norms, out=np.zeros_like(out), where=norms > 1e-6), dtype=np.float32)

    def features(self, texts: Sequence[str], usable: npt.NDArray[np.bool_]) -> dict[str, tuple[float, float, int]]:
        """Per parent technique: the best cosine of a usable sentence with its prototype, the best per-sentence
        z-score (how far it stands out among all techniques for that sentence), and the row of that sentence."""
        rows = [i for i, ok in enumerate(usable) if ok and len(texts[i].split()) >= MIN_WORDS]
        if not rows:
            return {}
        sims = np.maximum.reduceat(self.embed([texts[i] for i in rows]) @ self.prototypes.T, self.starts, axis=1)
        known = np.abs(sims).sum(axis=1) > 0
        if not known.any():
            return {}
        sims, rows = sims[known].astype(np.float64), [r for r, k in zip(rows, known, strict=True) if k]
        z = (sims - sims.mean(axis=1, keepdims=True)) / np.maximum(sims.std(axis=1, keepdims=True), 1e-6)
        best, arg = sims.max(axis=0), z.argmax(axis=0)
        zbest = z[arg, np.arange(z.shape[1])]
        return {label: (float(best[j]), float(zbest[j]), rows[int(arg[j])]) for j, label in enumerate(self.labels)}


def save_paraphraser(path: Path, model: Paraphraser) -> None:
    words = sorted(model.vocab, key=model.vocab.__getitem__)
    np.savez_compressed(path, vectors=model.vectors.astype(np.float16), mean=model.mean.astype(np.float32),
                        prototypes=model.prototypes.astype(np.float16), starts=model.starts,
                        meta=np.frombuffer(json.dumps({"words": words, "labels": model.labels, "info": model.info})
                                           .encode("utf-8"), dtype=np.uint8))


def load_paraphraser(path: Path) -> Paraphraser:
    with np.load(path) as data:
        meta = json.loads(bytes(data["meta"]).decode("utf-8"))
        return Paraphraser({w: i for i, w in enumerate(meta["words"])}, data["vectors"].astype(np.float32),
                           data["mean"].astype(np.float64), list(meta["labels"]),
                           data["prototypes"].astype(np.float32), data["starts"].astype(np.int64),
                           dict(meta["info"]))


@lru_cache(maxsize=4)
def shipped_paraphraser(path: str) -> Paraphraser | None:
    """The shipped paraphrase vectors, or None when the file is absent (no paraphrase features)."""
    return load_paraphraser(Path(path)) if Path(path).is_file() else None


# ---- training side (SciPy), run offline by bench/techniques_paraphrase.py ---------------------------------------

def word_vectors(corpus: Sequence[str], dim: int = DIM, min_count: int = MIN_COUNT,
                 window: int = WINDOW) -> tuple[dict[str, int], npt.NDArray[np.float32]]:
    """PPMI (context distribution smoothed ** 0.75) of co-occurrence within ``window`` words, truncated SVD;
    rows weighted by smooth inverse frequency and made unit before weighting."""
    from scipy import sparse
    from scipy.sparse.linalg import svds

    docs = [tokens(t) for t in corpus]
    counts = Counter(w for doc in docs for w in doc)
    words = sorted(w for w, c in counts.items() if c >= min_count)
    vocab = {w: i for i, w in enumerate(words)}
    rows: list[npt.NDArray[np.int64]] = []
    cols: list[npt.NDArray[np.int64]] = []
    vals: list[FloatArray] = []
    for doc in docs:
        ids = np.array([vocab.get(w, -1) for w in doc], dtype=np.int64)
        for d in range(1, window + 1):
            if len(ids) <= d:
                break
            a, b = ids[:-d], ids[d:]
            ok = (a >= 0) & (b >= 0)
            rows += [a[ok], b[ok]]
            cols += [b[ok], a[ok]]
            vals += [np.full(2 * int(ok.sum()), 1.0 / d)]
    n = len(words)
    co = sparse.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsr()
    total = co.sum()
    row_sum = np.asarray(co.sum(axis=1)).ravel()
    ctx = np.asarray(co.sum(axis=0)).ravel() ** 0.75
    ctx /= ctx.sum()
    coo = co.tocoo()
    pmi = np.log(coo.data * total / (row_sum[coo.row] * total * ctx[coo.col]))
    keep = pmi > 0
    ppmi = sparse.csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=(n, n))
    u, s, _ = svds(ppmi, k=dim)
    vec = u * np.sqrt(s)
    vec /= np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-9)
    freq = np.array([counts[w] for w in words], dtype=np.float64)
    weight = SIF_A / (SIF_A + freq / freq.sum())
    return vocab, (vec * weight[:, None]).astype(np.float32)


def _centroids(emb: npt.NDArray[np.float32], k: int) -> FloatArray:
    """``k`` unit centroids of unit rows (spherical k-means, a fixed seed); one: their mean direction."""
    if k <= 1:
        out = emb.mean(axis=0, keepdims=True).astype(np.float64)
    else:
        rng = np.random.default_rng(0)
        out = emb[rng.choice(len(emb), size=k, replace=False)].astype(np.float64)
        for _ in range(10):
            assign = (emb @ out.T).argmax(axis=1)
            out = np.vstack([emb[assign == j].mean(axis=0) if (assign == j).any() else out[j] for j in range(k)])
    return np.asarray(out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9), dtype=np.float64)


def build_paraphraser(corpus: Sequence[str], labelled: Sequence[tuple[str, Sequence[str]]],
                      info: dict[str, Any] | None = None, dim: int = DIM, per_label: int = PER_LABEL) -> Paraphraser:
    """Vectors from ``corpus`` (unlabelled text), prototypes from ``labelled`` (sentence, technique ids): up to
    ``per_label`` k-means centroids of the unit sentence vectors labelled with each parent technique (one per
    :data:`PER_CENTROID` sentences), so that a technique done in several ways has a prototype for each."""
    vocab, vectors = word_vectors(corpus, dim)
    blank = Paraphraser(vocab, vectors, np.zeros(vectors.shape[1]), [], np.zeros((0, vectors.shape[1]), np.float32),
                        np.zeros(0, dtype=np.int64))
    sample = blank.embed(list(corpus[:: max(1, len(corpus) // 20000)]))
    blank.mean = sample[np.abs(sample).sum(axis=1) > 0].mean(axis=0).astype(np.float64)
    groups: dict[str, list[int]] = {}
    for i, (_, ids) in enumerate(labelled):
        for parent in {t.split(".")[0] for t in ids}:
            groups.setdefault(parent, []).append(i)
    emb = blank.embed([t for t, _ in labelled])
    labels = sorted(groups)
    parts = [_centroids(emb[groups[p]], min(per_label, 1 + len(groups[p]) // PER_CENTROID)) for p in labels]
    blank.starts = np.cumsum([0] + [len(x) for x in parts[:-1]]).astype(np.int64)
    blank.labels, blank.prototypes = labels, np.vstack(parts).astype(np.float32)
    blank.info = dict(info or {}) | {"words": len(vocab), "dim": int(vectors.shape[1]),
                                     "examples": {p: len(groups[p]) for p in labels},
                                     "window": WINDOW, "min_count": MIN_COUNT, "sif_a": SIF_A,
                                     "sentences": len(corpus), "per_label": per_label}
    return blank
