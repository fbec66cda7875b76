"""ATT&CK technique extraction on real vendor reports: AnnoCTR dev (or train), document-level P/R/F1.

The shipped extractor runs exactly as `threadline techniques` and `analyze` run it (``extract_techniques(text,
kb=kb)``: sentence splitting, both models, explicit ids, software inference); its hits are then split by the
``inferred`` flag into techniques the text supports and techniques inferred from named software.

Gold per report (../shared/data/annoctr, SOURCE.md): the ATT&CK ids linked by TECHNIQUE mentions (explicit and
implicit), mapped through the knowledge base's revoked-by table (AnnoCTR's ids are from ATT&CK ~v10) to their v18.1
replacements. Left out, and counted in the output: TACTIC mentions (they link TA ids: a tactic is not a technique),
TECHNIQUE mentions linked to software (S ids) or to AnnoCTR's own graph, and ids that are no Enterprise technique
in the knowledge base (AnnoCTR links a few Mobile ids, which the extractor cannot give).

Scores: micro over documents (TP/FP/FN summed over reports) and macro (mean of per-report P/R/F1; an empty
prediction set has precision 0 when the report has gold, 1 when it has none; recall likewise for empty gold), at
the parent level (T1566.001 -> T1566 on both sides, deduplicated) and at the exact level; per tactic (a technique
counts under every tactic ATT&CK gives it, at the parent level). tests/quality/test_techniques_real_gate.py imports
this file for the same figures.

    .venv/bin/python bench/techniques_real.py [--split dev|train] [--markdown bench/results/techniques-real.md]
    .venv/bin/python bench/techniques_real.py --json
"""

from __future__ import annotations

import os

if __name__ == "__main__":     # one thread for the speed figure, as bench/techniques.py measures it
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import argparse
import gzip
import json
import platform
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from threadline.extract.techniques import TechniqueModel, extract_techniques
from threadline.knowledge.attack import Technique
from threadline.knowledge.base import KnowledgeBase
from threadline.knowledge.index import load_kb

ROOT = Path(__file__).resolve().parents[1]
ANNOCTR = ROOT / ".." / "shared" / "data" / "annoctr"
RESULTS = ROOT / "bench" / "results" / "techniques-real.md"
TECHNIQUE_ID = re.compile(r"T\d{4}(?:\.\d{3})?")
VIEWS = ("text", "all", "inferred")      # text evidence; everything the CLI prints; inferred from software alone
VIEW_NAMES = {"text": "text evidence (not inferred)", "all": "all (text + inferred, as in --json output)",
              "inferred": "inferred from software only"}
LEVELS = ("parent", "exact")


@dataclass(frozen=True)
class Report:
    """One AnnoCTR report and its gold technique ids (live v18.1 ids, exact level)."""

    id: str
    text: str
    gold: frozenset[str]

    @property
    def words(self) -> int:
        return len(self.text.split())


@dataclass(frozen=True)
class Prediction:
    """The extractor's techniques for one report, split by the hit's ``inferred`` flag (disjoint sets)."""

    text: frozenset[str]
    inferred: frozenset[str]
    cpu_seconds: float
    wall_seconds: float

    def view(self, name: str) -> frozenset[str]:
        return {"text": self.text, "inferred": self.inferred, "all": self.text | self.inferred}[name]


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    per_doc: list[tuple[float, float, float]] = field(default_factory=list)

    def add(self, pred: frozenset[str] | set[str], gold: frozenset[str] | set[str]) -> None:
        tp = len(pred & gold)
        self.tp, self.fp, self.fn = self.tp + tp, self.fp + len(pred - gold), self.fn + len(gold - pred)
        p = tp / len(pred) if pred else float(not gold)
        r = tp / len(gold) if gold else float(not pred)
        f = 2 * tp / (len(pred) + len(gold)) if pred or gold else 1.0
        self.per_doc.append((p, r, f))

    def scores(self) -> dict[str, float]:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        n = len(self.per_doc) or 1
        return {"micro_p": p, "micro_r": r, "micro_f1": 2 * p * r / (p + r) if p + r else 0.0,
                "macro_p": sum(d[0] for d in self.per_doc) / n, "macro_r": sum(d[1] for d in self.per_doc) / n,
                "macro_f1": sum(d[2] for d in self.per_doc) / n, "tp": self.tp, "fp": self.fp, "fn": self.fn}


