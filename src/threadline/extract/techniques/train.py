"""Training data and training procedure for the technique models (deterministic; fixed seed, no randomness)."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from threadline.errors import InputError
from threadline.extract.sentences import split_sentences
from threadline.extract.techniques.model import (
    FeatureSpec,
    Featurizer,
    FloatArray,
    LinearBank,
    report_scores,
    train_bank,
)
from threadline.extract.techniques.signals import is_negated
from threadline.extract.techniques.stack import FEATURES, doc_f1, fit_stacker, report_features
from threadline.knowledge.attack import Technique, plain_text
from threadline.knowledge.base import KnowledgeBase

# A markdown link to an ATT&CK group/software page names the actor doing the procedure: replace it by a neutral
# subject so that the classifier learns the behaviour, not which actor ATT&CK happened to describe.
_ACTOR_LINK = re.compile(r"\[([^\]]+)\]\(https?://attack\.mitre\.org/(?:groups|software|campaigns)/[^)]+\)")
_MIN_OVERLAP = 10


@dataclass(slots=True)
class Report:
    """One annotated report: text and its gold classes with the annotated character spans."""

    id: str
    text: str
    spans: list[tuple[int, int, str]]      # (start, end, class)


def to_class(technique: str, classes: Sequence[str], renamed: Mapping[str, str] | None = None) -> str:
    """TRAM's mapping: a technique is its own class if listed, else its parent's (``renamed``: see below)."""
    if renamed and technique in renamed:
        return renamed[technique]
    return technique if technique in classes else technique.split(".")[0]


def revoked_classes(classes: Sequence[str], current: Callable[[str], str]) -> dict[str, str]:
    """Live id -> class, for classes ATT&CK revoked since TRAM was labelled (T1574.001 -> T1574.002).

    The knowledge base reports a revoked id under its replacement, so scoring against TRAM's labels maps it back.
    """
    return {current(c): c for c in classes if current(c) != c and current(c) not in classes}


def load_tram(tram_dir: Path) -> tuple[list[Report], list[str]]:
    """The 120 TRAM2 reports and the 50 classes from the shared (or vendored) TRAM directory."""
    reports_path, classes_path = tram_dir / "tram2-reports.jsonl.gz", tram_dir / "tram2-classes.txt"
    if not reports_path.is_file() or not classes_path.is_file():
        raise InputError("TRAM data not found (need tram2-reports.jsonl.gz and tram2-classes.txt)", where=str(tram_dir))
    classes = classes_path.read_text(encoding="utf-8").split()
    reports = []
    with gzip.open(reports_path, "rt", encoding="utf-8") as fh:
        for line in fh:
            raw = json.loads(line)
            spans = [(s["start"], s["end"], to_class(s["technique"], classes)) for s in raw["spans"]]
            reports.append(Report(str(raw["id"]), raw["text"], spans))
    return reports, classes


@dataclass(slots=True)
class SentenceSet:
    texts: list[str]
    doc_ids: list[int]
    y: npt.NDArray[np.bool_]


def sentence_set(reports: Sequence[Report], labels: Sequence[str]) -> SentenceSet:
    """Every sentence of every report, labelled with the classes of the spans it overlaps."""
    index = {c: i for i, c in enumerate(labels)}
    texts: list[str] = []
    doc_ids: list[int] = []
    rows: list[npt.NDArray[np.bool_]] = []
    for d, report in enumerate(reports):
        for sent in split_sentences(report.text):
            row = np.zeros(len(labels), dtype=bool)
            for start, end, cls in report.spans:
                overlap = min(end, sent.end) - max(start, sent.start)
                if cls in index and overlap >= min(_MIN_OVERLAP, end - start):
                    row[index[cls]] = True
            texts.append(sent.text)
            doc_ids.append(d)
            rows.append(row)
    y = np.vstack(rows) if rows else np.zeros((0, len(labels)), dtype=bool)
    return SentenceSet(texts, doc_ids, y)


def gold_matrix(reports: Sequence[Report], labels: Sequence[str]) -> npt.NDArray[np.bool_]:
    index = {c: i for i, c in enumerate(labels)}
    out = np.zeros((len(reports), len(labels)), dtype=bool)
    for d, report in enumerate(reports):
        for _, _, cls in report.spans:
            if cls in index:
                out[d, index[cls]] = True
    return out


def fit_thresholds(scores: FloatArray, gold: npt.NDArray[np.bool_], shrink: float = 4.0) -> FloatArray:
    """A global threshold maximising per-document F1, then per-class thresholds shrunk toward it."""
    grid = np.quantile(scores, np.linspace(0.5, 0.995, 120))
    best_t = max(grid, key=lambda t: doc_f1(scores >= t, gold))
    out = np.full(scores.shape[1], float(best_t))
    for j in range(scores.shape[1]):
        col, pos = scores[:, j], gold[:, j]
        if pos.sum() == 0:
            continue
        cands = np.unique(col)
        f1s = [2 * int(((col >= t) & pos).sum()) / (int((col >= t).sum()) + int(pos.sum())) for t in cands]
        t_best = float(cands[int(np.argmax(f1s))])
        n = float(pos.sum())
        out[j] = (n * t_best + shrink * float(best_t)) / (n + shrink)
    return out


@dataclass(slots=True)
class ReportConfig:
    spec: FeatureSpec = field(default_factory=FeatureSpec)
    kind: str = "sgd"
    c: float = 2e-5
    keep: int = 6000
    pos_weight: float = 1.0       # weight of positive sentences in the loss (3.0 measured 0.685 vs 0.691)
    top: int = 2
    folds: int = 4
    shrink: float = 4.0
    # Pooled logistic stacker instead of per-class score thresholds: +0.003 per-document F1 in 5-fold CV but
    # -0.022 on the 20 gate reports, i.e. no measurable gain, so off by default (bench: --stack).
    stack: bool = False
    stack_c: float = 0.1
    jobs: int = 1


@dataclass(slots=True)
class Prepared:
    """Sentence features of a set of reports, computed once and sliced by report."""

    data: SentenceSet
    x: sp.csr_matrix
    silent: npt.NDArray[np.bool_]

    def rows(self, docs: Sequence[int]) -> npt.NDArray[np.intp]:
        return np.flatnonzero(np.isin(np.asarray(self.data.doc_ids), np.asarray(docs)))


def prepare(reports: Sequence[Report], labels: Sequence[str], feat: Featurizer) -> Prepared:
    data = sentence_set(reports, labels)
    silent = np.array([is_negated(t) for t in data.texts], dtype=bool)
    return Prepared(data, feat.transform(data.texts, data.doc_ids), silent)


def fit_rows(prep: Prepared, docs: Sequence[int], labels: list[str], cfg: ReportConfig) -> LinearBank:
    rows = prep.rows(docs)
    return train_bank(prep.x[rows], prep.data.y[rows], labels, c=cfg.c, keep=cfg.keep, kind=cfg.kind, jobs=cfg.jobs,
                      pos_weight=cfg.pos_weight)


def doc_decisions(prep: Prepared, bank: LinearBank, docs: Sequence[int]) -> tuple[FloatArray, list[int]]:
    """Sentence scores of ``docs`` with their report index in ``docs``; negated sentences count for nothing."""
    rows = prep.rows(docs)
    dec = bank.decision(prep.x[rows])
    dec[prep.silent[rows]] = -1e3
    remap = {d: i for i, d in enumerate(docs)}
    return dec, [remap[prep.data.doc_ids[r]] for r in rows]


def score_docs(prep: Prepared, bank: LinearBank, docs: Sequence[int], top: int) -> FloatArray:
    """Report scores (rows in the order of ``docs``), as at run time."""
    dec, ids = doc_decisions(prep, bank, docs)
    return report_scores(dec, ids, len(docs), top)


def average_banks(banks: Sequence[LinearBank]) -> LinearBank:
    """The mean of linear scorers is a linear scorer: one bank, with the fold models' score scale."""
    coef = banks[0].coef.copy()
    for bank in banks[1:]:
        coef = coef + bank.coef
    intercept = np.mean([b.intercept for b in banks], axis=0)
    return LinearBank(banks[0].labels, (coef / len(banks)).tocsr(), intercept, np.zeros(len(banks[0].labels)))


