"""ATT&CK technique extraction: every technique found in a report, with the sentences that support it.

Six sources, merged per technique:
- the *report* model (TRAM classes, trained on annotated reports, report-level thresholds calibrated out-of-fold),
  blended with an ATT&CK procedure bank on the same classes when the blend file ships (blend.py);
- the *procedure* model (every other Enterprise technique with ATT&CK procedure examples, precision-first);
- technique ids written in the text ("T1566.001");
- system utilities named in a sentence ("ntdsutil": T1003.003), from a table mined from ATT&CK (tools.py), and
  short phrases analysts map to one technique ("ransomware": T1486), mined from annotated real reports (phrases.py);
- software named in the text whose ATT&CK entry uses techniques (``inferred: true``, the naming sentence as evidence).
Sentences that deny or only imagine a behaviour ("did not use", "could be used to") support nothing, and neither do
headings, titles and reference lists. A report class is found when the report's evidence clears its calibrated
threshold (two sentences agreeing) or when one sentence alone clears it by a margin (a single clear statement).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np

from threadline.extract.sentences import split_sentences
from threadline.extract.techniques import runtime
from threadline.extract.techniques.paraphrase import PARAPHRASE_FILE, Paraphraser, shipped_paraphraser
from threadline.extract.techniques.phrases import PHRASES_FILE, PhraseMatcher, shipped_phrases
from threadline.extract.techniques.rerank import (
    PARAPHRASE_FEATURES,
    RERANK_FILE,
    Reranker,
    Signals,
    shipped_reranker,
)
from threadline.extract.techniques.runtime import BankLike, FeaturizerLike, FloatArray, decisions_by_block
from threadline.extract.techniques.signals import (
    SoftwareMatcher,
    explicit_ids,
    is_negated,
    negated_at,
    never_evidence,
    sentence_index,
    with_lead_ins,
)
from threadline.extract.techniques.tools import TOOLS_FILE, ToolMatcher, shipped_tools
from threadline.knowledge import derived
from threadline.knowledge.base import KnowledgeBase
from threadline.limits import check
from threadline.model import Evidence, Page, Sentence

if TYPE_CHECKING:     # the training side (scikit-learn, SciPy, joblib) is imported only when a model needs it
    from threadline.extract.techniques.blend import Blend
    from threadline.extract.techniques.mlp import Ensemble
    from threadline.extract.techniques.model import Featurizer, LinearBank

F = TypeVar("F", bound=FeaturizerLike)
B = TypeVar("B", bound=BankLike)

MODEL_DIR = Path(__file__).resolve().parents[2] / "data" / "models"
REPORT_MODEL, PROCEDURE_MODEL = "techniques-report", "techniques-procedure"
ENSEMBLE_MODEL = "techniques-report-mlp"      # optional: an MLP averaged with the report bank
BLEND_MODEL = "techniques-report-procedure"   # optional: a procedure bank on the report classes, blended in
MAX_EVIDENCE = 3
INFERRED_SCORE = 0.5          # knowledge, not text: a fixed prior, shown apart from text-supported hits
_SILENT = -1e3                # decision value of a negated sentence
# Single clear statements count: a report class is also found when its best *single* sentence clears the class's
# report threshold by this margin (same combined score scale), whatever the report's length. The report rule alone
# (mean of the top-2 sentences) needs two sentences to agree, so a news brief that states a behaviour once lost it.
# Fitted on AnnoCTR train (68 real reports the model never saw; never on dev) by bench/techniques_single.py:
# parent-level micro F1 of the text view 0.600 at margin 0 (0.582 without the rule, 0.595 at 0.1, 0.583 at 1.0).
SINGLE_MARGIN = 0.0


@dataclass(slots=True)
class TechniqueHit:
    """One technique found in a document."""

    id: str
    name: str
    tactics: list[str]
    score: float
    evidence: list[Evidence] = field(default_factory=list)
    inferred: bool = False
    sources: list[str] = field(default_factory=list)   # "model", "procedures", "explicit id", "software S0013 PlugX"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "tactics": self.tactics, "score": round(self.score, 4),
                "inferred": self.inferred, "evidence": [e.to_dict() for e in self.evidence],
                "sources": self.sources}


@dataclass(slots=True)
class TechniqueModel(Generic[F, B]):
    """Both banks with their featurizers; ``classes`` are the report model's labels (the TRAM classes).

    ``TechniqueModel.load`` gives the scikit-learn objects training and the benchmarks work with;
    :func:`runtime_model` the same model applied with NumPy alone (runtime.py), what extraction uses by default.
    """

    report: tuple[F, B]
    procedure: tuple[F, B] | None
    info: dict[str, Any] = field(default_factory=dict)
    ensemble: Ensemble | None = None     # when set, it decides the report classes instead of the bank's thresholds
    blend: Blend | runtime.Blend | None = None   # the report bank blended with a procedure bank (shipped)
    tools: ToolMatcher | None = None     # utility names -> technique (tools.py), shipped beside the models
    phrases: PhraseMatcher | None = None  # mention phrases -> technique (phrases.py), the same
    reranker: Reranker | None = None     # second stage over every candidate's signals (rerank.py), the same
    paraphrase: Paraphraser | None = None  # domain word vectors and technique prototypes (paraphrase.py), the same

    @property
    def classes(self) -> list[str]:
        return self.report[1].labels

    @classmethod
    def load(cls, directory: Path = MODEL_DIR) -> TechniqueModel[Featurizer, LinearBank]:
        from threadline.extract.techniques.blend import load_blend
        from threadline.extract.techniques.mlp import load_ensemble
        from threadline.extract.techniques.model import load

        feat, bank, info = load(directory / REPORT_MODEL)
        procedure = None
        if (directory / f"{PROCEDURE_MODEL}.npz").is_file():
            pfeat, pbank, _ = load(directory / PROCEDURE_MODEL)
            procedure = (pfeat, pbank)
        ensemble = None
        if (directory / f"{ENSEMBLE_MODEL}.npz").is_file():
            ensemble = load_ensemble(directory / ENSEMBLE_MODEL)
        blend = load_blend(directory / BLEND_MODEL) if (directory / f"{BLEND_MODEL}.npz").is_file() else None
        tools, phrases = shipped_tools(str(directory / TOOLS_FILE)), shipped_phrases(str(directory / PHRASES_FILE))
        return TechniqueModel((feat, bank), procedure, info, ensemble, blend, tools, phrases,
                              shipped_reranker(str(directory / RERANK_FILE)),
                              shipped_paraphraser(str(directory / PARAPHRASE_FILE)))


@lru_cache(maxsize=4)
def shipped_model(directory: str = str(MODEL_DIR)) -> TechniqueModel[Featurizer, LinearBank]:
    """The model shipped in the package with its scikit-learn objects, loaded once on first use."""
    return TechniqueModel.load(Path(directory))


def _model_stamp(folder: Path) -> str | None:
    """The folder and the name, size and modification time of each of its files: what a cached runtime model
    depends on besides the code (None when the folder cannot be read: no cache)."""
    try:
        files = sorted((p.name, p.stat()) for p in folder.iterdir() if p.is_file())
        return f"{folder.resolve()}|" + "|".join(f"{name}:{st.st_size}:{st.st_mtime_ns}" for name, st in files)
    except OSError:
        return None


@lru_cache(maxsize=4)
def runtime_model(directory: str = str(MODEL_DIR)) -> TechniqueModel[Any, Any]:
    """The shipped model applied with NumPy alone (same scores to the bit, without importing scikit-learn: 1 s of
    a cold start); a model runtime.py cannot apply (an MLP ensemble, a stacker, sentence context) is
    :func:`shipped_model`'s.

    The runtime model is cached on disk (knowledge.derived, keyed by the code and by the model files' names, sizes
    and times): reading that pickle is about half the time of reading the compressed arrays and building the
    vocabularies again in every fresh process."""
    folder = Path(directory)
    stamp = _model_stamp(folder)
    path = derived.cache_file(None, "technique-model", stamp) if stamp is not None else None
    found = derived.read(path, TechniqueModel) if path is not None else None
    if found is not None:
        return found
    model = _runtime_model(folder)
    if model is None:
        return shipped_model(directory)
    if path is not None:
        derived.write(path, model, "technique-model")
    return model


def _runtime_model(folder: Path) -> TechniqueModel[Any, Any] | None:
    """The runtime model read from its files; None when runtime.py cannot apply it."""
    feat, bank, info = runtime.load(folder / REPORT_MODEL)
    if (folder / f"{ENSEMBLE_MODEL}.npz").is_file() or "stacker" in bank.extra or feat.spec.context:
        return None
    procedure = runtime.load(folder / PROCEDURE_MODEL)[:2] if (folder / f"{PROCEDURE_MODEL}.npz").is_file() else None
    if procedure is not None and procedure[0].spec.context:
        return None
    blend = runtime.load_blend(folder / BLEND_MODEL) if (folder / f"{BLEND_MODEL}.npz").is_file() else None
    return TechniqueModel((feat, bank), procedure, info, None, blend, shipped_tools(str(folder / TOOLS_FILE)),
                          shipped_phrases(str(folder / PHRASES_FILE)), shipped_reranker(str(folder / RERANK_FILE)),
                          shipped_paraphraser(str(folder / PARAPHRASE_FILE)))


_MATCHERS: dict[int, tuple[KnowledgeBase, SoftwareMatcher]] = {}


def _matcher(kb: KnowledgeBase) -> SoftwareMatcher:
    """One software-name matcher per knowledge base (the KB is kept alive with it, so ids are not reused)."""
    cached = _MATCHERS.get(id(kb))
    if cached is None or cached[0] is not kb:
        cached = (kb, SoftwareMatcher(kb))
        _MATCHERS[id(kb)] = cached
    return cached[1]


def _page(pages: Sequence[Page] | None, offset: int) -> int | None:
    for page in pages or ():
        if page.start <= offset < page.end:
            return page.number
    return None


class _Collector:
    """Merges hits per technique id; text-supported hits win over inferred ones."""

    def __init__(self, kb: KnowledgeBase, sentences: list[Sentence], pages: Sequence[Page] | None) -> None:
        self.kb, self.sentences, self.pages = kb, sentences, pages
        self.hits: dict[str, TechniqueHit] = {}

    def add(self, tid: str, score: float, rows: list[int], source: str, *, inferred: bool = False) -> None:
        current = self.kb.current_technique_id(tid)
        if current != tid:      # e.g. the model's TRAM class T1574.002, merged into T1574.001 by ATT&CK v17
            source, tid = f"{source} ({tid}, revoked; now {current})", current
        tech = self.kb.by_attack_id.get(tid)
        if tech is None or not hasattr(tech, "tactics"):
            return
        evidence = [self._evidence(i) for i in rows]
        hit = self.hits.get(tid)
        if hit is None or (hit.inferred and not inferred):
            replaced = hit
            hit = TechniqueHit(tid, tech.name, list(tech.tactics), score, [], inferred, [])
            if replaced is not None:
                hit.sources.extend(replaced.sources)
            self.hits[tid] = hit
        elif inferred and not hit.inferred:
            if source not in hit.sources:
                hit.sources.append(source)     # implied by software too, but the text already supports it
            return
        hit.score = max(hit.score, score)
        if source not in hit.sources:
            hit.sources.append(source)
        for ev in evidence:
            if ev not in hit.evidence and len(hit.evidence) < MAX_EVIDENCE:
                hit.evidence.append(ev)

    def _evidence(self, row: int) -> Evidence:
        s = self.sentences[row]
        return Evidence(s.text, s.start, s.end, _page(self.pages, s.start))


def _decisions(feat: FeaturizerLike, bank: BankLike, texts: list[str], silent: np.ndarray) -> FloatArray:
    scores = np.vstack([block for _, block in decisions_by_block(feat, bank, texts, silent)])
    scores[silent] = _SILENT
    return scores


@dataclass(slots=True)
class LabelStats:
    """Per label of a bank over a document's sentences: best and second-best decision, the best's row, and how many
    sentences reach the label's threshold (the re-ranker's procedure features)."""

    best: FloatArray
    second: FloatArray
    row: np.ndarray
    count: np.ndarray

    @classmethod
    def empty(cls, n: int) -> LabelStats:
        return cls(np.full(n, _SILENT), np.full(n, _SILENT), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64))

    def update(self, block: FloatArray, start: int, thresholds: FloatArray) -> None:
        self.count += (block >= thresholds).sum(axis=0)
        arg = block.argmax(axis=0)
        top = block[arg, np.arange(block.shape[1])]
        one = block.shape[0] == 1
        runner = np.full(block.shape[1], _SILENT) if one else np.partition(block, -2, axis=0)[-2]
        better = top > self.best
        self.second = np.where(better, np.maximum(self.best, runner), np.maximum(self.second, top))
        self.row = np.where(better, start + arg, self.row)
        self.best = np.where(better, top, self.best)


def _best_rows(feat: FeaturizerLike, bank: BankLike, texts: list[str], silent: np.ndarray,
               top: int, stats: LabelStats | None = None) -> dict[int, list[tuple[float, int]]]:
    """Per label that some sentence passes (score >= its threshold): the ``top`` best (score, row) pairs that pass,
    best first and the earlier sentence first among equal scores, as a stable sort of the whole score matrix would
    give them. Only a block of the matrix (691 labels per sentence) is held at a time. ``stats`` gathers every
    label's figures on the way."""
    kept: dict[int, list[tuple[float, int]]] = {}
    for start, block in decisions_by_block(feat, bank, texts, silent):
        block[silent[start:start + block.shape[0]]] = _SILENT
        if stats is not None:
            stats.update(block, start, bank.thresholds)
        for j in np.flatnonzero(block.max(axis=0) >= bank.thresholds):
            column = block[:, j]
            passing = np.flatnonzero(column >= bank.thresholds[j])
            best = passing[np.argsort(-column[passing], kind="stable")[:top]]
            # Kept pairs are from earlier rows: a stable sort puts them first among equal scores.
            merged = kept.get(int(j), []) + [(float(column[r]), start + int(r)) for r in best]
            merged.sort(key=lambda pair: -pair[0])
            kept[int(j)] = merged[:top]
    return kept


