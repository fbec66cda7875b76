"""Paraphrase features (techniques/paraphrase.py): built and measured on AnnoCTR *train* only, dev never read.

For each fold of bench/techniques_annoctr_cv.py, word vectors and technique prototypes are built from ATT&CK
(procedure examples, technique descriptions), TRAM2 and the AnnoCTR train reports of the *other* folds; the fold's
reports get their paraphrase features from them. The re-ranker (bench/techniques_rerank.py's outer 4-fold CV on
the out-of-fold first-stage features of ``--cache``) is then measured with and without them, at the shipped bars.
``--candidates Z`` also makes a candidate of every parent technique whose best sentence z-score reaches Z.
``--save`` builds the shipped vectors from all of train.

    .venv/bin/python bench/techniques_paraphrase.py --cache DIR [--save]
"""

from __future__ import annotations

import argparse
import gzip
import json
import pickle
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

import techniques_real  # the evaluation (bench/ is on sys.path for a script)
from techniques_annoctr_cv import FOLDS, TRAM
from techniques_rerank import Row, cross_validate, labels
from threadline.extract.sentences import split_sentences
from threadline.extract.techniques import MODEL_DIR, shipped_model
from threadline.extract.techniques.paraphrase import (
    PARAPHRASE_FILE,
    PER_LABEL,
    Paraphraser,
    build_paraphraser,
    save_paraphraser,
)
from threadline.extract.techniques.rerank import FEATURES, PARAPHRASE_FEATURES, paraphrase_row
from threadline.extract.techniques.signals import is_negated, never_evidence
from threadline.extract.techniques.train import annoctr_sentences, load_tram, procedure_examples
from threadline.knowledge.base import KnowledgeBase
from threadline.knowledge.index import load_kb

TRAIN = techniques_real.ANNOCTR / "annoctr-train.jsonl.gz"


