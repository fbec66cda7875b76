"""Short phrases analysts map to one technique ("ransomware" -> T1486), mined from the mentions of annotated reports.

AnnoCTR's annotators linked every explicit and implicit technique mention of real vendor reports to ATT&CK. Many
mentions are a few words that recur across reports ("ransomware", "spear-phishing", "macros", "PowerShell"); the
sentence model, trained on long sentences and precision-first thresholds, scores such a word in a short sentence too
low. :func:`mine_phrases` keeps a phrase when

- annotators linked it to the technique in at least ``min_reports`` different training reports, and
- in at least ``min_precision`` of the training reports whose text holds the phrase (in a sentence that can be
  evidence), the technique is gold: the phrase predicts the technique at the report level, where it is scored.

Only AnnoCTR *train* is read (dev is the reported split). The table ships as ``techniques-phrases.json`` beside the
models (CC-BY-SA 4.0 like its source; NOTICE); a sentence holding a phrase supports its technique with that
sentence as evidence, unless it denies or imagines the behaviour.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from threadline.extract.sentences import split_sentences
from threadline.extract.techniques.signals import is_negated, never_evidence
from threadline.extract.techniques.tools import NameIndex, table_json
from threadline.knowledge.attack import Technique
from threadline.knowledge.base import KnowledgeBase

PHRASES_FILE = "techniques-phrases.json"
# Chosen by 4-fold cross-validation by report on AnnoCTR train (bench/techniques_phrases.py), never on dev.
MIN_REPORTS = 2
MIN_PRECISION = 0.6
MAX_WORDS = 4
MIN_CHARS = 3
NGRAMS = False
_TECHNIQUE = re.compile(r"T\d{4}(?:\.\d{3})?")
_SPACE = re.compile(r"[\s\-_]+")
_EDGE = re.compile(r"^\W+|\W+$")
_TOKEN = re.compile(r"[^\W_]+")


def normalise(phrase: str) -> str:
    """Lower case, hyphens and runs of white space as one space, no punctuation at either end."""
    return _EDGE.sub("", _SPACE.sub(" ", phrase.lower())).strip()


@dataclass(frozen=True, slots=True)
class PhraseEntry:
    phrase: str              # normalised
    technique: str
    reports: int             # training reports where annotators linked the phrase to the technique
    precision: float         # share of training reports holding the phrase whose gold has the technique


@dataclass(frozen=True, slots=True)
class _Doc:
    sentences: list[str]     # lower-cased sentences that can be evidence
    gold: frozenset[str]     # live ids, exact and parent


def _candidates(mention: str, ngrams: bool) -> set[str]:
    """The mention itself when short; with ``ngrams``, also every run of up to MAX_WORDS of its words."""
    words = mention.split()
    out = {mention} if words and len(words) <= MAX_WORDS else set()
    if ngrams:
        out |= {" ".join(words[i:i + n]) for n in range(1, MAX_WORDS + 1) for i in range(len(words) - n + 1)}
    return {p for p in out if len(p) >= MIN_CHARS}


def _docs_and_mentions(path: Path, kb: KnowledgeBase, keep: Callable[[int], bool] | None, ngrams: bool
                       ) -> tuple[list[_Doc], dict[tuple[str, str], set[int]]]:
    docs: list[_Doc] = []
    mentions: dict[tuple[str, str], set[int]] = {}
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(line for line in fh if line.strip()):
            if keep is not None and not keep(i):
                continue
            rec = json.loads(line)
            gold: set[str] = set()
            for ent in rec["entities"]:
                link = str(ent.get("link") or "")
                if ent["label"] != "TECHNIQUE" or ent.get("link_kb") != "attack" or not _TECHNIQUE.fullmatch(link):
                    continue
                tid = kb.current_technique_id(link)
                if not isinstance(kb.by_attack_id.get(tid), Technique):
                    continue
                gold.update({tid, tid.split(".")[0]})
                for phrase in _candidates(normalise(rec["text"][int(ent["start"]):int(ent["end"])]), ngrams):
                    mentions.setdefault((phrase, tid), set()).add(len(docs))
            texts = [s.text for s in split_sentences(rec["text"])]
            silent = never_evidence(texts)
            usable = [t.lower() for t, s in zip(texts, silent, strict=True) if not s and not is_negated(t)]
            docs.append(_Doc(usable, frozenset(gold)))
    return docs, mentions


def mine_phrases(path: Path, kb: KnowledgeBase, keep: Callable[[int], bool] | None = None, *,
                 min_reports: int = MIN_REPORTS, min_precision: float = MIN_PRECISION,
                 ngrams: bool = NGRAMS) -> list[PhraseEntry]:
    """The phrase table of an AnnoCTR split (``keep(i)`` picks reports by position, for cross-validation)."""
    docs, mentions = _docs_and_mentions(path, kb, keep, ngrams)
    table = []
    for (phrase, tid), where in sorted(mentions.items()):
        if len(where) < min_reports or phrase != " ".join(_TOKEN.findall(phrase)):
            continue     # words only: "t1055 | process injection" is an explicit id, a path is an indicator
        index = NameIndex([phrase], after_dot=True)
        holding = [d for d in docs if any(next(index.find(s), None) for s in d.sentences)]
        if not holding:
            continue
        precision = sum(tid in d.gold for d in holding) / len(holding)
        if precision >= min_precision:
            table.append(PhraseEntry(phrase, tid, len(where), round(precision, 4)))
    return _most_specific(table)


def _most_specific(table: list[PhraseEntry]) -> list[PhraseEntry]:
    """One technique per phrase: the sub-technique over its parent when both qualify, else the most reported."""
    best: dict[str, PhraseEntry] = {}
    for e in table:
        cur = best.get(e.phrase)
        if cur is None or (e.technique.startswith(cur.technique + ".")
                           or (not cur.technique.startswith(e.technique + ".")
                               and (e.reports, e.precision, cur.technique) > (cur.reports, cur.precision,
                                                                               e.technique))):
            best[e.phrase] = e
    return [best[p] for p in sorted(best)]


def save_phrases(path: Path, table: list[PhraseEntry], info: dict[str, Any]) -> None:
    rows = [{"phrase": e.phrase, "technique": e.technique, "reports": e.reports, "precision": e.precision}
            for e in table]
    path.write_text(table_json(info, "phrases", rows), encoding="utf-8")


def load_phrases(path: Path) -> list[PhraseEntry]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return [PhraseEntry(str(r["phrase"]), str(r["technique"]), int(r["reports"]), float(r["precision"]))
            for r in raw["phrases"]]


@dataclass(frozen=True, slots=True)
class PhraseMention:
    entry: PhraseEntry
    start: int
    end: int


class PhraseMatcher:
    """Finds the table's phrases in text (any case, spaces or hyphens between words, an optional plural)."""

    def __init__(self, table: list[PhraseEntry]) -> None:
        self._by_phrase = {e.phrase: e for e in table}
        self._index = NameIndex(list(self._by_phrase), after_dot=True)

    def __len__(self) -> int:
        return len(self._by_phrase)

    def find(self, text: str) -> Iterator[PhraseMention]:
        for phrase, start, end in self._index.find(text):
            yield PhraseMention(self._by_phrase[phrase], start, end)


@lru_cache(maxsize=4)
def shipped_phrases(path: str) -> PhraseMatcher:
    """The matcher of a shipped table (empty when the file is absent)."""
    file = Path(path)
    return PhraseMatcher(load_phrases(file) if file.is_file() else [])