def _top_mean(scores: FloatArray, order: np.ndarray, top: int) -> FloatArray:
    k = min(top, scores.shape[0])
    return np.asarray(np.take_along_axis(scores, order[:k], axis=0).mean(axis=0), dtype=np.float64)


def _report_hits(out: _Collector, model: TechniqueModel[Any, Any], texts: list[str], silent: np.ndarray,
                 sig: Signals | None = None) -> None:
    feat, bank = model.report
    ens, blend = model.ensemble, model.blend
    x = feat.transform(texts, [0] * len(texts)) if ens is not None else None    # the MLP reads the features too
    scores = bank.decision(x) if x is not None else _decisions(feat, bank, texts, silent)
    scores[silent] = _SILENT
    order = np.argsort(-scores, axis=0, kind="stable")
    evidence, floor = scores, np.zeros(len(bank.labels))      # evidence ranking, and the bar for extra evidence
    margin = np.full(len(bank.labels), -np.inf)               # report score minus threshold (re-ranker feature)
    if blend is not None:            # report bank + procedure bank: report and sentence scores combined alike
        pscores = blend.class_scores(texts, silent, len(bank.labels))
        combined = blend.combine(_top_mean(scores, order, blend.top),
                                 _top_mean(pscores, np.argsort(-pscores, axis=0, kind="stable"), blend.top))
        chosen, values = np.flatnonzero(combined >= blend.thresholds), blend.probability(combined)
        evidence, floor = blend.combine(scores, pscores), blend.thresholds
        order = np.argsort(-evidence, axis=0, kind="stable")
        margin = combined - blend.thresholds
    elif ens is not None and x is not None:
        from threadline.extract.techniques.mlp import mlp_input

        # linear bank + MLP, report scores averaged (evidence: the bank's best sentences)
        logits = ens.mlp.logits(mlp_input(x, [0] * len(texts), ens.context))
        logits[silent] = _SILENT
        combined = ens.combine(_top_mean(scores, order, ens.top),
                               _top_mean(logits, np.argsort(-logits, axis=0, kind="stable"), ens.top))
        chosen, values = np.flatnonzero(combined >= ens.thresholds), ens.probability(combined)
    elif "stacker" in bank.extra:      # pooled logistic stacker: a calibrated probability per class
        from threadline.extract.techniques.stack import Stacker, report_features

        stacker = Stacker.from_json(bank.extra["stacker"])
        prob = stacker.probability(report_features(scores, [0] * len(texts), 1))[0]
        chosen, values = np.flatnonzero(prob >= stacker.threshold), prob
    else:                            # per-class thresholds on the mean of the top sentence scores
        best = _top_mean(scores, order, int(bank.extra.get("top", 2)))
        chosen, values = np.flatnonzero(best >= bank.thresholds), bank.probability(best, slice(None))
        margin = best - bank.thresholds
    bar = floor_single(floor, bank.thresholds, blend is not None, ens is not None)
    single = evidence.max(axis=0) >= bar
    if sig is not None:
        sig.classes = {out.kb.current_technique_id(c) for c in bank.labels}
    if sig is not None and (blend is not None or (ens is None and "stacker" not in bank.extra)):
        alone = evidence.max(axis=0) - bar
        for j, label in enumerate(bank.labels):
            if evidence[order[0, j], j] > _SILENT / 2:
                sig.put(out.kb.current_technique_id(label), [int(order[0, j])], report_margin=float(margin[j]),
                        single_margin=float(alone[j]))
    chosen = np.union1d(chosen, np.flatnonzero(single & (evidence.max(axis=0) > _SILENT / 2)))
    for j in map(int, chosen):
        rows = [int(r) for r in order[:MAX_EVIDENCE, j] if scores[r, j] > _SILENT]
        rows = rows[:1] + [r for r in rows[1:] if evidence[r, j] >= floor[j]]   # extra evidence only if strong alone
        if rows:
            out.add(bank.labels[j], max(float(values[j]), 0.5 if single[j] else 0.0), rows, "model")