def corpus(kb: KnowledgeBase, keep: Callable[[int], bool],
           real_only: bool = False) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """Unlabelled text for the vectors and labelled sentences for the prototypes (AnnoCTR reports ``keep`` picks;
    ``real_only``: prototypes from report sentences alone, not ATT&CK's text)."""
    texts, ids = procedure_examples(kb)
    labelled = [] if real_only else list(zip(texts, ids, strict=True))
    tram, _ = load_tram(TRAM)
    unlabelled = list(texts)
    for report in tram:
        for sent in split_sentences(report.text):
            unlabelled.append(sent.text)
            tids = {kb.current_technique_id(c) for a, b, c in report.spans if a < sent.end and b > sent.start}
            if tids:
                labelled.append((sent.text, sorted(tids)))
    with gzip.open(TRAIN, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(line for line in fh if line.strip()):
            if keep(i):
                unlabelled += [s.text for s in split_sentences(json.loads(line)["text"])]
    extra_texts, extra_ids = annoctr_sentences(TRAIN, kb, keep)
    labelled += list(zip(extra_texts, extra_ids, strict=True))
    return unlabelled, labelled


def fold_paraphrasers(kb: KnowledgeBase, cache: Path, per_label: int = PER_LABEL,
                      real_only: bool = False) -> list[Paraphraser]:
    from threadline.extract.techniques.paraphrase import load_paraphraser

    out = []
    for k in range(FOLDS):
        path = cache / f"paraphrase-fold{k}-{per_label}{'-real' if real_only else ''}.npz"
        if not path.is_file():
            def others(i: int, k: int = k) -> bool:
                return i % FOLDS != k

            unlabelled, labelled = corpus(kb, others, real_only)
            save_paraphraser(path, build_paraphraser(unlabelled, labelled, per_label=per_label))
        out.append(load_paraphraser(path))
        print(f"fold {k + 1}/{FOLDS} vectors: {len(out[-1].vocab)} words, {len(out[-1].labels)} prototypes",
              flush=True)
    return out


def with_paraphrase(reports: list[techniques_real.Report], rows: list[list[Row]], models: list[Paraphraser],
                    add: float | None, classes: set[str]) -> list[list[Row]]:
    """Each report's candidate rows with the paraphrase features of its fold's vectors (and new candidates)."""
    out = []
    for d, (report, cand) in enumerate(zip(reports, rows, strict=True)):
        texts = [s.text for s in split_sentences(report.text)]
        usable = ~(np.array(never_evidence(texts), dtype=bool) | np.array([is_negated(t) for t in texts], dtype=bool))
        feats = models[d % FOLDS].features(texts, usable)
        new = [(tid, f | paraphrase_row(feats.get(tid.split(".")[0]))) for tid, f in cand]
        if add is not None:
            have = {tid.split(".")[0] for tid, _ in cand}
            for parent, value in feats.items():
                if parent not in have and value[1] >= add:
                    empty = dict.fromkeys(FEATURES, 0.0) | {n: -4.0 for n in ("report_margin", "single_margin",
                                                                              "proc_best", "proc_second")}
                    empty |= {f"family_{n}": empty[n] for n in ("report_margin", "single_margin", "proc_best",
                                                                "tool", "phrase", "chosen", "explicit")}
                    empty |= {"family_size": 1.0, "report_decides": float(parent in classes)}
                    new.append((parent, empty | paraphrase_row(value)))
        out.append(new)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, metavar="DIR")
    ap.add_argument("--candidates", type=float, default=None, metavar="Z")
    ap.add_argument("--c", type=float, default=0.1)
    ap.add_argument("--real-only", action="store_true", help="prototypes from report sentences only")
    ap.add_argument("--per-label", type=int, default=PER_LABEL, help="prototypes per technique at most")
    ap.add_argument("--save", action="store_true", help=f"build the shipped {PARAPHRASE_FILE} from all of train")
    args = ap.parse_args()
    kb = load_kb(progress=False)
    reports, _ = techniques_real.load_reports(TRAIN, kb)
    rows: list[list[Row]] = pickle.loads((args.cache / "rerank-features.pkl").read_bytes())
    models = fold_paraphrasers(kb, args.cache, args.per_label, args.real_only)
    classes = {kb.current_technique_id(c) for c in shipped_model().classes}
    para = with_paraphrase(reports, rows, models, args.candidates, classes)
    gold = sum(len(techniques_real.parents(r.gold)) for r in reports)
    for name, table in (("without", rows), ("with", para)):
        right = {(d, t.split(".")[0]) for d, (r, x) in enumerate(zip(reports, table, strict=True))
                 for t, ok in zip([t for t, _ in x], labels(r, x), strict=True) if ok}
        print(f"{name} paraphrase: {sum(map(len, table))} candidates, gold parents among them "
              f"{len(right)}/{gold} ({len(right) / gold:.3f})")
    names = [*FEATURES, *PARAPHRASE_FEATURES]
    for name, table, feats in (("without", rows, list(FEATURES)), ("with", para, names)):
        s = cross_validate(reports, table, args.c, feats)
        for key in ("first stage", "keep 0.15, add 0.5", "keep 0.15, add 0.4", "keep 0.3, add 0.5"):
            p = s[key]["parent"]
            print(f"{name:<8} {key:<20} parent P {p['micro_p']:.3f} R {p['micro_r']:.3f} F1 {p['micro_f1']:.3f}")
    if args.save:
        unlabelled, labelled = corpus(kb, lambda i: True)
        model = build_paraphraser(unlabelled, labelled, per_label=args.per_label, info={
            "trained_on": "ATT&CK procedure examples and technique descriptions, TRAM2, AnnoCTR train (68 reports)",
            "command": " ".join(["bench/techniques_paraphrase.py", *sys.argv[1:]]),
            "licence": "CC-BY-SA 4.0 (AnnoCTR), Apache-2.0 (TRAM2), ATT&CK terms of use"})
        save_paraphraser(MODEL_DIR / PARAPHRASE_FILE, model)
        print(f"wrote {MODEL_DIR / PARAPHRASE_FILE}: {len(model.vocab)} words, {len(model.labels)} prototypes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
