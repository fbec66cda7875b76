"""Benchmark briefings and the static site.

1. A briefing for a 10-page report (30,000 characters, 40 techniques, 60 indicators, 20 dated events, several
   actors and claims): build + render as Markdown and HTML, median of repeated runs (target: under a second).
2. `publish` of 1,000 briefings generated from the hand-written Diànxùn analysis, varied in actors, techniques,
   sectors, countries, dates and TLP (target: under a minute, briefings built from analyses included).

    .venv/bin/python bench/publish.py [--briefings 1000] [--out bench/results/publish.md]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from threadline.knowledge import load_kb
from threadline.knowledge.base import KnowledgeBase
from threadline.publish.brief import build_brief, render_brief
from threadline.publish.site import publish

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "data" / "publish" / "dianxun-analysis.json"
SECTORS = ["Telecommunications", "Government", "Energy", "Finance", "Healthcare", "Defense", "Education",
           "Manufacturing", "Retail", "Transport", "Academia - University", "Religion", "Media"]
COUNTRIES = [("US", "United States"), ("DE", "Germany"), ("JP", "Japan"), ("VN", "Viet Nam"), ("MM", "Myanmar"),
             ("HK", "Hong Kong"), ("FR", "France"), ("IN", "India"), ("BR", "Brazil"), ("UA", "Ukraine"),
             ("TW", "Taiwan"), ("GB", "United Kingdom"), ("KR", "Korea, Republic of")]


def sentence(rng: random.Random, n: int) -> str:
    words = ["the", "actor", "deployed", "a", "loader", "against", "staff", "of", "several", "operators",
             "using", "signed", "installers", "and", "scheduled", "tasks", "to", "persist", "on", "hosts"]
    return f"Observation {n}: " + " ".join(rng.choice(words) for _ in range(rng.randint(12, 24))) + "."


def ten_page_analysis(kb: KnowledgeBase, rng: random.Random) -> dict[str, Any]:
    """An analysis the size a 10-page report gives: every item's evidence points into a generated text."""
    sentences: list[str] = []
    offsets: list[int] = []
    pos = 0
    while pos < 30_000:
        s = sentence(rng, len(sentences))
        sentences.append(s)
        offsets.append(pos)
        pos += len(s) + 1

    def ev() -> list[dict[str, Any]]:
        i = rng.randrange(len(sentences))
        page = 1 + offsets[i] * 10 // pos
        return [{"text": sentences[i], "start": offsets[i], "end": offsets[i] + len(sentences[i]), "page": page}]

    techniques = rng.sample(sorted(t.attack_id for t in kb.attack.techniques.values()), 40)
    groups = rng.sample(sorted(g.attack_id for g in kb.attack.groups.values()), 3)
    a: dict[str, Any] = copy.deepcopy(json.loads(FIXTURE.read_text(encoding="utf-8")))
    a["actors"] = [{"attack_id": g, "name": kb.by_attack_id[g].name, "mentions": [], "role": role, "evidence": ev()}
                   for g, role in zip(groups, ("attributed", "named", "mentioned"), strict=True)]
    a["techniques"] = [{"id": t, "name": kb.by_attack_id[t].name, "tactics": [], "score": 0.7, "evidence": ev(),
                        "inferred": False} for t in techniques]
    a["iocs"] = [{"type": "domain", "value": f"c2-{i}.example-bad.net", "defanged": f"c2-{i}[.]example-bad[.]net",
                  "start": 0, "end": 1, "sentence": ev()[0]["text"], "warninglists": [], "flags": []}
                 for i in range(60)]
    a["dates"] = [{"date": f"2020-{m:02d}", "text": f"month {m}", "event": "activity", "evidence": ev()}
                  for m in range(1, 13)] + [{"date": f"2021-{m:02d}", "text": f"month {m}", "event": "activity",
                                             "evidence": ev()} for m in range(1, 9)]
    a["sectors"] = [{"name": s, "evidence": ev()} for s in SECTORS[:6]]
    a["claims"] = [{"actor": kb.by_attack_id[g].name, "attack_id": g, "strength": "suspected", "basis": ["TTPs"],
                    "caveats": ["limited visibility"], "evidence": ev()} for g in groups]
    a["attribution"]["candidates"] = [{"attack_id": g, "name": kb.by_attack_id[g].name, "probability": p,
                                       "evidence": {"shared": techniques[:5], "distinctive": [], "missing": []}}
                                      for g, p in zip(groups, (0.5, 0.2, 0.1), strict=True)]
    return a