def finished_bank(banks: Sequence[LinearBank], oof: FloatArray, gold: npt.NDArray[np.bool_],
                  cfg: ReportConfig) -> LinearBank:
    """The fold models averaged, with thresholds and score scale from their out-of-fold report scores."""
    bank = average_banks(banks)
    bank.thresholds = fit_thresholds(oof, gold, cfg.shrink)
    bank.scale = float(4.0 / max(1e-6, float(np.std(oof[oof > -100]))))
    bank.extra = {"top": cfg.top}
    return bank


def inner_splits(n_docs: int, folds: int) -> list[tuple[list[int], list[int]]]:
    """The inner folds by report: (validation positions, training positions) into a list of ``n_docs`` reports."""
    return [([i for i in range(n_docs) if i % folds == k], [i for i in range(n_docs) if i % folds != k])
            for k in range(folds)]


def fold_banks(prep: Prepared, docs: Sequence[int], labels: list[str], cfg: ReportConfig,
               log: Any = None) -> tuple[list[LinearBank], FloatArray, FloatArray]:
    """One bank per inner fold, with the out-of-fold report scores and stacker features of ``docs``."""
    oof = np.zeros((len(docs), len(labels)))
    feats = np.zeros((len(docs), len(labels), len(FEATURES)))
    banks = []
    for k, (val, rest) in enumerate(inner_splits(len(docs), cfg.folds)):
        bank = fit_rows(prep, [docs[i] for i in rest], labels, cfg)
        dec, ids = doc_decisions(prep, bank, [docs[i] for i in val])
        oof[val] = report_scores(dec, ids, len(val), cfg.top)
        feats[val] = report_features(dec, ids, len(val))
        banks.append(bank)
        if log:
            log(f"  fold {k + 1}/{cfg.folds} done")
    return banks, oof, feats