def parent(tid: str) -> str:
    return tid.split(".")[0]


def parents(ids: frozenset[str]) -> frozenset[str]:
    return frozenset(parent(t) for t in ids)


def exact(ids: frozenset[str]) -> frozenset[str]:
    return ids


LIFT: dict[str, Callable[[frozenset[str]], frozenset[str]]] = {"parent": parents, "exact": exact}


def gold_of(entities: list[dict[str, Any]], kb: KnowledgeBase, dropped: Counter[str]) -> frozenset[str]:
    """Live ATT&CK technique ids linked by the report's TECHNIQUE mentions; what is left out is counted by reason."""
    gold = set()
    for ent in entities:
        link = str(ent.get("link") or "")
        if ent["label"] == "TACTIC":
            dropped["TACTIC mention (links a tactic, not a technique)"] += 1
        elif ent["label"] != "TECHNIQUE":
            continue
        elif ent.get("link_kb") != "attack" or not TECHNIQUE_ID.fullmatch(link):
            dropped[f"TECHNIQUE mention linked to {ent.get('link_kb') or 'nothing'} "
                    f"{'(software id)' if link.startswith('S') else '(not an ATT&CK technique id)'}"] += 1
        elif not isinstance(kb.by_attack_id.get(kb.current_technique_id(link)), Technique):
            dropped[f"TECHNIQUE mention linked to {link} (no Enterprise technique in ATT&CK v18.1)"] += 1
        else:
            if kb.current_technique_id(link) != link:
                dropped[f"(kept) {link} revoked, scored as {kb.current_technique_id(link)}"] += 1
            gold.add(kb.current_technique_id(link))
    return frozenset(gold)


def load_reports(path: Path, kb: KnowledgeBase, limit: int | None = None) -> tuple[list[Report], Counter[str]]:
    """The reports of one AnnoCTR split (``annoctr-<split>.jsonl.gz``), with the count of mentions left out."""
    dropped: Counter[str] = Counter()
    reports: list[Report] = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip() and (limit is None or len(reports) < limit):
                rec = json.loads(line)
                reports.append(Report(str(rec["id"]), str(rec["text"]), gold_of(rec["entities"], kb, dropped)))
    return reports, dropped


def predict(reports: list[Report], kb: KnowledgeBase,
            model: TechniqueModel[Any, Any] | None = None) -> list[Prediction]:
    """The shipped extractor (or ``model``) on each report, as the CLI calls it; the model loads before the clock
    starts."""
    extract_techniques("Warm-up: the actor sent spearphishing emails and used PowerShell.", kb=kb, model=model)
    out = []
    for report in reports:
        cpu, wall = time.process_time(), time.perf_counter()
        hits = extract_techniques(report.text, kb=kb, model=model)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        text = frozenset(kb.current_technique_id(h.id) for h in hits if not h.inferred)
        inferred = frozenset(kb.current_technique_id(h.id) for h in hits if h.inferred)
        out.append(Prediction(text, inferred, cpu, wall))
    return out


def technique_name(kb: KnowledgeBase, tid: str) -> str:
    obj = kb.by_attack_id.get(tid)
    if not isinstance(obj, Technique):
        return "?"
    up = kb.by_attack_id.get(obj.parent_id) if obj.is_subtechnique else None
    return f"{up.name}: {obj.name}" if up is not None else obj.name


def tactics_of(kb: KnowledgeBase, tid: str) -> tuple[str, ...]:
    obj = kb.by_attack_id.get(tid)
    return obj.tactics if isinstance(obj, Technique) else ()