def floor_single(floor: FloatArray, thresholds: FloatArray, blended: bool, ensemble: bool) -> FloatArray:
    """Per class, the bar one sentence must clear alone: the report threshold on the same score scale (the blend's
    combined score, or the bank's own) plus :data:`SINGLE_MARGIN`; infinite where no such scale exists."""
    if blended:
        return floor + SINGLE_MARGIN
    if ensemble:
        return np.full(len(thresholds), np.inf)     # an MLP-averaged report score has no sentence-level twin
    return thresholds + SINGLE_MARGIN


PROCEDURE_MIN_WORDS = 6


def _procedure_hits(out: _Collector, model: TechniqueModel[Any, Any], texts: list[str], silent: np.ndarray,
                    sig: Signals | None = None) -> None:
    if model.procedure is None:
        return
    feat, bank = model.procedure
    classes = set(model.classes) | {out.kb.current_technique_id(c) for c in model.classes}   # T1574.002 -> .001
    # Headings and fragments ("A pinch of history") describe no behaviour, yet share words with technique
    # names; the procedure model, trained on full procedure sentences, only reads sentences of some length.
    short = np.array([len(t.split()) < PROCEDURE_MIN_WORDS for t in texts], dtype=bool)
    fired: dict[str, tuple[float, list[int]]] = {}
    stats = LabelStats.empty(len(bank.labels)) if sig is not None else None
    rows_of = _best_rows(feat, bank, texts, silent | short, MAX_EVIDENCE, stats)
    if sig is not None and stats is not None:
        margin = stats.best - bank.thresholds
        for k in np.flatnonzero(stats.best > _SILENT / 2).tolist():
            j = int(k)
            sig.put(out.kb.current_technique_id(bank.labels[j]), [int(stats.row[j])], proc_best=float(margin[j]),
                    proc_second=float(stats.second[j] - bank.thresholds[j]), proc_count=float(stats.count[j]))
    for j, best in sorted(rows_of.items()):
        label = bank.labels[j]
        if label in classes or label.split(".")[0] in classes:
            continue          # the report model, calibrated on annotated reports, decides these
        fired[label] = (float(bank.probability(best[0][0], j)), [row for _, row in best])
    for label, (score, rows) in sorted(fired.items()):
        if "." not in label and any(other.startswith(label + ".") for other in [*fired, *out.hits]):
            continue          # a sub-technique already found says more than its parent
        out.add(label, score, rows, "procedures")