def calibrated_bank(prep: Prepared, docs: Sequence[int], gold: npt.NDArray[np.bool_], labels: list[str],
                    cfg: ReportConfig, log: Any = None) -> LinearBank:
    """Train on ``docs`` in ``cfg.folds`` folds by report; thresholds and stacker from the out-of-fold report scores.

    The returned bank is the average of the fold models, not a refit on all ``docs``: a refit on more data has
    larger margins, so thresholds calibrated out-of-fold would over-predict (measured: 18 classes per report
    against 11 gold). ``gold`` is indexed like ``docs``; nothing outside ``docs`` is used, so this is safe inside
    an outer cross-validation fold.
    """
    banks, oof, feats = fold_banks(prep, docs, labels, cfg, log)
    return finish_calibration(banks, oof, feats, gold, cfg)


def finish_calibration(banks: Sequence[LinearBank], oof: FloatArray, feats: FloatArray,
                       gold: npt.NDArray[np.bool_], cfg: ReportConfig) -> LinearBank:
    """The averaged bank with its thresholds (and the optional stacker) from the inner out-of-fold scores."""
    bank = finished_bank(banks, oof, gold, cfg)
    if cfg.stack:
        stacker = fit_stacker(feats, gold, cfg.stack_c)
        bank.extra["stacker"] = stacker.to_json()
        # out-of-fold per-document F1 of the decision (slightly optimistic: the threshold is chosen on it too);
        # compares configurations on training reports only
        bank.extra["oof_doc_f1"] = doc_f1(stacker.probability(feats) >= stacker.threshold, gold)
    return bank