def evaluate(reports: list[Report], preds: list[Prediction], kb: KnowledgeBase, top: int = 15) -> dict[str, Any]:
    """Every figure of the benchmark, as plain JSON-ready data."""
    levels = LIFT
    scores: dict[str, dict[str, dict[str, float]]] = {}
    for view in VIEWS:
        scores[view] = {}
        for level, lift in levels.items():
            counts = Counts()
            for report, pred in zip(reports, preds, strict=True):
                counts.add(lift(pred.view(view)), lift(report.gold))
            scores[view][level] = counts.scores()
    per_tactic: dict[str, dict[str, Counts]] = {}
    for report, pred in zip(reports, preds, strict=True):
        gold, seen = parents(report.gold), {v: parents(pred.view(v)) for v in ("text", "all")}
        for tactic in sorted({t for tid in gold | seen["all"] for t in tactics_of(kb, tid)}):
            def keep(ids: frozenset[str], tactic: str = tactic) -> set[str]:
                return {t for t in ids if tactic in tactics_of(kb, t)}
            for view in seen:
                per_tactic.setdefault(tactic, {}).setdefault(view, Counts()).add(keep(seen[view]), keep(gold))
    tactic_rows: list[dict[str, Any]] = [{"tactic": name, "gold": c["text"].tp + c["text"].fn,
                                          **{view: c[view].scores() for view in c}} for name, c in per_tactic.items()]
    tactic_rows.sort(key=lambda row: (-int(row["gold"]), str(row["tactic"])))
    errors: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for level, lift in levels.items():
        misses: Counter[str] = Counter()
        false: Counter[str] = Counter()
        false_inferred: Counter[str] = Counter()
        for report, pred in zip(reports, preds, strict=True):
            gold = lift(report.gold)
            misses.update(gold - lift(pred.text))
            false.update(lift(pred.text) - gold)
            false_inferred.update(lift(pred.inferred) - lift(pred.text) - gold)
        errors[level] = {key: [{"id": tid, "name": technique_name(kb, tid), "count": n}
                               for tid, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]
                         for key, counter in (("misses", misses), ("false_positives", false),
                                              ("inferred_false_positives", false_inferred))}
    words = sum(r.words for r in reports)
    return {
        "reports": len(reports), "words": words,
        "gold_per_report": {lv: sum(len(lift(r.gold)) for r in reports) / max(len(reports), 1)
                            for lv, lift in levels.items()},
        "predicted_per_report": {view: {lv: sum(len(lift(p.view(view))) for p in preds) / max(len(preds), 1)
                                        for lv, lift in levels.items()} for view in VIEWS},
        "scores": scores, "per_tactic": tactic_rows, "errors": errors,
        "cpu_s_per_5000_words": sum(p.cpu_seconds for p in preds) / max(words, 1) * 5000,
        "wall_s_per_5000_words": sum(p.wall_seconds for p in preds) / max(words, 1) * 5000,
    }


def run(split: str = "dev", kb: KnowledgeBase | None = None, limit: int | None = None,
        data: Path = ANNOCTR) -> dict[str, Any]:
    """Load, extract and score one split; the gate and the command line both come through here."""
    kb = kb or load_kb(progress=False)
    reports, dropped = load_reports(data / f"annoctr-{split}.jsonl.gz", kb, limit)
    result = evaluate(reports, predict(reports, kb), kb)
    result["split"], result["left_out"] = split, dict(sorted(dropped.items()))
    return result


def _row(label: str, s: dict[str, float]) -> str:
    return (f"| {label} | {s['micro_p']:.3f} | {s['micro_r']:.3f} | **{s['micro_f1']:.3f}** | {s['macro_p']:.3f} | "
            f"{s['macro_r']:.3f} | {s['macro_f1']:.3f} | {s['tp']} / {s['fp']} / {s['fn']} |")