TOOL_MIN_WORDS = 4
_WEB_ADDRESS = re.compile(r"(?:https?|hxxps?)://[^\s)\]>\"'<]+", re.IGNORECASE)
LEXICAL_DEFERS = True


def _lexical_hits(out: _Collector, model: TechniqueModel[Any, Any], text: str, sents: list[Sentence],
                  silent: np.ndarray, sig: Signals | None = None) -> None:
    """A sentence naming a utility of the tool table, or holding a phrase of the phrase table, supports its
    technique. A line of a few words (an indicator table's "rundll32.exe" cell, a file listing) states no use,
    hence :data:`TOOL_MIN_WORDS`."""
    found: list[tuple[int, str, float, str]] = []
    if model.tools:
        found += [(m.start, m.entry.technique, m.entry.share, f"named '{m.entry.name}'")
                  for m in model.tools.find(text)]
    if model.phrases:
        found += [(m.start, m.entry.technique, m.entry.precision, f"phrase '{m.entry.phrase}'")
                  for m in model.phrases.find(text)]
    classes = set(model.classes) | {out.kb.current_technique_id(c) for c in model.classes}
    # A name inside a web address names nothing ("net" in "cloudfront.net/...", "ddos" in a glossary link's path);
    # a Markdown link's label stays outside the address and counts.
    links = [(m.start(), m.end()) for m in _WEB_ADDRESS.finditer(text)] if found else []
    starts = [a for a, _ in links]
    for start, technique, score, source in sorted(found):
        row = sentence_index(sents, start)
        if row is None or silent[row] or len(sents[row].text.split()) < TOOL_MIN_WORDS:
            continue
        at = bisect_right(starts, start) - 1
        if at >= 0 and start < links[at][1]:
            continue
        if sig is not None:
            kind = "tool" if source.startswith("named") else "phrase"
            tid = out.kb.current_technique_id(technique)
            sig.put(tid, (), **{kind: score})
            sig.count(tid, f"{kind}_rows", row)
        if LEXICAL_DEFERS and (technique in classes or technique.split(".")[0] in classes):
            continue      # as for the procedure model: the report model, calibrated on annotated reports, decides
        out.add(technique, score, [row], source)


