"""The attribution engine on real reports: does its independent view agree with the report's own attribution?

ATT&CK's leave-one-out cases (bench/attribution.py) hold curated observations; a real document yields what the
extractors find in it. Here the cases are the TRAM2 reports (../shared/data/tram: 120 vendor blogs and government
advisories, 2019-2023) that attribute their activity to exactly one ATT&CK group, as Threadline's claim extractor
reads them (strength "attributed" or "suspected"); that group is the label. The engine never sees the claims'
actors as evidence (they only sit beside its view), and each report is excluded from the knowledge base as
`analyze` excludes a document ATT&CK cites (same URL or title), so the report cannot confirm itself.

Observations are what `analyze` would give the engine: software, sectors, countries and dates from the entity
extractor, and techniques from `--predictions` (written by `bench/techniques.py --predictions FILE`: each report's
techniques from the model of the fold that did not train on it; the shipped model was trained on these reports,
so its own techniques would leak). Without the file the cases carry no techniques.

    .venv/bin/python bench/techniques.py --jobs 2 --predictions /tmp/tram-oof.jsonl   # (make bench does both)
    .venv/bin/python bench/attribution_real.py --predictions /tmp/tram-oof.jsonl [--list]

Caveats: 20 cases, so one case moves every share by 0.05; the labels are the extractor's reading of each report's
claims (the `--list` output shows them for checking). Results: bench/results/attribution-real.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from threadline.analysis import sources_citing
from threadline.attribute import attribute, observations_from_analysis
from threadline.extract.entities import extract_entities
from threadline.extract.sentences import split_sentences
from threadline.ingest.text import text_document
from threadline.knowledge.index import load_kb

TRAM = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tram" / "tram2-reports.jsonl.gz"
CLAIMING = ("attributed", "suspected")


def load_predictions(path: Path | None) -> dict[str, list[str]] | None:
    """Report id -> out-of-fold technique ids, from ``bench/techniques.py --predictions``."""
    if path is None:
        return None
    rows = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return {str(row["id"]): [str(t) for t in row["techniques"]] for row in rows}


def label_of(claims: list[dict[str, Any]]) -> str | None:
    """The one ATT&CK group the report attributes its activity to, if exactly one."""
    groups = {c["attack_id"] for c in claims if c.get("attack_id") and c.get("strength") in CLAIMING}
    return next(iter(groups)) if len(groups) == 1 else None


def run(path: Path, predictions: dict[str, list[str]] | None, show: bool) -> dict[str, float]:
    kb = load_kb(progress=False)
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    ranks: list[int | None] = []
    tops: list[tuple[float, bool]] = []
    unknowns: list[float] = []
    started = time.perf_counter()
    for row in rows:
        doc = text_document(row["text"].encode("utf-8"), str(row.get("url") or row["id"]))
        doc.title = row.get("title") or doc.title
        sentences = split_sentences(doc.text)
        found = extract_entities(doc.text, kb, sentences=sentences, document=doc)
        claims = [c.to_dict() for c in found.claims]
        answer = label_of(claims)
        if answer is None:
            continue
        analysis = {**found.to_dict(), "claims": claims,
                    "techniques": [{"id": t} for t in (predictions or {}).get(str(row["id"]), [])]}
        result = attribute(observations_from_analysis(analysis, kb), kb, exclude_sources=sources_citing(doc, kb))
        order = [c.attack_id for c in result.candidates]
        rank = order.index(answer) + 1 if answer in order else None
        ranks.append(rank)
        top = result.candidates[0] if result.candidates else None
        if top is not None:
            tops.append((top.probability, top.attack_id == answer))
        unknowns.append(result.unknown_probability)
        if show:
            name = kb.by_attack_id[answer].name if answer in kb.by_attack_id else answer
            best = f"{top.name} {top.probability:.0%}" if top else "none"
            print(f"{str(row['title'])[:58]:58} | label {name:22.22} | rank {rank or '-':>2} | top {best:28.28} | "
                  f"obs T{len(analysis['techniques'])} S{len(found.software)} | excluded "
                  f"{result.dropped_relationships}", flush=True)
    n = len(ranks)
    ranked = [r if r is not None else math.inf for r in ranks]     # not among the ten candidates shown
    figures = {
        "cases": float(n),
        "top1": sum(r == 1 for r in ranked) / n, "top3": sum(r <= 3 for r in ranked) / n,
        "top10": sum(r <= 10 for r in ranked) / n, "mrr": sum(1 / r for r in ranked) / n,
        "mean_top_probability": sum(p for p, _ in tops) / max(len(tops), 1),
        "top_correct_share": sum(ok for _, ok in tops) / max(len(tops), 1),
        "mean_unknown": sum(unknowns) / n,
        "seconds_per_case": (time.perf_counter() - started) / max(len(rows), 1),
    }
    # a rough interval: one case is 1/n of every share
    figures["top1_se"] = math.sqrt(figures["top1"] * (1 - figures["top1"]) / n)
    return figures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tram", type=Path, default=TRAM)
    ap.add_argument("--predictions", type=Path, default=None, help="out-of-fold techniques (bench/techniques.py)")
    ap.add_argument("--list", action="store_true", help="print every case: label, rank, top candidate")
    args = ap.parse_args(argv)
    if not args.tram.exists():
        print(f"{args.tram}: not found (the TRAM data is in ../shared/data/tram)", file=sys.stderr)
        return 2
    figures = run(args.tram, load_predictions(args.predictions), args.list)
    print(f"techniques: {'out-of-fold predictions' if args.predictions else 'none'}")
    for key, value in figures.items():
        print(f"{key:>22}: {value:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