def varied(kb: KnowledgeBase, n: int, rng: random.Random) -> list[dict[str, Any]]:
    """n analyses from the fixture, each with its own document, actor, techniques, targets, date and TLP."""
    base = json.loads(FIXTURE.read_text(encoding="utf-8"))
    groups = sorted(g.attack_id for g in kb.attack.groups.values())
    technique_ids = sorted(t.attack_id for t in kb.attack.techniques.values())
    out = []
    for i in range(n):
        a = copy.deepcopy(base)
        gid = rng.choice(groups)
        when = date(2018, 1, 1) + timedelta(days=rng.randrange(2500))
        a["document"].update(title=f"Report {i}: {kb.by_attack_id[gid].name} activity", sha256=f"{i:064x}",
                             published=when.isoformat())
        a["campaigns"][0].update(name=f"Operation {i:04d}", first_seen=when.strftime("%Y-%m"))
        a["actors"][0].update(attack_id=gid, name=kb.by_attack_id[gid].name, mentions=[])
        a["claims"][0].update(actor=kb.by_attack_id[gid].name, attack_id=gid)
        a["attribution"]["candidates"][0].update(attack_id=gid, name=kb.by_attack_id[gid].name)
        ev = a["techniques"][0]["evidence"]
        a["techniques"] = [{"id": t, "name": kb.by_attack_id[t].name, "tactics": [], "score": 0.6, "evidence": ev,
                            "inferred": False} for t in rng.sample(technique_ids, rng.randint(3, 15))]
        a["sectors"] = [{"name": s, "evidence": ev} for s in rng.sample(SECTORS, rng.randint(1, 3))]
        a["countries"] = [{"code": c, "name": nm, "evidence": ev} for c, nm in rng.sample(COUNTRIES, 2)]
        a["tlp"] = rng.choice(["clear", "clear", "green", "amber"])
        out.append(a)
    return out


def machine() -> str:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (nproc {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()}),"\
           f" {cpu}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--briefings", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None, help="write the results section (Markdown) here")
    args = parser.parse_args()
    rng = random.Random(6)
    started = time.perf_counter()
    kb = load_kb(progress=False)
    kb_seconds = time.perf_counter() - started

    big = ten_page_analysis(kb, rng)
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        brief = build_brief(big, kb)
        md, html = render_brief(brief, "md"), render_brief(brief, "html")
        times.append(time.perf_counter() - t0)
    brief_median = statistics.median(times)

    analyses = varied(kb, args.briefings, rng)
    with tempfile.TemporaryDirectory() as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        result = publish(analyses, Path(tmp) / "site", kb)
        site_seconds, site_cpu = time.perf_counter() - t0, time.process_time() - c0
        size = sum(p.stat().st_size for p in (Path(tmp) / "site").rglob("*") if p.is_file())

    lines = [
        "## Publish: briefings and the static site (issue 6)",
        "",
        f"Command: `.venv/bin/python bench/publish.py --briefings {args.briefings}`  ",
        f"Machine: {machine()}; Python {platform.python_version()}; "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}.",
        "",
        "| Measure | Figure | Target |",
        "|---|---|---|",
        f"| Knowledge base load (warm cache) | {kb_seconds:.2f} s | — |",
        f"| Brief for a 10-page report (30,000 chars, 40 techniques, 60 indicators, {len(brief.references)} "
        f"references): build + Markdown + HTML, median of {args.repeat} | {brief_median * 1000:.0f} ms "
        f"(md {len(md) // 1024} KiB, html {len(html) // 1024} KiB) | < 1 s |",
        f"| `publish` of {result['briefings']} briefings (built from analyses) | {site_seconds:.1f} s wall "
        f"({site_cpu:.1f} s CPU, one process), "
        f"{result['pages']} pages, {size / 1e6:.1f} MB | < 60 s |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    return 0 if brief_median < 1 and site_seconds < 60 else 1


if __name__ == "__main__":
    sys.exit(main())
