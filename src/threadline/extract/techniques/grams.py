"""Word 1-2-grams shared by the runtime featurizers that read the same sentences (report, procedure, blend): each
sentence tokenised once, and the featurizers' word vocabularies joined in one :class:`WordUnion` so that a
document's grams are looked up once for all of them. Part of :mod:`threadline.extract.techniques.runtime`; NumPy
alone, as there.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from itertools import chain, pairwise, repeat

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]
BLOCK = 4096                # sentences scored at a time (runtime imports it), as model.BLOCK (see there)
_TOKEN = re.compile(r"(?u)\b\w\w+\b")      # scikit-learn's default token_pattern


def union() -> WordUnion:
    """The word union as it is now (:func:`joined` replaces it with a larger one)."""
    return _union


_grams: dict[str, list[str]] = {}     # sentence -> its word 1-2-grams: see sentence_grams


class WordUnion:
    """The word vocabularies of the featurizers that read the same sentences (report, procedure, blend) as one:
    each word 1-2-gram of the union has a number, and each vocabulary an array from that number to its column
    (-1 where it lacks the gram; the last entry, for a gram of no vocabulary, is -1 too). A document's grams are
    looked up once, for the three featurizers (three look-ups of every gram in three dictionaries were a twentieth
    of the analysis). The last call's numbers are kept, by sentence: the procedure and blend featurizers read a
    subset of the report featurizer's sentences. A union is never changed once made: :func:`joined` makes a new
    one with a vocabulary more, which starts without kept numbers."""

    __slots__ = ("columns", "index", "last")

    def __init__(self, index: dict[str, int], columns: dict[int, tuple[dict[str, int], Ints]]) -> None:
        self.index, self.columns = index, columns
        self.last: tuple[Ints, dict[str, tuple[int, int]]] | None = None     # numbers, and each sentence's span

    def ids(self, texts: Sequence[str]) -> tuple[Ints, Ints]:
        """The union numbers of the sentences' grams (-1: in no vocabulary), one sentence after another, and how
        many each sentence has."""
        last = self.last
        if last is None or not all(map(last[1].__contains__, texts)):
            lists = [sentence_grams(text) for text in texts]
            sizes = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
            ids = np.fromiter(map(self.index.get, chain.from_iterable(lists), repeat(-1)), dtype=np.int64,
                              count=int(sizes.sum()))
            ends = np.cumsum(sizes)
            self.last = (ids, dict(zip(texts, zip((ends - sizes).tolist(), ends.tolist(), strict=True),
                                       strict=True)))
            return ids, sizes
        flat, span = last
        bounds = np.array([span[text] for text in texts], dtype=np.int64).reshape(-1, 2)
        sizes = bounds[:, 1] - bounds[:, 0]
        position = np.repeat(bounds[:, 0] - (np.cumsum(sizes) - sizes), sizes)
        position += np.arange(position.size)
        return flat[position], sizes


_union = WordUnion({}, {})
_union_lock = threading.Lock()
_called: dict[int, dict[str, int]] = {}     # vocabularies that looked up words once (kept: ids are not reused)


def joined(vocabulary: dict[str, int]) -> bool:
    """Whether ``vocabulary`` is now in the word union: at its second call (a one-report run, the cold start, does
    not build the union), with a new union holding the vocabularies before it and this one."""
    global _union
    with _union_lock:
        if _called.get(id(vocabulary)) is not vocabulary:
            _called[id(vocabulary)] = vocabulary
            return False
        old = _union
        if id(vocabulary) in old.columns and old.columns[id(vocabulary)][0] is vocabulary:
            return True
        index = dict(old.index)
        for gram in vocabulary:
            index.setdefault(gram, len(index))
        size = len(index)
        columns: dict[int, tuple[dict[str, int], Ints]] = {}
        for key, (kept, before) in old.columns.items():
            grown = np.full(size + 1, -1, dtype=np.int64)
            grown[:before.size - 1] = before[:-1]
            columns[key] = (kept, grown)
        mine = np.full(size + 1, -1, dtype=np.int64)
        mine[np.fromiter(map(index.__getitem__, vocabulary), dtype=np.int64, count=len(vocabulary))] = \
            np.fromiter(vocabulary.values(), dtype=np.int64, count=len(vocabulary))
        columns[id(vocabulary)] = (vocabulary, mine)
        _union = WordUnion(index, columns)
        return True


def sentence_grams(text: str) -> list[str]:
    """A sentence's word unigrams and bigrams, as scikit-learn's analyzer gives them. Three featurizers (report,
    procedure, blend) read the same sentences of a document: the sentence is tokenised once, for the three (the
    last sentences are kept, at most :data:`~threadline.extract.techniques.runtime.BLOCK` of them)."""
    found = _grams.get(text)
    if found is None:
        if len(_grams) >= BLOCK:
            _grams.clear()
        tokens = _TOKEN.findall(text.lower())
        found = _grams[text] = [*tokens, *map(" ".join, pairwise(tokens))]
    return found