def choose_weight(weights: Sequence[float], combine: Callable[[float], FloatArray], gold: npt.NDArray[np.bool_],
                  shrink: float, margin: float) -> tuple[float, FloatArray, dict[str, float]]:
    """The weight of the report bank in a blend of two report scores, with its shrunk thresholds.

    Each weight is scored by the per-document F1 of ``combine(weight)`` (out-of-fold report scores) under its own
    thresholds; a later weight (a larger share for the second model) must beat the best so far by ``margin``.
    """
    best: tuple[float, float, FloatArray] | None = None
    fitted: dict[str, float] = {}
    for w in weights:
        combined = combine(w)
        thresholds = fit_thresholds(combined, gold, shrink)
        f1 = doc_f1(combined >= thresholds, gold)
        fitted[f"oof_doc_f1_w{w}"] = f1
        if best is None or f1 > best[1] + margin:
            best = (w, f1, thresholds)
    assert best is not None
    return best[0], best[2], fitted


# ---- the ATT&CK procedure bank -----------------------------------------------------------------------------
# How much of each technique's description trains the procedure model: its first sentences define it; all of them
# measured no better on AnnoCTR train (4-fold CV, text parent F1 0.668 vs 0.670; bench/techniques_annoctr_cv.py).
DESCRIPTION_SENTENCES: int | None = 4     # None: all of them


def procedure_examples(kb: KnowledgeBase) -> tuple[list[str], list[list[str]]]:
    """ATT&CK procedure examples (``uses`` descriptions) and technique descriptions, labelled by technique."""
    texts: list[str] = []
    labels: list[list[str]] = []
    for rel in kb.attack.relationships:
        tech = kb.attack.techniques.get(rel.target)
        if rel.type != "uses" or tech is None or not rel.description:
            continue
        text = plain_text(_ACTOR_LINK.sub("the actor", rel.description)).strip()
        if len(text) >= 20:
            texts.append(text)
            labels.append(_with_parent(tech.attack_id))
    for tech in kb.attack.techniques.values():
        for sent in split_sentences(plain_text(tech.description))[:DESCRIPTION_SENTENCES]:
            if len(sent.text) >= 30:
                texts.append(sent.text)
                labels.append(_with_parent(tech.attack_id))
    return texts, labels


def _with_parent(attack_id: str) -> list[str]:
    return [attack_id, attack_id.split(".")[0]] if "." in attack_id else [attack_id]


def annoctr_sentences(path: Path, kb: KnowledgeBase,
                      keep: Callable[[int], bool] | None = None) -> tuple[list[str], list[list[str]]]:
    """Real report sentences labelled by technique: each sentence of an AnnoCTR split (``annoctr-<split>.jsonl.gz``,
    CC-BY-SA 4.0) holding a TECHNIQUE mention linked to an ATT&CK technique, labelled with its live id (AnnoCTR's
    ~v10 ids mapped through revocations) and parent. ``keep(i)`` picks reports by position (cross-validation)."""
    texts: list[str] = []
    labels: list[list[str]] = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(line for line in fh if line.strip()):
            if keep is not None and not keep(i):
                continue
            rec = json.loads(line)
            sents = split_sentences(rec["text"])
            by_row: dict[int, set[str]] = {}
            for ent in rec["entities"]:
                link = str(ent.get("link") or "")
                if ent["label"] != "TECHNIQUE" or ent.get("link_kb") != "attack" or not _TECHNIQUE.fullmatch(link):
                    continue
                tid = kb.current_technique_id(link)
                row = next((r for r, s in enumerate(sents) if s.start <= int(ent["start"]) < s.end), None)
                if row is not None and isinstance(kb.by_attack_id.get(tid), Technique):
                    by_row.setdefault(row, set()).update(_with_parent(tid))
            for row, tids in sorted(by_row.items()):
                if len(sents[row].text) >= 20:
                    texts.append(sents[row].text)
                    labels.append(sorted(tids))
    return texts, labels


_TECHNIQUE = re.compile(r"T\d{4}(?:\.\d{3})?")


