"""`threadline train techniques`: build the shipped technique models from TRAM2 reports and the ATT&CK bundle."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from threadline.extract.sentences import split_sentences
from threadline.extract.techniques.blend import Blend, Procedures, calibrated_blend, overlapping_reports, save_blend
from threadline.extract.techniques.extractor import BLEND_MODEL, PROCEDURE_MODEL, REPORT_MODEL
from threadline.extract.techniques.model import SEED, Featurizer, LinearBank, save
from threadline.extract.techniques.phrases import (
    MIN_PRECISION,
    MIN_REPORTS,
    PHRASES_FILE,
    mine_phrases,
    save_phrases,
)
from threadline.extract.techniques.tools import MIN_EXAMPLES, MIN_SHARE, TOOLS_FILE, mine_tool_table, save_tool_table
from threadline.extract.techniques.train import (
    Report,
    ReportConfig,
    annoctr_sentences,
    gold_matrix,
    load_reviews,
    load_tram,
    prepare,
    procedure_examples,
    review_examples,
    sentence_set,
    train_procedure_model,
)
from threadline.knowledge.base import KnowledgeBase


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def negative_sentences(tram_dir: Path) -> list[str]:
    """Report sentences that overlap no annotated span at all (neither the 50 classes nor "other")."""
    out: list[str] = []
    with gzip.open(tram_dir / "tram2-reports.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            raw = json.loads(line)
            spans = [(s["start"], s["end"]) for s in [*raw["spans"], *raw.get("other_spans", [])]]
            for sent in split_sentences(raw["text"]):
                if len(sent.text) >= 30 and not any(a < sent.end and b > sent.start for a, b in spans):
                    out.append(sent.text)
    return out


GATE_DIR = "gate"
_FILES = (".json.gz", ".npz")


def train_blended_model(reports: list[Report], classes: list[str], kb: KnowledgeBase, cfg: ReportConfig,
                        held_out: list[Report] | None = None, log: Callable[[str], Any] = print,
                        extra: tuple[list[str], list[list[str]]] | None = None) -> tuple[Featurizer, LinearBank, Blend]:
    """The report model on ``reports`` and its procedure blend; no procedure text overlapping ``held_out`` is used.
    ``extra``: more labelled texts for the blend's procedure bank (real report sentences)."""
    texts, labels = procedure_examples(kb)
    if extra is not None:
        texts, labels = texts + extra[0], labels + extra[1]
    if held_out:
        clean = [i for i, o in enumerate(overlapping_reports(texts, held_out)) if not o]
        texts, labels = [texts[i] for i in clean], [labels[i] for i in clean]
    procs = Procedures(texts, labels, overlapping_reports(texts, reports))
    feat = Featurizer.fit(sentence_set(reports, classes).texts, cfg.spec)
    prep = prepare(reports, classes, feat)
    bank, blend = calibrated_blend(prep, list(range(len(reports))), gold_matrix(reports, classes), classes, cfg,
                                   procs, log)
    log(f"  blend: report bank weight {blend.weight}, {len(blend.bank.labels)} procedure techniques")
    return feat, bank, blend


def is_gate_holdout(index: int) -> bool:
    """The 20 reports (every sixth) the quality-gate model never sees; the gate test evaluates on them."""
    return index % 6 == 0


def build_gate_model(tram_dir: Path, out_dir: Path, kb: KnowledgeBase, *, jobs: int = 1,
                     log: Callable[[str], Any] = print) -> dict[str, Any]:
    """The report model (and blend) trained on 100 reports only, for the test-suite quality gate."""
    reports, classes = load_tram(tram_dir)
    train = [r for i, r in enumerate(reports) if not is_gate_holdout(i)]
    held = [r for i, r in enumerate(reports) if is_gate_holdout(i)]
    cfg = ReportConfig(jobs=jobs)
    log(f"gate model: {len(train)} TRAM2 reports ({len(held)} held out)")
    feat, bank, blend = train_blended_model(train, classes, kb, cfg, held, log)
    info = {"seed": SEED, "holdout_ids": [r.id for r in held]}
    save(out_dir / GATE_DIR / REPORT_MODEL, feat, bank, info)
    save_blend(out_dir / GATE_DIR / BLEND_MODEL, blend,
               {**info, "procedures": "ATT&CK procedure texts overlapping none of the held-out reports"})
    return {"files": [f"{GATE_DIR}/{name}{ext}" for name in (REPORT_MODEL, BLEND_MODEL) for ext in _FILES]}