def markdown(result: dict[str, Any], command: str) -> str:
    """The results section: scores, per tactic, top errors, speed, and what the gold leaves out."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## ATT&CK techniques on real reports: AnnoCTR {result['split']} (issue 14)", "",
        f"Command: `{command}`. Machine: {os.cpu_count()} CPUs shared with other jobs "
        f"({platform.processor() or platform.machine()}); {when}.", "",
        f"{result['reports']} reports, {result['words']:,} words; gold techniques per report: "
        f"{result['gold_per_report']['parent']:.1f} parent, {result['gold_per_report']['exact']:.1f} exact. "
        "Protocol and gold: see the docstring of bench/techniques_real.py (TECHNIQUE-linked ids only, mapped "
        "to ATT&CK v18.1). Micro: TP/FP/FN summed over reports; macro: mean of per-report figures.", "",
        "| view, level | micro P | micro R | micro F1 | macro P | macro R | macro F1 | TP / FP / FN |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for view in VIEWS:
        for level in LEVELS:
            per = result["predicted_per_report"][view][level]
            lines.append(_row(f"{VIEW_NAMES[view]}, {level} ({per:.1f} per report)", result["scores"][view][level]))
    lines += ["", "Per tactic, parent level, micro (text evidence | all):", "",
              "| tactic | gold | P | R | F1 | P (all) | R (all) | F1 (all) |", "|---|---|---|---|---|---|---|---|"]
    for row in result["per_tactic"]:
        t, a = row["text"], row["all"]
        lines.append(f"| {row['tactic']} | {row['gold']} | {t['micro_p']:.2f} | {t['micro_r']:.2f} | "
                     f"{t['micro_f1']:.2f} | {a['micro_p']:.2f} | {a['micro_r']:.2f} | {a['micro_f1']:.2f} |")
    titles = {"misses": "Most frequent misses (gold, not found with text evidence)",
              "false_positives": "Most frequent false positives (text evidence)",
              "inferred_false_positives": "Most frequent false positives inferred from software"}
    for level in LEVELS:
        for key, title in titles.items():
            rows = result["errors"][level][key]
            lines += ["", f"{title}, {level} level (reports):", ""]
            lines += [", ".join(f"{e['id']} {e['name']} ({e['count']})" for e in rows) or "none"]
    lines += ["", f"Speed, the full extractor as the CLI runs it (sentence splitting included, model loaded once): "
              f"{result['cpu_s_per_5000_words']:.3f} CPU s per 5,000 words "
              f"({result['wall_s_per_5000_words']:.3f} s wall).", "",
              "Left out of the gold (mentions): " + "; ".join(f"{k}: {v}" for k, v in result["left_out"].items())]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    """Put the generated section into `path`, keeping every other section.

    The results file also carries hand-written history (what each session tried and measured); rewriting the whole
    file used to erase it. The generated section is found by its heading line and replaced up to the next `## `
    heading; a file without it gets the section appended.
    """
    heading = section.splitlines()[0]
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    lines = old.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip("\n") == heading), None)
    if start is None:
        text = old + ("\n" if old and not old.endswith("\n\n") else "") + section
    else:
        end = next((j for j in range(start + 1, len(lines)) if lines[j].startswith("## ")), len(lines))
        tail = "".join(lines[end:])
        text = "".join(lines[:start]) + section + ("\n" + tail if tail else "")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def table(result: dict[str, Any]) -> str:
    """A plain-text summary for the terminal."""
    out = [f"AnnoCTR {result['split']}: {result['reports']} reports, {result['words']:,} words",
           f"{'view':<12} {'level':<7} {'P':>6} {'R':>6} {'F1':>6}   macro P/R/F1        TP/FP/FN"]
    for view in VIEWS:
        for level in LEVELS:
            s = result["scores"][view][level]
            out.append(f"{view:<12} {level:<7} {s['micro_p']:6.3f} {s['micro_r']:6.3f} {s['micro_f1']:6.3f}   "
                       f"{s['macro_p']:.3f}/{s['macro_r']:.3f}/{s['macro_f1']:.3f}   "
                       f"{s['tp']}/{s['fp']}/{s['fn']}")
    out.append("per tactic (parent, text evidence): tactic gold P R F1")
    for row in result["per_tactic"]:
        t = row["text"]
        out.append(f"  {row['tactic']:<22} {row['gold']:>3} {t['micro_p']:.2f} {t['micro_r']:.2f} {t['micro_f1']:.2f}")
    for key in ("misses", "false_positives", "inferred_false_positives"):
        rows = result["errors"]["parent"][key][:10]
        out.append(f"top {key} (parent): " + ", ".join(f"{e['id']} {e['name']} ({e['count']})" for e in rows))
    out.append(f"speed: {result['cpu_s_per_5000_words']:.3f} CPU s per 5,000 words")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--split", choices=("dev", "train"), default="dev")
    ap.add_argument("--data", type=Path, default=ANNOCTR, help="the AnnoCTR folder (annoctr-<split>.jsonl.gz)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N reports")
    ap.add_argument("--markdown", type=Path, default=None, metavar="FILE",
                    help=f"write the results section here (e.g. {RESULTS.relative_to(ROOT)})")
    ap.add_argument("--json", action="store_true", help="print every figure as JSON")
    args = ap.parse_args()
    path = args.data / f"annoctr-{args.split}.jsonl.gz"
    if not path.is_file():
        print(f"AnnoCTR data not found: {path} (development data, not shipped with the package)", file=sys.stderr)
        return 1
    result = run(args.split, limit=args.limit, data=args.data)
    if args.markdown:
        command = " ".join([".venv/bin/python bench/techniques_real.py", *sys.argv[1:]])
        write_section(args.markdown, markdown(result, command))
    print(json.dumps(result, indent=1) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
