"""The shipped technique models applied with NumPy alone: no scikit-learn, SciPy or joblib at run time.

Training (model.py, train.py, blend.py) fits scikit-learn TF-IDF vectorizers and linear banks and stores them as
a vocabulary (JSON) and NumPy arrays. Applying them is tokenising, counting, three array operations and one sparse
product; importing scikit-learn for that took 1.1 s of a 3 s cold `threadline analyze`. This module reads the same
files and computes the same numbers, bit for bit: the same float32 TF-IDF values (same operations in the same
order, sums of squares in float64 as scikit-learn's row normaliser), and the sparse product accumulated in float32
in SciPy's order. tests/extract/techniques/test_runtime.py checks the matrices and the extracted techniques against
the scikit-learn path on real reports.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain, compress, pairwise, repeat
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from threadline.errors import ThreadlineError
from threadline.extract.techniques import grams as gram_union
from threadline.extract.techniques.grams import BLOCK as BLOCK
from threadline.limits import check

FloatArray = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int64]
FORMAT = 1                  # model.FORMAT (a test keeps them equal); this module must not import model.py
WORD_CACHE = 50_000         # distinct words whose n-gram columns a featurizer keeps (CharPool: about 8 MB)
_CELLS = 65_536              # float32 products of features x labels held at once in Bank.decision (256 kB)
_SPARSE = 4                 # Bank.decision multiplies only stored weights below 1/4 of the dense products
_GROUP = 1.25               # Bank.decision pads rows to the longest of a group at most this times the shortest
_ABSENT, _SILENT = -10.0, -1e3             # as in blend.py
SKIPPED = _SILENT                          # decisions_by_block's value of a row it was told to skip


class SpecLike(Protocol):
    context: float


class FeaturizerLike(Protocol):
    """What extraction needs of a featurizer: model.Featurizer (scikit-learn) and :class:`Featurizer` both fit."""

    @property
    def spec(self) -> SpecLike: ...

    def transform(self, texts: Sequence[str], doc_ids: Sequence[int] | None = None, grams: Any = None) -> Any: ...


class BankLike(Protocol):
    labels: list[str]
    thresholds: FloatArray
    scale: float
    extra: dict[str, Any]

    def decision(self, x: Any) -> FloatArray: ...

    def probability(self, value: float | FloatArray, index: int | slice) -> Any: ...


@dataclass(slots=True)
class Spec:
    """The stored model.FeatureSpec, as read (run time needs only ``context`` and ``use_char``)."""

    context: float
    use_char: bool


@dataclass(slots=True)
class Rows:
    """A CSR matrix as plain arrays (SciPy's layout): row ``i`` holds ``indices/data[indptr[i]:indptr[i+1]]``,
    columns sorted within each row."""

    rows: Ints          # the row of each stored value (what CSR's indptr encodes, expanded)
    indices: Ints
    data: F32
    shape: tuple[int, int]

    @property
    def indptr(self) -> Ints:
        return np.concatenate([[0], np.cumsum(np.bincount(self.rows, minlength=self.shape[0]))]).astype(np.int64)


def _tfidf(rows: Ints, cols: Ints, n_rows: int, idf: FloatArray) -> Rows:
    """Counts of (row, column) occurrences -> sublinear TF x IDF, rows L2-normalised: scikit-learn's
    TfidfTransformer.transform on float32 counts, operation for operation."""
    width = idf.size
    keys = rows * width + cols
    if n_rows * width < 2**31:
        keys = keys.astype(np.int32)                  # the same keys, sorted faster in 32 bits
    keys, counts = np.unique(keys, return_counts=True)     # sorted by row, then column
    keys = keys.astype(np.int64)
    data = counts.astype(np.float32)
    np.log(data, out=data)
    data += np.float32(1.0)
    row, col = keys // width, keys % width
    data *= idf[col]                                  # float64 product stored back in float32, as in-place there
    squares = (data * data).astype(np.float64)        # float32 products summed in a double, row by row
    norms = np.zeros(n_rows)
    np.add.at(norms, row, squares)                    # in order, as the Cython loop (a pairwise sum differs)
    norms = np.sqrt(norms)
    keep = norms[row] != 0.0
    data = np.where(keep, (data.astype(np.float64) / np.where(keep, norms[row], 1.0)), data).astype(np.float32)
    return Rows(row, col, data, (n_rows, width))


class CharPool:
    """Words' ``char_wb`` n-gram columns, all in one array: word -> its slot, a slot's columns at
    ``columns[starts[slot]:starts[slot] + lengths[slot]]``. A report's words expand to their columns in a few array
    operations (a list of columns per word cost a Python step per column at every call); at most
    :data:`WORD_CACHE` words, then it starts again. ``lock``: one thread at a time adds and reads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clear()

    def __reduce__(self) -> tuple[type[CharPool], tuple[()]]:
        return CharPool, ()              # a cache: a copy (pickled to a worker, deep-copied) starts empty

    def clear(self) -> None:
        self.slot: dict[str, int] = {}
        self.columns = np.zeros(0, dtype=np.int32)
        self.starts = np.zeros(0, dtype=np.int64)
        self.lengths = np.zeros(0, dtype=np.int64)
        self._used = 0                   # columns[:_used] hold the slots' columns

    def add(self, words: list[str], vocabulary: dict[str, int]) -> None:
        """Give each new word (lower case, without spaces) a slot with its n-grams' columns: ASCII words all at
        once in arrays (:func:`_ascii_columns`), the others through :func:`_char_wb`."""
        if not words:
            return
        # in arrays from the second call on: a one-report run (the cold start) does not pay for the packed table
        plain = [word for word in words if word.isascii()] if self.slot else []
        if plain:
            self._put(plain, *_ascii_columns(plain, vocabulary))
        other = [word for word in words if not word.isascii()] if plain else words
        if other:
            grams = [_char_wb(word) for word in other]
            sizes = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams))
            found = np.fromiter(map(vocabulary.get, chain.from_iterable(grams), repeat(-1)), dtype=np.int64,
                                count=int(sizes.sum()))
            known = found >= 0
            self._put(other, np.bincount(np.repeat(np.arange(len(other)), sizes)[known], minlength=len(other)),
                      found[known])

    def _put(self, words: list[str], lengths: Ints, columns: Ints) -> None:
        """Slots for ``words``, whose columns follow one another in ``columns`` (``lengths`` of them each)."""
        kept = columns.astype(np.int32)
        if self._used + kept.size > self.columns.size:
            grown = np.zeros(max(2 * self.columns.size, self._used + kept.size, 4096), dtype=np.int32)
            grown[:self._used] = self.columns[:self._used]
            self.columns = grown
        self.columns[self._used:self._used + kept.size] = kept
        base = len(self.slot)
        self.starts = np.concatenate([self.starts, self._used + np.cumsum(lengths) - lengths])
        self.lengths = np.concatenate([self.lengths, lengths])
        self._used += kept.size
        self.slot.update(zip(words, range(base, base + len(words)), strict=True))


