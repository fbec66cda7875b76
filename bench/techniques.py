"""Benchmark ATT&CK technique extraction: 5-fold cross-validation BY REPORT over the 120 TRAM2 reports.

For each outer fold the vectorizer, the weights and the per-class thresholds (inner folds) are fitted on the 96
training reports only; the 24 test reports then go through the full run-time pipeline (`extract_techniques`:
sentence splitting, negation, explicit ids; inferred techniques excluded, as TRAM annotates text only). Only the
TRAM2 reports are used for training here, so no sentence file can leak a test report's text. The shipped model
blends the report bank with an ATT&CK procedure bank (techniques/blend.py): each fold uses only the procedure texts
that overlap none of its test reports; `--no-blend` gives the report bank alone.

    .venv/bin/python bench/techniques.py [--folds 5] [--out bench/results/techniques.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import os
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):   # one core for speed figures
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from sklearn.linear_model import SGDClassifier  # noqa: E402

from threadline.extract.sentences import split_sentences  # noqa: E402
from threadline.extract.techniques import TechniqueModel, extract_techniques  # noqa: E402
from threadline.extract.techniques import train as technique_train  # noqa: E402
from threadline.extract.techniques.blend import (  # noqa: E402
    MODE,
    PROCEDURE_SPEC,
    Procedures,
    calibrated_blend,
    overlapping_reports,
)
from threadline.extract.techniques.mlp import MlpConfig, calibrated_ensemble  # noqa: E402
from threadline.extract.techniques.model import SEED, FeatureSpec, Featurizer, LinearBank  # noqa: E402
from threadline.extract.techniques.stack import doc_f1  # noqa: E402
from threadline.extract.techniques.train import (  # noqa: E402
    ReportConfig,
    calibrated_bank,
    gold_matrix,
    load_tram,
    prepare,
    procedure_examples,
    revoked_classes,
    sentence_set,
    to_class,
)
from threadline.knowledge.index import load_kb  # noqa: E402

TRAM = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tram"


def prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def summarise(pred: np.ndarray, gold: np.ndarray) -> dict[str, float]:
    tp = (pred & gold).sum(0).astype(float)
    fp = (pred & ~gold).sum(0).astype(float)
    fn = (~pred & gold).sum(0).astype(float)
    micro = prf(tp.sum(), fp.sum(), fn.sum())
    per = [prf(a, b, c) for a, b, c in zip(tp, fp, fn, strict=True)]
    present = gold.sum(0) > 0
    macro = [float(np.mean([x[i] for x, keep in zip(per, present, strict=True) if keep])) for i in range(3)]
    return {"micro_p": micro[0], "micro_r": micro[1], "micro_f1": micro[2], "macro_p": macro[0],
            "macro_r": macro[1], "macro_f1": macro[2]}


def print_per_class(pred: np.ndarray, gold: np.ndarray, classes: list[str]) -> None:
    """Report-level counts and F1 per class, worst first: where the errors are."""
    tp, fp, fn = ((pred & gold).sum(0), (pred & ~gold).sum(0), (~pred & gold).sum(0))
    rows = sorted(range(len(classes)), key=lambda j: (prf(tp[j], fp[j], fn[j])[2], -gold[:, j].sum()))
    print(f"{'class':<10} {'gold':>4} {'tp':>4} {'fp':>4} {'fn':>4}   P     R     F1")
    for j in rows:
        p, r, f = prf(tp[j], fp[j], fn[j])
        print(f"{classes[j]:<10} {gold[:, j].sum():>4} {tp[j]:>4} {fp[j]:>4} {fn[j]:>4}  {p:.2f}  {r:.2f}  {f:.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--tram", type=Path, default=TRAM)
    ap.add_argument("--out", type=Path, default=None, help="write the results section (Markdown) here")
    ap.add_argument("--jobs", type=int, default=1, help="parallel training jobs (speed is always one core)")
    ap.add_argument("--context", type=float, default=FeatureSpec().context)
    ap.add_argument("--char-max", type=int, default=FeatureSpec().char_max)
    ap.add_argument("--word-max", type=int, default=FeatureSpec().word_max)
    ap.add_argument("--top", type=int, default=ReportConfig().top)
    ap.add_argument("--shrink", type=float, default=ReportConfig().shrink)
    ap.add_argument("--keep", type=int, default=ReportConfig().keep)
    ap.add_argument("--c", type=float, default=ReportConfig().c)
    ap.add_argument("--kind", default=ReportConfig().kind)
    ap.add_argument("--pos-weight", type=float, default=ReportConfig().pos_weight)
    ap.add_argument("--stack", action="store_true", help="decide with the pooled logistic stacker")
    ap.add_argument("--stack-c", type=float, default=ReportConfig().stack_c)
    ap.add_argument("--extra-weight", type=float, default=0.0,
                    help="variant: extra positives from the TRAM sentence files and ATT&CK procedures, this weight")
    ap.add_argument("--extra-below", type=int, default=16,
                    help="variant: only for classes with fewer positive training reports than this")
    ap.add_argument("--mlp", action="store_true",
                    help="variant: average the linear bank with a one-hidden-layer MLP at the report level")
    ap.add_argument("--mlp-features", type=int, default=MlpConfig().features)
    ap.add_argument("--mlp-hidden", type=int, default=MlpConfig().hidden)
    ap.add_argument("--mlp-dropout", type=float, default=MlpConfig().dropout)
    ap.add_argument("--mlp-context", type=float, default=MlpConfig().context)
    ap.add_argument("--no-blend", action="store_true",
                    help="the report bank alone, without the ATT&CK procedure bank blended in (the shipped model)")
    ap.add_argument("--blend-mode", default=MODE, choices=("average", "refit", "own"),
                    help="variant: how the blend's procedure bank is built (techniques.blend.calibrated_blend)")
    ap.add_argument("--procedure-char", action="store_true",
                    help="variant: character n-grams in the procedure bank's features too")
    ap.add_argument("--rerank", action="store_true",
                    help="as shipped since issue 14: the fold's model with the shipped procedure model and re-ranker "
                         "(trained on ATT&CK and AnnoCTR, never on TRAM; ATT&CK procedure examples may quote a "
                         "TRAM report)")
    ap.add_argument("--per-class", action="store_true", help="print report-level P/R/F1 per class")
    ap.add_argument("--predictions", type=Path, default=None, metavar="JSONL",
                    help="write each report's out-of-fold techniques here ({id, techniques}), for "
                         "bench/attribution_real.py")
    ap.add_argument("--tram1", action="store_true",
                    help="add TRAM v1's labelled sentences to the procedure bank's training text")
    ap.add_argument("--speed-only", action="store_true",
                    help="only time the shipped model (full pipeline, inferred techniques too) on every report")
    args = ap.parse_args()
    if not (args.tram / "tram2-reports.jsonl.gz").is_file():
        print(f"TRAM data not found in {args.tram}", file=sys.stderr)
        return 1
    if args.speed_only:
        return speed(args)
    reports, classes = load_tram(args.tram)
    pspec = dataclasses.replace(PROCEDURE_SPEC, use_char=True) if args.procedure_char else PROCEDURE_SPEC
    spec = FeatureSpec(context=args.context, char_max=args.char_max, word_max=args.word_max)
    cfg = ReportConfig(spec, kind=args.kind, c=args.c, keep=args.keep, top=args.top,
                       shrink=args.shrink, pos_weight=args.pos_weight, stack=args.stack,
                       stack_c=args.stack_c, jobs=args.jobs)
    kb = load_kb(progress=False)
    renamed = revoked_classes(classes, kb.current_technique_id)
    gold = gold_matrix(reports, classes)
    index = {c: i for i, c in enumerate(classes)}
    pred = np.zeros_like(gold)
    pred_model = np.zeros_like(gold)       # the same, without hits that only come from ids written in the text
    pred_thr = np.zeros_like(gold)         # same weights, previous decision rule (per-class score thresholds)
    blend_on = not (args.no_blend or args.mlp)
    if blend_on:      # procedure texts with the reports they overlap: a fold uses none overlapping a test report
        ptexts, plabels = procedure_examples(kb)
        if args.tram1:      # TRAM v1's report sentences as more "other text" for the second bank
            ttexts, tlabels = tram1_sentences(args.tram, kb)
            ptexts, plabels = ptexts + ttexts, plabels + tlabels
        poverlaps = overlapping_reports(ptexts, reports)
        weights: list[float] = []
    sent_pred: list[np.ndarray] = []
    sent_gold: list[np.ndarray] = []
    n_sentences, seconds, per_report = 0, 0.0, []
    found: dict[str, list[str]] = {}           # report id -> out-of-fold techniques (--predictions)
    t_start = time.time()
    for k in range(args.folds):
        test = [i for i in range(len(reports)) if i % args.folds == k]
        train = [i for i in range(len(reports)) if i % args.folds != k]
        train_reports = [reports[i] for i in train]
        feat = Featurizer.fit(sentence_set(train_reports, classes).texts, cfg.spec)
        prep = prepare(train_reports, classes, feat)
        if args.extra_weight:
            use_extra_rows(args, reports, classes, gold, train, feat, kb)
        ens, blend = None, None
        if blend_on:
            local = {d: n for n, d in enumerate(train)}
            ok = [i for i, o in enumerate(poverlaps) if o <= set(train)]
            procs = Procedures([ptexts[i] for i in ok], [plabels[i] for i in ok],
                               [{local[d] for d in poverlaps[i]} for i in ok])
            bank, blend = calibrated_blend(prep, list(range(len(train))), gold[train], classes, cfg, procs,
                                           mode=args.blend_mode, spec=pspec)
            weights.append(blend.weight)
            print(f"  blend: report bank weight {blend.weight}; "
                  + " ".join(f"{k_.removeprefix('oof_doc_f1_')} {v:.3f}" for k_, v in blend.extra.items()), flush=True)
        elif args.mlp:
            mcfg = MlpConfig(features=args.mlp_features, hidden=args.mlp_hidden, dropout=args.mlp_dropout,
                             context=args.mlp_context)
            bank, ens = calibrated_ensemble(prep, list(range(len(train))), gold[train], classes, cfg, mcfg)
            print(f"  ensemble: linear weight {ens.weight}, MLP input {len(ens.mlp.cols)} x {ens.mlp.w1.shape[1]}; "
                  + " ".join(f"{k_.removeprefix('oof_doc_f1_')} {v:.3f}" for k_, v in ens.extra.items()), flush=True)
        else:
            bank = calibrated_bank(prep, list(range(len(train))), gold[train], classes, cfg)
        # the run-time name and phrase tables (learnt from ATT&CK and AnnoCTR, never from TRAM) take part as shipped
        shipped = TechniqueModel.load()
        model = TechniqueModel((feat, bank), shipped.procedure if args.rerank else None, ensemble=ens, blend=blend,
                               tools=shipped.tools, phrases=shipped.phrases,
                               reranker=shipped.reranker if args.rerank else None)
        plain = LinearBank(bank.labels, bank.coef, bank.intercept, bank.thresholds, bank.scale,
                           {k_: v for k_, v in bank.extra.items() if k_ != "stacker"})
        for d in test:
            for hit in extract_techniques(reports[d].text, kb=kb, model=TechniqueModel((feat, plain), None),
                                          infer=False):
                if to_class(hit.id, classes, renamed) in index:
                    pred_thr[d, index[to_class(hit.id, classes, renamed)]] = True
        for d in test:
            report = reports[d]
            t0 = time.perf_counter()
            sentences = split_sentences(report.text)
            hits = extract_techniques(report.text, sentences=sentences, kb=kb, model=model, infer=False)
            elapsed = time.perf_counter() - t0
            seconds += elapsed
            per_report.append(elapsed)
            n_sentences += len(sentences)
            found[report.id] = [hit.id for hit in hits]
            for hit in hits:
                cls = to_class(hit.id, classes, renamed)
                if cls in index:
                    pred[d, index[cls]] = True
                    if hit.sources != ["explicit id"]:
                        pred_model[d, index[cls]] = True
        test_prep = prepare([reports[i] for i in test], classes, feat)
        sent_pred.append(bank.decision(test_prep.x) >= 0.0)
        sent_gold.append(test_prep.data.y)
        stacked = (f" (per-class thresholds: {doc_f1(pred_thr[test], gold[test]):.3f}; stacker inner out-of-fold "
                   f"{bank.extra['oof_doc_f1']:.3f})" if cfg.stack else "")
        if args.mlp or blend_on:
            stacked = f" (linear bank alone: {doc_f1(pred_thr[test], gold[test]):.3f})"
        print(f"fold {k + 1}/{args.folds}: per-document F1 {doc_f1(pred[test], gold[test]):.3f}{stacked} "
              f"({time.time() - t_start:.0f}s)", flush=True)
    if args.predictions:
        args.predictions.write_text("".join(json.dumps({"id": rid, "techniques": ids}) + "\n"
                                            for rid, ids in sorted(found.items())), encoding="utf-8")
    figures = summarise(pred, gold)
    sentence = summarise(np.vstack(sent_pred), np.vstack(sent_gold))
    result = {
        "doc_f1": doc_f1(pred, gold), **figures, "doc_f1_no_explicit": doc_f1(pred_model, gold),
        "micro_f1_no_explicit": summarise(pred_model, gold)["micro_f1"],
        "doc_f1_thresholds": doc_f1(pred_thr, gold), "pred_per_report_thresholds": float(pred_thr.sum(1).mean()),
        "sent_micro_f1": sentence["micro_f1"], "sent_micro_p": sentence["micro_p"],
        "sent_micro_r": sentence["micro_r"], "sent_macro_f1": sentence["macro_f1"],
        "pred_per_report": float(pred.sum(1).mean()), "gold_per_report": float(gold.sum(1).mean()),
        "sentences_per_s": n_sentences / seconds, "s_per_report": float(np.mean(per_report)),
        "s_per_report_max": float(np.max(per_report)),
    }
    for key, value in result.items():
        print(f"{key:>20}: {value:.4f}")
    if args.per_class:
        print_per_class(pred, gold, classes)
    if args.out:
        write_markdown(args.out, result, cfg, args, weights if blend_on else None)
    return 0


# ---- variant: extra positives for rare classes (measured: no gain, see bench/results/techniques.md) ----------
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_SHINGLE = 8
_POOL: list[tuple[str, str, frozenset[int]]] = []      # (text, class, reports it overlaps), built once


def _norm(text: str) -> str:
    return _NON_ALNUM.sub(" ", text.lower()).strip()


def _load_json(path: Path) -> Any:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def extra_pool(tram: Path, kb: Any, classes: list[str], reports: list[Any]) -> list[tuple[str, str, frozenset[int]]]:
    """Labelled sentences of the TRAM files and ATT&CK procedures, each with the reports whose text it overlaps.

    Overlap = contained in the normalised report text or sharing an 8-word shingle with it (SOURCE.md: the
    sentence files share text with the reports, so any row touching a held-out report must be dropped).
    """
    rows = [(r["text"], r["label"]) for r in _load_json(tram / "tram2-single-label.json.gz")]
    for s in _load_json(tram / "bootstrap-training-data.json.gz")["sentences"]:
        ids = {to_class(m["attack_id"], classes) for m in s.get("mappings", [])}
        if s.get("disposition", "accept") == "accept" and len(ids) == 1:
            rows.append((s["text"], ids.pop()))
    names = {t.name.lower(): t.attack_id for t in kb.attack.techniques.values()}
    for name, sents in _load_json(tram / "tram1-positive-sentences.json.gz").items():
        if name in names:       # "-multi" keys and pre-v7 names (not in the current ATT&CK) are skipped
            rows.extend((s, names[name]) for s in sents)
    texts, labels = procedure_examples(kb)
    rows.extend((t, lab[0]) for t, lab in zip(texts, labels, strict=True))
    report_texts = [_norm(r.text) for r in reports]
    shingles: dict[tuple[str, ...], set[int]] = {}
    for i, t in enumerate(report_texts):
        w = t.split()
        for k in range(len(w) - _SHINGLE + 1):
            shingles.setdefault(tuple(w[k:k + _SHINGLE]), set()).add(i)
    out, seen = [], set()
    for text, label in rows:
        cls, n = to_class(label, classes), _norm(text)
        if cls not in classes or len(n) < 15 or (n, cls) in seen:
            continue
        seen.add((n, cls))
        w = n.split()
        hit = set().union(*(shingles.get(tuple(w[k:k + _SHINGLE]), set()) for k in range(len(w) - _SHINGLE + 1)))
        if len(w) < 2 * _SHINGLE:
            hit |= {i for i, t in enumerate(report_texts) if n in t}
        out.append((text, cls, frozenset(hit)))
    return out


def tram1_sentences(tram_dir: Path, kb: Any) -> tuple[list[str], list[list[str]]]:
    """Variant (measured: no gain): TRAM v1's labelled sentences as more procedure-bank text.

    Keyed by technique name, some pre-v7: old names resolve through the revoked-technique table; names ATT&CK
    merely renamed ("Remote File Copy") have no table here and are skipped.
    """
    path = tram_dir / "tram1-positive-sentences.json.gz"
    if not path.is_file():
        raise SystemExit(f"{path}: TRAM v1 sentences not found")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        by_name: dict[str, list[str]] = json.load(fh)
    names: dict[str, str] = {t.name.lower(): t.attack_id for t in kb.attack.techniques.values()}
    for name, old in kb.galaxies.revoked_technique_names.items():
        live = [kb.revoked[i] for i in old if i in kb.revoked]
        if live and name.lower() not in names:
            names[name.lower()] = live[0]
    texts: list[str] = []
    labels: list[list[str]] = []
    for name, sents in sorted(by_name.items()):
        tid = names.get(name.strip().lower(), "")
        for text in sents if tid else ():
            if len(text) >= 20:
                texts.append(text)
                labels.append([tid, tid.split(".")[0]] if "." in tid else [tid])
    return texts, labels


def use_extra_rows(args: argparse.Namespace, reports: list[Any], classes: list[str], gold: np.ndarray,
                   train: list[int], feat: Featurizer, kb: Any) -> None:
    """Make every training fit of this outer fold add the extra rows of the rare classes (weighted lower).

    Done by replacing ``techniques.train.fit_rows`` for the benchmark only, so the library stays as shipped.
    A row is used in a fit only if every report it overlaps is a training report of that fit (inner folds too,
    so the out-of-fold thresholds stay honest).
    """
    if not _POOL:
        _POOL.extend(extra_pool(args.tram, kb, classes, reports))
    index = {c: i for i, c in enumerate(classes)}
    rare = {j for j in range(len(classes)) if gold[train, j].sum() < args.extra_below}
    pool = [r for r in _POOL if index[r[1]] in rare and r[2] <= set(train)]
    x_extra = feat.transform([r[0] for r in pool]) if pool else None
    cls = np.array([index[r[1]] for r in pool])

    def fit_rows(prep: Any, docs: Any, labels: list[str], cfg: Any) -> LinearBank:
        rows = prep.rows(docs)
        x, y = prep.x[rows], prep.data.y[rows]
        allowed = {train[d] for d in docs}
        ok = np.array([r[2] <= allowed for r in pool], dtype=bool)
        cols, intercepts = [], []
        for j in range(len(labels)):
            if not y[:, j].any():
                cols.append(np.zeros(x.shape[1]))
                intercepts.append(-1.0)
                continue
            xj, tj, wj = x, y[:, j].astype(np.int32), np.ones(x.shape[0])
            sel = np.flatnonzero(ok & (cls == j)) if j in rare and pool else np.zeros(0, dtype=int)
            if sel.size and x_extra is not None:
                xj = sp.vstack([x, x_extra[sel]], format="csr")
                tj = np.concatenate([tj, np.ones(sel.size, dtype=np.int32)])
                wj = np.concatenate([wj, np.full(sel.size, args.extra_weight)])
            model = SGDClassifier(loss="hinge", alpha=cfg.c, max_iter=12, tol=None, random_state=SEED,
                                  class_weight={0: 1.0, 1: cfg.pos_weight}).fit(xj, tj, sample_weight=wj)
            w = model.coef_[0].astype(np.float64)
            if cfg.keep and cfg.keep < w.size:
                cut = np.partition(np.abs(w), w.size - cfg.keep)[w.size - cfg.keep]
                w = np.where(np.abs(w) >= cut, w, 0.0)
            cols.append(w)
            intercepts.append(float(model.intercept_[0]))
        coef = sp.csr_matrix(np.vstack(cols).T.astype(np.float32))
        return LinearBank(labels, coef, np.asarray(intercepts), np.zeros(len(labels)))

    print(f"  extra rows: {len(pool)} for {len(rare)} classes", flush=True)
    technique_train.fit_rows = fit_rows


def speed(args: argparse.Namespace) -> int:
    """Seconds per report and sentences/s of the shipped model, one thread, sentence splitting included."""
    reports, _ = load_tram(args.tram)
    kb = load_kb(progress=False)
    t0 = time.perf_counter()
    model = TechniqueModel.load()
    load_s = time.perf_counter() - t0
    extract_techniques("Warm-up: the actor used PowerShell.", kb=kb, model=model)   # builds the software matcher
    times, words, sentences = [], [], 0
    for report in reports:
        t0 = time.perf_counter()
        sentences += len(split_sentences(report.text))
        extract_techniques(report.text, kb=kb, model=model)
        times.append(time.perf_counter() - t0)
        words.append(len(report.text.split()))
    per_5k = float(np.sum(times) / np.sum(words) * 5000)
    lines = [f"model load (once per process): {load_s:.2f} s",
             f"sentences/s: {sentences / np.sum(times):.0f}",
             f"s per report: mean {np.mean(times):.3f}, max {np.max(times):.3f} (mean {np.mean(words):.0f} words)",
             f"s per 5,000 words: {per_5k:.3f}"]
    print("\n".join(lines))
    if args.out:
        with args.out.open("a", encoding="utf-8") as fh:
            fh.write("\nSpeed of the shipped model, full pipeline (sentence splitting, both models, explicit ids, "
                     "software inference), one thread (`taskset -c 0 .venv/bin/python bench/techniques.py "
                     "--speed-only`), on a machine shared with other jobs:\n\n" + "".join(f"- {x}\n" for x in lines))
    return 0


def write_markdown(path: Path, r: dict[str, float], cfg: ReportConfig, args: argparse.Namespace,
                   weights: list[float] | None) -> None:
    """Append the run's section to ``path`` (earlier rounds are kept)."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    nproc = os.cpu_count()     # not `nproc`: it honours OMP_NUM_THREADS, which this script sets to 1
    words = np.mean([len(r_.text.split()) for r_ in load_tram(args.tram)[0]])
    stack_row = (f"\n| per-document F1 of the same weights with per-class score thresholds | "
                 f"{r['doc_f1_thresholds']:.3f} ({r['pred_per_report_thresholds']:.1f} classes per report) |"
                 if cfg.stack else "")
    decision = (f"Report decision: a pooled logistic stacker (C {cfg.stack_c}; best, top-2 and top-3 mean "
                "sentence scores, counts of sentences above 0 and -0.5, a per-class offset) fitted on the inner "
                "out-of-fold report features, one probability threshold maximising per-document F1 on them."
                if cfg.stack else
                f"Report score = mean of the top-{cfg.top} sentence scores; per-class thresholds from the inner "
                f"out-of-fold scores, shrunk toward a global one (shrink {cfg.shrink}).")
    if weights is not None:
        decision += (" Blended with an ATT&CK procedure bank on the same classes (techniques/blend.py): combined = w x "
                     "z(report bank) + (1 - w) x z(procedure bank), w and the thresholds chosen on the inner "
                     f"out-of-fold scores (w per fold: {', '.join(str(w) for w in weights)}); each fold's procedure "
                     "texts overlap none of its test reports, nor (inner folds) any of the inner validation reports.")
    flags = " --no-blend" if args.no_blend else ""
    flags += f" --blend-mode {args.blend_mode}" if args.blend_mode != MODE else ""
    flags += " --tram1" if args.tram1 else ""
    flags += " --procedure-char" if args.procedure_char else ""
    text = f"""## ATT&CK technique extraction (issue 4), full benchmark{' (report bank alone)' if args.no_blend else ''}

Command: `.venv/bin/python bench/techniques.py --folds {args.folds}{flags} --out {path}` (run under `taskset -c 0`
for the speed figures; training may use `--jobs 2`, speed is measured per report on one thread).
Machine: {nproc} CPUs, {cpu}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.

Protocol: {args.folds}-fold cross-validation **by report** over the 120 TRAM2 reports (fold = report index mod
{args.folds}). In each fold the TF-IDF vocabulary, the weights and the per-class report thresholds ({cfg.folds}
inner folds over the training reports) come from the 96 training reports only; only TRAM2 report text is used for
training, so no sentence file can leak test-report text. Test reports go through the full run-time pipeline
(sentence splitting, negation/hypothetical filter, explicit ids); techniques inferred from named software are
excluded (TRAM annotates the text only). Predictions map to TRAM's 50 classes as SOURCE.md says; a class ATT&CK
has revoked since (T1574.002, merged into T1574.001 in v17) is scored by the technique that replaced it, which is
what the run-time pipeline reports.

Model: word 1-2-gram + char_wb 2-5 TF-IDF per sentence (neighbouring-sentence context weight {cfg.spec.context});
one-vs-rest linear ({cfg.kind}, C/alpha {cfg.c}, positive sentences weighted {cfg.pos_weight}, top {cfg.keep}
weights kept per class) averaged over {cfg.folds} inner fold models.
{decision}

| figure | value |
|---|---|
| **per-document F1 (mean over reports)** | **{r['doc_f1']:.3f}** |
| per-document F1 without explicit-id hits (model + negation only) | {r['doc_f1_no_explicit']:.3f} |
| micro F1 without explicit-id hits | {r['micro_f1_no_explicit']:.3f} |{stack_row}
| micro P / R / F1 (50 classes, report level) | {r['micro_p']:.3f} / {r['micro_r']:.3f} / {r['micro_f1']:.3f} |
| macro P / R / F1 (classes present) | {r['macro_p']:.3f} / {r['macro_r']:.3f} / {r['macro_f1']:.3f} |
| classes predicted / gold per report | {r['pred_per_report']:.1f} / {r['gold_per_report']:.1f} |
| sentence micro P / R / F1 (decision >= 0) | {r['sent_micro_p']:.3f} / {r['sent_micro_r']:.3f} / \
{r['sent_micro_f1']:.3f} |
| sentence level macro F1 | {r['sent_macro_f1']:.3f} |
| speed, one core, incl. sentence splitting | {r['sentences_per_s']:.0f} sentences/s |
| seconds per report (mean {words:.0f} words) | {r['s_per_report']:.3f} (max {r['s_per_report_max']:.3f}) |

Baseline from issue 4 (linear SVM, one global threshold): per-document F1 about 0.69.
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(("\n" if path.stat().st_size else "") + text if path.exists() else text)


if __name__ == "__main__":
    sys.exit(main())