ANNOCTR_TRAIN = "annoctr-train.jsonl.gz"
ANNOCTR_LICENCE = "CC-BY-SA 4.0, (c) 2023 Robert Bosch GmbH (AnnoCTR, Lange et al., LREC-COLING 2024)"


def build_tables(out_dir: Path, kb: KnowledgeBase, annoctr_train: Path | None,
                 log: Callable[[str], Any] = print) -> list[str]:
    """The utility/technique-name table (from ATT&CK) and the mention phrase table (from AnnoCTR train, when the
    file is there; else an empty table, said so): both deterministic, written as JSON beside the models."""
    from threadline.knowledge.index import active_bundle

    bundle = active_bundle()
    tools = mine_tool_table(kb)
    save_tool_table(out_dir / TOOLS_FILE, tools, {"attack_bundle": {"file": bundle.name, "sha256": _sha256(bundle)},
                                                  "min_examples": MIN_EXAMPLES, "min_share": MIN_SHARE})
    log(f"tool and technique-name table: {len(tools)} names (ATT&CK {kb.attack.version})")
    phrases, source = [], None
    if annoctr_train is not None and annoctr_train.is_file():
        phrases = mine_phrases(annoctr_train, kb)
        source = {"file": annoctr_train.name, "sha256": _sha256(annoctr_train), "min_reports": MIN_REPORTS,
                  "min_precision": MIN_PRECISION, "licence": ANNOCTR_LICENCE}
        log(f"phrase table: {len(phrases)} phrases from AnnoCTR train mentions")
    else:
        log("phrase table: AnnoCTR train split not found, no phrases")
    save_phrases(out_dir / PHRASES_FILE, phrases, {"annoctr": source})
    return [TOOLS_FILE, PHRASES_FILE]


def procedure_inputs(tram_dir: Path, kb: KnowledgeBase, annoctr: Path | None, reviews: list[dict[str, Any]] | None,
                     log: Callable[[str], Any] = print
                     ) -> tuple[list[str], tuple[list[str], list[list[str]]] | None, dict[str, Any]]:
    """What the procedure model learns from beside ATT&CK's texts: (negatives, extra labelled texts, provenance).

    Negatives are TRAM2 sentences overlapping no annotated span; extra texts are AnnoCTR train's technique-mention
    sentences (when the split is there) and the analysts' reviewed sentences (``reviews``, :func:`review_examples`:
    accepted or corrected ones are positives of their technique, rejected ones join the negatives)."""
    real = annoctr / ANNOCTR_TRAIN if annoctr is not None else None
    texts: list[str] = []
    labels: list[list[str]] = []
    provenance: dict[str, Any] = {"annoctr": None, "reviews": None}
    if real is not None and real.is_file():
        texts, labels = annoctr_sentences(real, kb)
        provenance["annoctr"] = {"file": ANNOCTR_TRAIN, "sha256": _sha256(real), "sentences": len(texts),
                                 "licence": ANNOCTR_LICENCE}
        log(f"  + {len(texts)} AnnoCTR train sentences with a technique mention")
    else:
        log(f"  AnnoCTR train split not found{f' at {real}' if real else ''}: procedure model on ATT&CK text only")
    negatives = negative_sentences(tram_dir)
    if reviews is not None:
        positive, their_labels, rejected = review_examples(reviews)
        texts, labels = texts + positive, labels + their_labels
        negatives += rejected
        provenance["reviews"] = {"verdicts": len(reviews), "positive_sentences": len(positive),
                                 "negative_sentences": len(rejected)}
        log(f"  + analysts' reviews: {len(positive)} confirmed sentences, {len(rejected)} rejected ones as negatives")
    return negatives, ((texts, labels) if texts else None), provenance