_PACKED: dict[int, tuple[dict[str, int], Ints, Ints]] = {}    # id(vocabulary) -> (it, sorted keys, their columns)


def _key_of(codes: Ints, length: int) -> Ints:
    """One integer per n-gram of ASCII characters: its length, then its characters' codes (7 bits each), so two
    n-grams of at most 5 characters have the same key only when they are the same string."""
    key = np.full(codes.shape[0], length << 35, dtype=np.int64)
    for j in range(length):
        key += codes[:, j] << (7 * j)
    return key


def _packed(vocabulary: dict[str, int]) -> tuple[Ints, Ints]:
    """The vocabulary's ASCII n-grams as sorted keys (:func:`_key_of`) with their columns, made once per vocabulary
    (kept with it, so its id is not reused) with a few passes in C over its ~100,000 n-grams."""
    found = _PACKED.get(id(vocabulary))
    if found is None or found[0] is not vocabulary:
        grams = list(vocabulary)
        count = len(grams)
        usable = (np.fromiter(map(str.isascii, grams), dtype=bool, count=count)
                  & (np.fromiter(map(len, grams), dtype=np.int64, count=count) <= 5))
        chosen = list(compress(grams, usable.tolist()))
        lengths = np.fromiter(map(len, chosen), dtype=np.int64, count=len(chosen))
        codes = np.frombuffer("".join(chosen).encode("ascii"), dtype=np.uint8).astype(np.int64)
        firsts = np.cumsum(lengths) - lengths
        offset = np.arange(codes.size) - np.repeat(firsts, lengths)       # place of each character in its n-gram
        keys = np.zeros(len(chosen), dtype=np.int64)
        nonempty = lengths > 0
        keys[nonempty] = np.add.reduceat(codes << (7 * offset), firsts[nonempty]) if codes.size else 0
        keys += lengths << 35
        columns = np.fromiter(vocabulary.values(), dtype=np.int64, count=count)[usable]
        order = np.argsort(keys)         # distinct n-grams, distinct keys
        found = _PACKED[id(vocabulary)] = (vocabulary, keys[order], columns[order])
    return found[1], found[2]