def extract_techniques(text: str, *, sentences: list[Sentence] | None = None, kb: KnowledgeBase | None = None,
                       pages: Sequence[Page] | None = None, model: TechniqueModel[Any, Any] | None = None,
                       infer: bool = True, signals: list[Signals] | None = None) -> list[TechniqueHit]:
    """Techniques in ``text``, best first; each has supporting sentences, or is marked inferred. ``signals``, when
    given, receives the document's re-ranker features (training and benchmarks)."""
    if kb is None:
        from threadline.knowledge.index import load_kb

        kb = load_kb(progress=False)
    model = model or runtime_model()
    sents = sentences if sentences is not None else split_sentences(text)
    out = _Collector(kb, sents, pages)
    if not sents:
        return []
    texts = [s.text for s in sents]
    # Denials and hypotheticals support nothing; neither do headings, titles and reference lists (a title names the
    # subject of the report, it does not say the actor did it).
    never = np.array(never_evidence(texts), dtype=bool)
    silent = np.array([is_negated(t) for t in texts], dtype=bool) | never
    sig = Signals() if model.reranker is not None or signals is not None else None
    judged = with_lead_ins(texts)     # short list items read with their lead-in; evidence stays the item
    _report_hits(out, model, judged, silent, sig)
    _procedure_hits(out, model, judged, silent, sig)
    if sig is not None and model.paraphrase is not None and (
            signals is not None or model.reranker is None or PARAPHRASE_FEATURES[0] in model.reranker.features):
        sig.paraphrase = model.paraphrase.features(judged, ~silent)
    for mention in explicit_ids(text):
        row = sentence_index(sents, mention.start)
        if row is not None and not never[row] and not negated_at(sents[row], mention.start):
            out.add(mention.attack_id, 1.0, [row], "explicit id")
            if sig is not None:
                sig.put(kb.current_technique_id(mention.attack_id), [row], explicit=1.0)
    _lexical_hits(out, model, text, sents, silent, sig)
    # Software named in the text: what ATT&CK says it does is a re-ranker feature, and an inferred hit.
    # Each software keeps MAX_EVIDENCE sentences: once it has given that many distinct sentences, its later mentions
    # change nothing (a long report naming PlugX 50,000 times: 2.7 million adds).
    named: list[tuple[str, Any, int]] = []
    if infer or sig is not None:
        rows_of: dict[str, set[int]] = {}
        for sw in _matcher(kb).find(text):
            check()      # bounded work per document in any thread (threadline.limits)
            row = sentence_index(sents, sw.start)
            obj = kb.by_attack_id.get(sw.attack_id)
            if row is None or silent[row] or obj is None:
                continue
            done = rows_of.setdefault(sw.attack_id, set())
            if row in done or len(done) >= MAX_EVIDENCE:
                continue
            done.add(row)
            named.append((sw.attack_id, obj, row))
            if sig is not None and len(done) == 1:
                for tech, _ in kb.techniques_of(obj.stix_id):
                    sig.software.setdefault(tech.attack_id, set()).add(sw.attack_id)
    if sig is not None:
        if signals is not None:
            signals.append(sig)
        if model.reranker is not None:
            _rerank(out, model.reranker, sig)
    if infer:       # inferred hits come last: text-supported hits win
        for attack_id, obj, row in named:
            for tech, _ in kb.techniques_of(obj.stix_id):
                out.add(tech.attack_id, INFERRED_SCORE, [row], f"software {attack_id} {obj.name}", inferred=True)
    return sorted(out.hits.values(), key=lambda h: (h.inferred, -h.score, h.id))


def _rerank(out: _Collector, reranker: Reranker, sig: Signals) -> None:
    """The second stage decides every candidate: the first stage's text hits it rejects are dropped (they may come
    back as inferred), candidates it accepts are added with their best sentences as evidence."""
    text_hits = [tid for tid, hit in out.hits.items() if not hit.inferred]
    candidates = sorted(sig.candidates(text_hits).items())
    if not candidates:
        return
    accepted = dict(reranker.accepted(candidates))
    for tid in text_hits:
        if tid not in accepted:
            del out.hits[tid]          # it may come back as inferred, when named software implies it
    for tid, p in sorted(accepted.items()):
        hit = out.hits.get(tid)
        if hit is not None and not hit.inferred:
            hit.score = max(hit.score, p)     # an explicit id stays at 1.0; a stated hit under the bar keeps its own
        elif "." in tid or not any(other.startswith(tid + ".") for other in accepted):   # a sub-technique says more
            rows = sig.rows.get(tid, [])[:MAX_EVIDENCE]
            if rows:
                out.add(tid, p, rows, "re-ranker")
