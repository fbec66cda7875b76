"""`threadline train techniques`: build the shipped technique models from TRAM2 reports and the ATT&CK bundle."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from threadline.extract.sentences import split_sentences
from threadline.extract.technique_model import SEED, save
from threadline.extract.technique_train import ReportConfig, load_tram, train_procedure_model, train_report_model
from threadline.extract.techniques import PROCEDURE_MODEL, REPORT_MODEL


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


def is_gate_holdout(index: int) -> bool:
    """The 20 reports (every sixth) the quality-gate model never sees; the gate test evaluates on them."""
    return index % 6 == 0


def build_gate_model(tram_dir: Path, out_dir: Path, *, jobs: int = 1,
                     log: Callable[[str], Any] = print) -> dict[str, Any]:
    """The report model trained on 100 reports only, for the test-suite quality gate."""
    reports, classes = load_tram(tram_dir)
    train = [r for i, r in enumerate(reports) if not is_gate_holdout(i)]
    held = [r.id for i, r in enumerate(reports) if is_gate_holdout(i)]
    cfg = ReportConfig(jobs=jobs)
    log(f"gate model: {len(train)} TRAM2 reports ({len(held)} held out)")
    feat, bank = train_report_model(train, classes, cfg, log)
    save(out_dir / GATE_DIR / REPORT_MODEL, feat, bank, {"seed": SEED, "holdout_ids": held})
    return {"files": [f"{GATE_DIR}/{REPORT_MODEL}{ext}" for ext in (".json.gz", ".npz")]}


def build_models(tram_dir: Path, out_dir: Path, *, jobs: int = 1, gate: bool = True,
                 log: Callable[[str], Any] = print) -> dict[str, Any]:
    """Train both banks (and the gate model) deterministically and write them to ``out_dir``."""
    from threadline.knowledge.index import active_bundle, load_kb

    reports, classes = load_tram(tram_dir)
    cfg = ReportConfig(jobs=jobs)
    log(f"report model: {len(reports)} TRAM2 reports, {len(classes)} classes")
    feat, bank = train_report_model(reports, classes, cfg, log)
    provenance = {
        "seed": SEED,
        "tram_reports": {"file": "tram2-reports.jsonl.gz", "sha256": _sha256(tram_dir / "tram2-reports.jsonl.gz"),
                         "count": len(reports)},
        "config": {"kind": cfg.kind, "c": cfg.c, "keep": cfg.keep, "top": cfg.top, "folds": cfg.folds,
                   "shrink": cfg.shrink, "context": cfg.spec.context, "pos_weight": cfg.pos_weight,
                   "stack": cfg.stack, "stack_c": cfg.stack_c},
    }
    save(out_dir / REPORT_MODEL, feat, bank, provenance)
    bundle = active_bundle()
    kb = load_kb(progress=False)
    log(f"procedure model: ATT&CK {kb.attack.version} procedure examples and technique descriptions")
    pfeat, pbank = train_procedure_model(kb, negative_sentences(tram_dir), jobs=jobs)
    save(out_dir / PROCEDURE_MODEL, pfeat, pbank,
         {"seed": SEED, "attack_bundle": {"file": bundle.name, "sha256": _sha256(bundle)},
          "negatives": "TRAM2 report sentences overlapping no annotated span", "labels": len(pbank.labels)})
    files = [f"{name}{ext}" for name in (REPORT_MODEL, PROCEDURE_MODEL) for ext in (".json.gz", ".npz")]
    if gate:
        files += build_gate_model(tram_dir, out_dir, jobs=jobs, log=log)["files"]
    return {"files": files, "report_labels": len(bank.labels), "procedure_labels": len(pbank.labels)}