def _ascii_columns(words: list[str], vocabulary: dict[str, int]) -> tuple[Ints, Ints]:
    """:func:`_char_wb` of each ASCII word looked up in ``vocabulary``, in arrays: (how many columns each word has,
    the columns one word after another). A padded word of ``s`` characters has its n-grams for n from 2 to
    min(5, s) (one n-gram of its whole length when s <= 5, as _char_wb's break); making them one string at a time
    was most of the work on a report's new words (hashes, paths, long names)."""
    keys, columns = _packed(vocabulary)
    padded = [f" {word} " for word in words]
    sizes = np.fromiter(map(len, padded), dtype=np.int64, count=len(padded))
    text = np.frombuffer("".join(padded).encode("ascii"), dtype=np.uint8).astype(np.int64)
    firsts = np.cumsum(sizes) - sizes
    owners, found = [], []
    for n in range(2, 6):
        counts = np.where(sizes >= n, sizes - n + 1, 0)
        owner = np.repeat(np.arange(len(words)), counts)
        position = np.arange(owner.size) + np.repeat(firsts - (np.cumsum(counts) - counts), counts)
        key = _key_of(text[position[:, None] + np.arange(n)[None, :]], n)
        at = np.minimum(np.searchsorted(keys, key), max(keys.size - 1, 0))
        hit = keys[at] == key if keys.size else np.zeros(key.size, dtype=bool)
        owners.append(owner[hit])
        found.append(columns[at[hit]])
    owner_all, found_all = np.concatenate(owners), np.concatenate(found)
    order = np.argsort(owner_all, kind="stable")         # each word's columns together, in word order
    return np.bincount(owner_all, minlength=len(words)), found_all[order]


@dataclass(slots=True)
class Featurizer:
    """Word (1-2)-gram and ``char_wb`` (2-5)-gram TF-IDF, as model.Featurizer with the stored vocabularies."""

    spec: Spec
    word: dict[str, int]
    word_idf: FloatArray
    char: dict[str, int] | None = None
    char_idf: FloatArray | None = None
    # each word's char_wb n-gram columns, kept across calls (``transform(..., grams=...)``): a worker analysing
    # report after report meets the same words again and again (looking them up was a third of technique
    # extraction); bounded by WORD_CACHE
    word_grams: CharPool = field(default_factory=lambda: CharPool(), compare=False, repr=False)

    @property
    def width(self) -> int:
        return len(self.word) + (len(self.char) if self.char is not None else 0)

    def _words(self, texts: Sequence[str]) -> tuple[Ints, Ints]:
        """Word 1-2-grams: each sentence's (``grams.sentence_grams``) looked up in the vocabulary, all at once;
        from a vocabulary's second call on, through the ``grams.WordUnion`` of the featurizers' vocabularies."""
        vocabulary = self.word
        union = gram_union.union()
        columns = union.columns.get(id(vocabulary))
        if columns is None or columns[0] is not vocabulary:
            if gram_union.joined(vocabulary):
                return self._words(texts)
            lists = [gram_union.sentence_grams(text) for text in texts]
            sizes = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
            cols = np.fromiter(map(vocabulary.get, chain.from_iterable(lists), repeat(-1)), dtype=np.int64,
                               count=int(sizes.sum()))
        else:
            ids, sizes = union.ids(texts)
            cols = columns[1][ids]
        rows = np.repeat(np.arange(len(texts), dtype=np.int64), sizes)
        known = cols >= 0
        return rows[known], cols[known]

    def _chars(self, texts: Sequence[str], pool: CharPool) -> tuple[Ints, Ints]:
        """``char_wb`` n-grams never cross a word boundary: each distinct word's n-grams are looked up once (in
        ``pool``, kept across calls), then every word occurrence expands to its n-grams in one array operation."""
        assert self.char is not None
        split = [text.lower().split() for text in texts]
        occurrences = list(chain.from_iterable(split))
        with pool.lock:
            distinct = list(dict.fromkeys(occurrences))
            new = [word for word in distinct if word not in pool.slot]
            if new and len(pool.slot) + len(new) > WORD_CACHE:
                pool.clear()             # full: start again with this call's words
                new = distinct
            pool.add(new, self.char)
            slots = np.fromiter(map(pool.slot.__getitem__, occurrences), dtype=np.int64, count=len(occurrences))
            per, starts = pool.lengths[slots], pool.starts[slots]
            offsets = np.repeat(starts - (np.cumsum(per) - per), per)
            cols = pool.columns[np.arange(offsets.size) + offsets].astype(np.int64)
        sentence = np.repeat(np.arange(len(split), dtype=np.int64), [len(words) for words in split])
        return np.repeat(sentence, per), cols

    def transform(self, texts: Sequence[str], doc_ids: Sequence[int] | None = None, grams: Any = None) -> Rows:
        """Rows of sentence features (word block, then char block), as model.Featurizer.transform's matrix;
        ``grams``: a :class:`CharPool` kept across calls (``word_grams``), else the words are looked up afresh."""
        if self.spec.context:
            raise ThreadlineError("a model with neighbouring-sentence context needs scikit-learn to apply")
        n = len(texts)
        block = _tfidf(*self._words(texts), n, self.word_idf)
        if self.char is None or self.char_idf is None:
            return block
        chars = _tfidf(*self._chars(texts, grams if isinstance(grams, CharPool) else CharPool()), n,
                       self.char_idf)
        rows = np.concatenate([block.rows, chars.rows])
        order = np.argsort(rows, kind="stable")           # per row: word columns, then char columns
        return Rows(rows[order], np.concatenate([block.indices, chars.indices + len(self.word)])[order],
                    np.concatenate([block.data, chars.data])[order], (n, self.width))