def build_models(tram_dir: Path, out_dir: Path, *, jobs: int = 1, gate: bool = True, annoctr: Path | None = None,
                 reviews: Path | None = None, log: Callable[[str], Any] = print) -> dict[str, Any]:
    """Train the banks and the blend (and the gate model) deterministically and write them to ``out_dir``.

    ``annoctr``: the AnnoCTR folder (development data, CC-BY-SA 4.0, not shipped); when its train split is there,
    its technique-mention sentences are training texts of the procedure model too (4-fold CV on AnnoCTR train:
    bench/techniques_annoctr_cv.py). Without it the procedure model is trained on ATT&CK alone, and says so.
    ``reviews``: analysts' technique verdicts (``threadline reviews export``), training texts of the procedure
    model only (see :func:`procedure_inputs`)."""
    from threadline.knowledge.index import active_bundle, load_kb

    reviewed = load_reviews(reviews) if reviews is not None else None      # a bad file fails before minutes of work
    reports, classes = load_tram(tram_dir)
    cfg = ReportConfig(jobs=jobs)
    bundle = active_bundle()
    kb = load_kb(progress=False)
    log(f"report model: {len(reports)} TRAM2 reports, {len(classes)} classes, blended with ATT&CK {kb.attack.version}")
    feat, bank, blend = train_blended_model(reports, classes, kb, cfg, log=log)
    provenance = {
        "seed": SEED,
        "tram_reports": {"file": "tram2-reports.jsonl.gz", "sha256": _sha256(tram_dir / "tram2-reports.jsonl.gz"),
                         "count": len(reports)},
        "config": {"kind": cfg.kind, "c": cfg.c, "keep": cfg.keep, "top": cfg.top, "folds": cfg.folds,
                   "shrink": cfg.shrink, "context": cfg.spec.context, "pos_weight": cfg.pos_weight,
                   "stack": cfg.stack, "stack_c": cfg.stack_c},
    }
    save(out_dir / REPORT_MODEL, feat, bank, provenance)
    save_blend(out_dir / BLEND_MODEL, blend, {"seed": SEED, "attack_bundle": {"file": bundle.name,
                                                                              "sha256": _sha256(bundle)}})
    log(f"procedure model: ATT&CK {kb.attack.version} procedure examples and technique descriptions")
    negatives, extra, sources = procedure_inputs(tram_dir, kb, annoctr, reviewed, log)
    if sources["reviews"] is not None and reviews is not None:
        sources["reviews"] = {"file": reviews.name, "sha256": _sha256(reviews), **sources["reviews"]}
    pfeat, pbank = train_procedure_model(kb, negatives, jobs=jobs, extra=extra)
    save(out_dir / PROCEDURE_MODEL, pfeat, pbank,
         {"seed": SEED, "attack_bundle": {"file": bundle.name, "sha256": _sha256(bundle)},
          "negatives": "TRAM2 report sentences overlapping no annotated span (and sentences analysts rejected)",
          "labels": len(pbank.labels), **sources})
    real = annoctr / ANNOCTR_TRAIN if annoctr is not None else None
    files = [f"{name}{ext}" for name in (REPORT_MODEL, BLEND_MODEL, PROCEDURE_MODEL) for ext in _FILES]
    files += build_tables(out_dir, kb, real, log=log)
    if gate:
        files += build_gate_model(tram_dir, out_dir, kb, jobs=jobs, log=log)["files"]
    return {"files": files, "report_labels": len(bank.labels), "procedure_labels": len(pbank.labels)}