def load_reviews(path: Path) -> list[dict[str, Any]]:
    """Analysts' technique verdicts as ``threadline reviews export`` (or the web's ``/reviews/training.jsonl``)
    writes them: one JSON object a line with ``text``, ``technique`` and ``verdict`` (accept, correct, reject)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the reviews ({getattr(exc, 'strerror', None) or exc.__class__.__name__})",
                         where=str(path)) from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise InputError("not a JSON object", where=f"{path}:{number}") from None
        if (not isinstance(record, dict) or not isinstance(record.get("text"), str)
                or record.get("verdict") not in ("accept", "correct", "reject")
                or not _TECHNIQUE.fullmatch(str(record.get("technique") or ""))):
            raise InputError("a review needs text, technique (T1234[.001]) and verdict (accept, correct, reject)",
                             where=f"{path}:{number}")
        records.append(record)
    return records


def review_examples(records: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[str]], list[str]]:
    """Reviewed sentences as training examples of the procedure model: (texts, labels, negatives).

    An accepted or corrected verdict makes its sentence a positive example of the technique the analyst settled on
    (and its parent); a sentence whose every verdict is a rejection becomes a negative (a report sentence labelled
    with no technique, like TRAM's unannotated ones). A sentence with both keeps only its confirmed techniques, so
    it is also a negative for the rejected ones. Sentences are compared with their whitespace normalised."""
    positive: dict[str, set[str]] = {}
    rejected: dict[str, None] = {}
    for record in records:
        text = " ".join(str(record["text"]).split())
        if len(text) < 20:
            continue
        if record["verdict"] in ("accept", "correct"):
            positive.setdefault(text, set()).update(_with_parent(str(record["technique"])))
        else:
            rejected[text] = None
    texts = sorted(positive)
    return texts, [sorted(positive[t]) for t in texts], [t for t in rejected if t not in positive]


def procedure_training_set(kb: KnowledgeBase, negatives: Sequence[str], *, min_examples: int = 3,
                           extra: tuple[list[str], list[list[str]]] | None = None
                           ) -> tuple[list[str], npt.NDArray[np.bool_], list[str]]:
    """The procedure model's training set: (texts, label matrix, technique ids of its columns). ATT&CK's texts and
    ``extra`` are the positives of every technique with at least ``min_examples`` examples; ``negatives`` have no
    label at all."""
    texts, labels = procedure_examples(kb)
    if extra is not None:
        texts, labels = texts + extra[0], labels + extra[1]
    counts: dict[str, int] = {}
    for row in labels:
        for t in row:
            counts[t] = counts.get(t, 0) + 1
    names = sorted(t for t, n in counts.items() if n >= min_examples)
    index = {t: i for i, t in enumerate(names)}
    all_texts = [*texts, *negatives]
    y = np.zeros((len(all_texts), len(names)), dtype=bool)
    for i, row in enumerate(labels):
        for t in row:
            if t in index:
                y[i, index[t]] = True
    return all_texts, y, names


def train_procedure_model(kb: KnowledgeBase, negatives: Sequence[str], *, min_examples: int = 3,
                          keep: int = 400, jobs: int = 1,
                          extra: tuple[list[str], list[list[str]]] | None = None) -> tuple[Featurizer, LinearBank]:
    """Word-feature bank over every technique with at least ``min_examples`` examples.

    ``negatives`` are report sentences with no annotated technique; the sentence threshold is set so that the
    bank fires on about 1% of them (a precision-first choice: these techniques have no report-level gold).
    ``extra``: more labelled texts beside ATT&CK's (real report sentences, :func:`annoctr_sentences`, analysts'
    reviews, :func:`review_examples`).
    """
    all_texts, y, names = procedure_training_set(kb, negatives, min_examples=min_examples, extra=extra)
    spec = FeatureSpec(word_max=30000, use_char=False, context=0.0, word_min_df=2)
    feat = Featurizer.fit(all_texts, spec)
    bank = train_bank(feat.transform(all_texts), y, names, c=1e-5, keep=keep, kind="sgd", jobs=jobs)
    neg = bank.decision(feat.transform(list(negatives))) if negatives else np.zeros((1, len(names)))
    best = neg.max(axis=1)
    bank.thresholds = np.full(len(names), max(0.0, float(np.quantile(best, 0.99))))
    bank.scale = 4.0
    return feat, bank