def _char_wb(word: str) -> list[str]:
    """scikit-learn's ``_char_wb_ngrams`` (2-5) of one lower-cased word, after its preprocessing."""
    out: list[str] = []
    for w in word.lower().split():
        w = f" {w} "
        size = len(w)
        for n in (2, 3, 4, 5):
            if size <= n:
                out.append(w)             # a word shorter than n counts once, then no longer n-grams
                break
            out += [w[i:i + n] for i in range(size - n + 1)]
    return out


@dataclass(slots=True)
class Bank:
    """model.LinearBank's scorer: weights as CSR arrays (features x labels), applied without SciPy."""

    labels: list[str]
    indptr: Ints
    indices: Ints
    weights: F32
    intercept: FloatArray
    thresholds: FloatArray
    scale: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)

    def decision(self, x: Rows) -> FloatArray:
        """``x @ coef`` + intercept: float32 products summed in float32 in SciPy's order (each row's features in
        column order), so the values are SciPy's to the bit. The weight rows the block uses are made dense (plus
        a zero row for padding); rows of about the same length (the longest at most :data:`_GROUP` times the
        shortest) are padded to one (rows, features, labels) array whose sum over axis 1 adds one feature after
        another (a pairwise sum would differ in the last bits). Groups of close lengths waste little on padding
        (lengths rounded up to a power of two wasted a third of the products), and parts of at most :data:`_CELLS`
        products stay in the processor's cache (parts of 16 MB were fetched from memory three times)."""
        n_labels = len(self.labels)
        starts = self.indptr[x.indices]
        lengths = self.indptr[x.indices + 1] - starts
        ends = np.cumsum(lengths)
        if ends.size and int(ends[-1]) * _SPARSE < x.indices.size * n_labels:
            return self._sparse(x, starts, lengths, ends)
        mask = np.zeros(self.indptr.size - 1, dtype=bool)       # the features the block uses, without a sort
        mask[x.indices] = True
        used = np.flatnonzero(mask)
        local = np.append((np.cumsum(mask) - 1)[x.indices], used.size)     # last: the padding's zero row
        starts = self.indptr[used]
        lengths = self.indptr[used + 1] - starts
        position = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)    # in place: fewer temporaries
        position += np.arange(position.size)
        flat = np.repeat(np.arange(0, used.size * n_labels, n_labels), lengths)
        flat += self.indices[position]
        dense = np.zeros((used.size + 1, n_labels), dtype=np.float32)
        dense.ravel()[flat] = self.weights[position]
        data = np.append(x.data, np.float32(0.0))                          # last: the padding's zero value
        out = np.zeros((x.shape[0], n_labels), dtype=np.float32)
        indptr = x.indptr
        sizes = np.diff(indptr)
        order = np.argsort(sizes, kind="stable")
        order = order[sizes[order] > 0]
        ordered = sizes[order]
        first = 0
        # one buffer for every part's products, gathered and multiplied in place (a fresh array per part cost a
        # tenth of the loop)
        buffer = np.empty(max(_CELLS, n_labels * int(ordered[-1])) if ordered.size else 0, dtype=np.float32)
        while first < order.size:
            shortest = int(ordered[first])
            end = int(np.searchsorted(ordered, max(shortest * _GROUP, shortest + 3), side="right"))
            width = int(ordered[end - 1])
            step = max(1, _CELLS // (width * n_labels))
            columns = np.arange(width)[None, :]
            for part_start in range(first, end, step):
                part = order[part_start:min(part_start + step, end)]
                at = np.where(columns >= sizes[part][:, None], data.size - 1, indptr[part][:, None] + columns)
                products = buffer[:at.size * n_labels].reshape(*at.shape, n_labels)
                np.take(dense, local[at], axis=0, out=products)
                np.multiply(products, data[at][:, :, None], out=products)
                out[part] = products.sum(axis=1)
            first = end
        return out.astype(np.float64) + self.intercept

    def _sparse(self, x: Rows, starts: Ints, lengths: Ints, ends: Ints) -> FloatArray:
        """:meth:`decision` for a bank whose used weight rows are mostly zeros (the procedure bank: ~100 of 691
        labels per row a report uses; the blend's: ~14 of 95): only the stored weights are multiplied, and each
        product is added to its (row, label) with ``np.add.at``, which adds in the order given, one after another,
        in float32. The products come row by row and, within a row, feature by feature in column order: each
        (row, label) gets SciPy's additions in SciPy's order, as the dense form, whose padding only adds zeros.
        Parts of about :data:`_CELLS` products stay in the processor's cache."""
        n_labels = len(self.labels)
        shift = starts - (ends - lengths)                # a stored value's place in self.weights, less its own
        base = x.rows * n_labels
        out = np.zeros(x.shape[0] * n_labels, dtype=np.float32)
        total = int(ends[-1])
        cuts = [0, *np.searchsorted(ends, np.arange(_CELLS, total, _CELLS)).tolist(), lengths.size]
        for first, end in pairwise(cuts):
            if end <= first:
                continue
            part = slice(first, end)
            counts = lengths[part]
            position = np.repeat(shift[part], counts)
            position += np.arange(int(ends[first] - lengths[first]), int(ends[end - 1]))
            products = np.repeat(x.data[part], counts)
            products *= self.weights[position]
            flat = np.repeat(base[part], counts)
            flat += self.indices[position]
            np.add.at(out, flat, products)
        return out.reshape(x.shape[0], n_labels).astype(np.float64) + self.intercept

    def probability(self, value: float | FloatArray, index: int | slice) -> Any:
        """A 0-1 score that crosses 0.5 at the calibrated threshold."""
        return 1.0 / (1.0 + np.exp(-self.scale * (np.asarray(value) - self.thresholds[index])))


def decisions_by_block(feat: FeaturizerLike, bank: BankLike, texts: Sequence[str],
                       skip: npt.NDArray[np.bool_] | None = None) -> Iterator[tuple[int, FloatArray]]:
    """``bank.decision(feat.transform(texts))`` a block of rows at a time, as (first row, decision values), for
    either implementation (model.decisions_by_block, the same loop). ``skip``: rows whose values the caller throws
    away (negated sentences, headings, references: about a tenth of a report's features); they are neither
    featurised nor scored and hold :data:`SKIPPED`. A row's features and decision values depend on that row alone,
    so the other rows get the very values they would get with the skipped ones."""
    if feat.spec.context:        # neighbouring sentences would cross block borders
        yield 0, bank.decision(feat.transform(texts, [0] * len(texts)))
        return
    grams: Any = feat.word_grams if isinstance(feat, Featurizer) else {}
    for start in range(0, len(texts) or 1, BLOCK):      # an empty list still gets its (empty) decision matrix
        check()      # bounded work per document in any thread (threadline.limits)
        part = texts[start:start + BLOCK]
        skipped = None if skip is None else skip[start:start + len(part)]
        if skipped is None or not skipped.any():
            yield start, bank.decision(feat.transform(part, grams=grams))
            continue
        block = np.full((len(part), len(bank.labels)), SKIPPED)
        kept = np.flatnonzero(~skipped)
        if kept.size:
            block[kept] = bank.decision(feat.transform([part[i] for i in kept.tolist()], grams=grams))
        yield start, block


@dataclass(slots=True)
class Blend:
    """blend.Blend's run-time half (class scores, combination, probability); a test keeps the two equal."""

    feat: Featurizer
    bank: Bank
    columns: npt.NDArray[np.intp]
    weight: float
    norm: FloatArray
    thresholds: FloatArray
    scale: float = 4.0
    top: int = 2

    def class_scores(self, texts: Sequence[str], silent: npt.NDArray[np.bool_], n_classes: int) -> FloatArray:
        blocks = []
        for start, dec in decisions_by_block(self.feat, self.bank, list(texts), silent):
            out = np.full((dec.shape[0], n_classes), _ABSENT)
            for j, c in enumerate(self.columns):
                out[:, c] = np.maximum(out[:, c], dec[:, j])
            out[silent[start:start + dec.shape[0]]] = _SILENT
            blocks.append(out)
        return np.vstack(blocks)

    def combine(self, report: FloatArray, procedure: FloatArray) -> FloatArray:
        zr = (report - self.norm[0]) / self.norm[1]
        zp = (procedure - self.norm[2]) / self.norm[3]
        return np.asarray(self.weight * zr + (1.0 - self.weight) * zp, dtype=np.float64)

    def probability(self, combined: FloatArray) -> FloatArray:
        z = np.clip(self.scale * (combined - self.thresholds), -50.0, 50.0)
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)


