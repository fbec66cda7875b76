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

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np

from threadline.extract.sentences import split_sentences
from threadline.extract.techniques import runtime
from threadline.extract.techniques.phrases import PHRASES_FILE, PhraseMatcher, shipped_phrases
from threadline.extract.techniques.runtime import BankLike, FeaturizerLike, FloatArray, decisions_by_block
from threadline.extract.techniques.signals import (
    SoftwareMatcher,
    explicit_ids,
    is_negated,
    never_evidence,
    sentence_index,
)
from threadline.extract.techniques.tools import TOOLS_FILE, ToolMatcher, shipped_tools
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
        return TechniqueModel((feat, bank), procedure, info, ensemble, blend, tools, phrases)


@lru_cache(maxsize=4)
def shipped_model(directory: str = str(MODEL_DIR)) -> TechniqueModel[Featurizer, LinearBank]:
    """The model shipped in the package with its scikit-learn objects, loaded once on first use."""
    return TechniqueModel.load(Path(directory))


@lru_cache(maxsize=4)
def runtime_model(directory: str = str(MODEL_DIR)) -> TechniqueModel[Any, Any]:
    """The shipped model applied with NumPy alone (same scores to the bit, without importing scikit-learn: 1 s of
    a cold start); a model runtime.py cannot apply (an MLP ensemble, a stacker, sentence context) is
    :func:`shipped_model`'s."""
    folder = Path(directory)
    feat, bank, info = runtime.load(folder / REPORT_MODEL)
    if (folder / f"{ENSEMBLE_MODEL}.npz").is_file() or "stacker" in bank.extra or feat.spec.context:
        return shipped_model(directory)
    procedure = runtime.load(folder / PROCEDURE_MODEL)[:2] if (folder / f"{PROCEDURE_MODEL}.npz").is_file() else None
    if procedure is not None and procedure[0].spec.context:
        return shipped_model(directory)
    blend = runtime.load_blend(folder / BLEND_MODEL) if (folder / f"{BLEND_MODEL}.npz").is_file() else None
    return TechniqueModel((feat, bank), procedure, info, None, blend, shipped_tools(str(folder / TOOLS_FILE)),
                          shipped_phrases(str(folder / PHRASES_FILE)))


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
    scores = np.vstack([block for _, block in decisions_by_block(feat, bank, texts)])
    scores[silent] = _SILENT
    return scores


def _best_rows(feat: FeaturizerLike, bank: BankLike, texts: list[str], silent: np.ndarray,
               top: int) -> dict[int, list[tuple[float, int]]]:
    """Per label that some sentence passes (score >= its threshold): the ``top`` best (score, row) pairs that pass,
    best first and the earlier sentence first among equal scores, as a stable sort of the whole score matrix would
    give them. Only a block of the matrix (691 labels per sentence) is held at a time."""
    kept: dict[int, list[tuple[float, int]]] = {}
    for start, block in decisions_by_block(feat, bank, texts):
        block[silent[start:start + block.shape[0]]] = _SILENT
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


def _report_hits(out: _Collector, model: TechniqueModel[Any, Any], texts: list[str], silent: np.ndarray) -> None:
    feat, bank = model.report
    ens, blend = model.ensemble, model.blend
    x = feat.transform(texts, [0] * len(texts)) if ens is not None else None    # the MLP reads the features too
    scores = bank.decision(x) if x is not None else _decisions(feat, bank, texts, silent)
    scores[silent] = _SILENT
    order = np.argsort(-scores, axis=0, kind="stable")
    evidence, floor = scores, np.zeros(len(bank.labels))      # evidence ranking, and the bar for extra evidence
    if blend is not None:            # report bank + procedure bank: report and sentence scores combined alike
        pscores = blend.class_scores(texts, silent, len(bank.labels))
        combined = blend.combine(_top_mean(scores, order, blend.top),
                                 _top_mean(pscores, np.argsort(-pscores, axis=0, kind="stable"), blend.top))
        chosen, values = np.flatnonzero(combined >= blend.thresholds), blend.probability(combined)
        evidence, floor = blend.combine(scores, pscores), blend.thresholds
        order = np.argsort(-evidence, axis=0, kind="stable")
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
    single = evidence.max(axis=0) >= floor_single(floor, bank.thresholds, blend is not None, ens is not None)
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


def _procedure_hits(out: _Collector, model: TechniqueModel[Any, Any], texts: list[str], silent: np.ndarray) -> None:
    if model.procedure is None:
        return
    feat, bank = model.procedure
    classes = set(model.classes) | {out.kb.current_technique_id(c) for c in model.classes}   # T1574.002 -> .001
    # Headings and fragments ("A pinch of history") describe no behaviour, yet share words with technique
    # names; the procedure model, trained on full procedure sentences, only reads sentences of some length.
    short = np.array([len(t.split()) < PROCEDURE_MIN_WORDS for t in texts], dtype=bool)
    fired: dict[str, tuple[float, list[int]]] = {}
    for j, best in sorted(_best_rows(feat, bank, texts, silent | short, MAX_EVIDENCE).items()):
        label = bank.labels[j]
        if label in classes or label.split(".")[0] in classes:
            continue          # the report model, calibrated on annotated reports, decides these
        fired[label] = (float(bank.probability(best[0][0], j)), [row for _, row in best])
    for label, (score, rows) in sorted(fired.items()):
        if "." not in label and any(other.startswith(label + ".") for other in [*fired, *out.hits]):
            continue          # a sub-technique already found says more than its parent
        out.add(label, score, rows, "procedures")


TOOL_MIN_WORDS = 4
LEXICAL_DEFERS = True


def _lexical_hits(out: _Collector, model: TechniqueModel[Any, Any], text: str, sents: list[Sentence],
                  silent: np.ndarray) -> None:
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
    for start, technique, score, source in sorted(found):
        if LEXICAL_DEFERS and (technique in classes or technique.split(".")[0] in classes):
            continue      # as for the procedure model: the report model, calibrated on annotated reports, decides
        row = sentence_index(sents, start)
        if row is None or silent[row] or len(sents[row].text.split()) < TOOL_MIN_WORDS:
            continue
        out.add(technique, score, [row], source)


def extract_techniques(text: str, *, sentences: list[Sentence] | None = None, kb: KnowledgeBase | None = None,
                       pages: Sequence[Page] | None = None, model: TechniqueModel[Any, Any] | None = None,
                       infer: bool = True) -> list[TechniqueHit]:
    """Techniques in ``text``, best first; each has supporting sentences, or is marked inferred."""
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
    silent = np.array([is_negated(t) for t in texts], dtype=bool) | np.array(never_evidence(texts), dtype=bool)
    _report_hits(out, model, texts, silent)
    _procedure_hits(out, model, texts, silent)
    for mention in explicit_ids(text):
        row = sentence_index(sents, mention.start)
        if row is not None and not silent[row]:
            out.add(mention.attack_id, 1.0, [row], "explicit id")
    _lexical_hits(out, model, text, sents, silent)
    if infer:
        # Inferred hits come last and keep MAX_EVIDENCE sentences: once a software has given that many distinct
        # sentences, its later mentions change nothing (a long report naming PlugX 50,000 times: 2.7 million adds).
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
            for tech, _ in kb.techniques_of(obj.stix_id):
                out.add(tech.attack_id, INFERRED_SCORE, [row], f"software {sw.attack_id} {obj.name}", inferred=True)
    return sorted(out.hits.values(), key=lambda h: (h.inferred, -h.score, h.id))
