"""Entity and claim extraction speed and yield; prints its figures.

- time to build the name automaton (once per process) and to extract from a ~5,000-word report with a warm
  knowledge base (median of several runs);
- on TRAM's 120 real reports (../shared/data/tram, when present): words per second, and what was found per report
  (actors, software, claims), so that a change in precision shows up as a change in yield.

Usage: python bench/entities.py [--repeat R] [--write bench/results/entities.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import platform
import statistics
import time
from pathlib import Path

from threadline.extract.entities import extract_entities
from threadline.extract.entities.lexicon import lexicon
from threadline.knowledge import load_kb

REPO = Path(__file__).resolve().parents[1]
TRAM = REPO / ".." / "shared" / "data" / "tram" / "tram2-reports.jsonl.gz"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--write", type=Path, help="also write the figures as a Markdown section")
    args = parser.parse_args()

    lines: list[str] = []

    def say(text: str) -> None:
        print(text)
        lines.append(text)

    started = time.perf_counter()
    kb = load_kb(progress=False)
    kb_s = time.perf_counter() - started
    started = time.perf_counter()
    lexicon(kb)
    lex_s = time.perf_counter() - started

    reports = [p.read_text(encoding="utf-8") for p in sorted((REPO / "tests" / "data" / "reports").glob("*.md"))]
    text = "\n\n".join(reports)
    while len(text.split()) < 5000:
        text += "\n\n" + "\n\n".join(reports)
    words = len(text.split())
    runs = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        extract_entities(text, kb)
        runs.append(time.perf_counter() - started)

    say(f"## Entities and claims (`python bench/entities.py`, {dt.date.today().isoformat()})")
    say("")
    say(f"Machine: {os.cpu_count()} CPUs, {_cpu()}, Python {platform.python_version()}")
    say("")
    say("| measure | value |")
    say("| --- | --- |")
    say(f"| knowledge base load (cache) | {kb_s:.2f} s |")
    say(f"| name automaton build (once per process) | {lex_s:.2f} s |")
    say(f"| extract_entities + claims, {words} words, warm (median of {args.repeat}) | "
        f"{statistics.median(runs) * 1000:.0f} ms |")

    if TRAM.is_file():
        with gzip.open(TRAM, "rt", encoding="utf-8") as handle:
            docs = [json.loads(line)["text"] for line in handle]
        total_words = sum(len(d.split()) for d in docs)
        found = {"actors": 0, "software": 0, "claims": 0, "attributed actors": 0}
        started = time.perf_counter()
        for doc in docs:
            entities = extract_entities(doc, kb)
            found["actors"] += len(entities.actors)
            found["software"] += len(entities.software)
            found["claims"] += len(entities.claims)
            found["attributed actors"] += sum(a.fields["role"] == "attributed" for a in entities.actors)
        elapsed = time.perf_counter() - started
        say(f"| TRAM reports: {len(docs)} documents, {total_words} words | {elapsed:.1f} s "
            f"({total_words / elapsed:,.0f} words/s) |")
        for name, count in found.items():
            say(f"| TRAM: {name} per report | {count / len(docs):.2f} |")
    else:
        say(f"| TRAM reports | skipped: {TRAM} not found |")
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