def read_meta(path: Path) -> tuple[dict[str, Any], Path]:
    """The metadata of a model written by model.save and the path of its arrays; a missing or foreign file is a
    clear error (model.load reads through here too)."""
    meta_path, arr_path = path.with_suffix(".json.gz"), path.with_suffix(".npz")
    if not meta_path.is_file() or not arr_path.is_file():
        raise ThreadlineError("technique model not found; run `threadline train techniques`", where=str(path))
    with gzip.open(meta_path, "rt", encoding="utf-8") as fh:
        meta = json.load(fh)
    if meta.get("format") != FORMAT:
        raise ThreadlineError(f"unsupported model format {meta.get('format')!r}", where=str(meta_path))
    return meta, arr_path


def load(path: Path) -> tuple[Featurizer, Bank, dict[str, Any]]:
    """Read a model written by model.save (the same checks as model.load)."""
    meta, arr_path = read_meta(path)
    features = meta["features"]
    spec = Spec(float(features["spec"].get("context", 0.0)), "char" in features)
    with np.load(arr_path, allow_pickle=False) as arrays:
        feat = Featurizer(spec, {t: i for i, t in enumerate(features["word"])},
                          arrays["word_idf"].astype(np.float64))
        if "char" in features:
            feat.char = {t: i for i, t in enumerate(features["char"])}
            feat.char_idf = arrays["char_idf"].astype(np.float64)
        rows, cols = arrays["rows"].astype(np.int64), arrays["cols"].astype(np.int64)
        # SciPy's canonical CSR order: the file is written in it (checked in one pass; sorted only if not)
        key = rows * len(meta["labels"]) + cols
        order = np.arange(key.size) if bool(np.all(key[1:] > key[:-1])) else np.lexsort((cols, rows))
        counts = np.bincount(rows, minlength=feat.width)
        bank = Bank(list(meta["labels"]), np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), cols[order],
                    arrays["vals"].astype(np.float32)[order], arrays["intercept"].astype(np.float64),
                    arrays["thresholds"].astype(np.float64), float(meta["scale"]), meta.get("extra", {}))
    return feat, bank, meta.get("info", {})


def load_blend(path: Path) -> Blend:
    feat, bank, _ = load(path)
    e = bank.extra
    return Blend(feat, bank, np.asarray(e["columns"], dtype=np.intp), float(e["weight"]),
                 np.asarray(e["norm"], dtype=np.float64), np.asarray(e["thresholds"], dtype=np.float64),
                 float(e["scale"]), int(e["top"]))
