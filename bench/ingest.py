"""Ingestion speed and peak memory per format, each case in a fresh Python process.

Cases: the 50-page PDF of tests/data/ingest (ingest + store), the sample HTML page, the RSS feed, the STIX bundle,
the MISP event, a generated 1 MB HTML article and generated plain-text reports of 1, 10 and 50 MB (to show how
time and memory grow with the input).
Usage: python bench/ingest.py [--runs N] [--big-mb 1,10,50] [--html-mb 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "tests" / "data" / "ingest"

PROBE = r"""
import json, resource, sys, time
from threadline.ingest import ingest_into
from threadline.store import open_store
source, db = sys.argv[1], sys.argv[2]
store = open_store(db)
t0 = time.perf_counter()
outcome = ingest_into(store, source)
elapsed = time.perf_counter() - t0
docs = outcome.documents
print(json.dumps({"seconds": elapsed, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "documents": len(docs), "chars": sum(len(d.text) for d in docs),
                  "pages": sum(len(d.pages) for d in docs),
                  "objects": outcome.imported.total if outcome.imported else 0}))
"""

PARAGRAPH = ("On 14 March the operators sent spear-phishing e-mails from hr-notice@mailbox-secure[.]net; the "
             "loader then reached hxxps://update.lanternfish-cdn[.]com/api/v2/check and fell back to "
             "103.56.17[.]24:8443. The DLL version.dll had SHA-256 "
             "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.\n\n")


def big_text(folder: Path, megabytes: int) -> Path:
    path = folder / f"report-{megabytes}mb.txt"
    repeats = megabytes * 1024 * 1024 // len(PARAGRAPH.encode()) + 1
    with path.open("w", encoding="utf-8") as handle:
        for i in range(repeats):
            handle.write(f"{i}. {PARAGRAPH}")
    return path


def big_html(folder: Path, megabytes: int) -> Path:
    """A long article with a script block between paragraphs, as pages with inline trackers have."""
    path = folder / f"page-{megabytes}mb.html"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("<html><head><title>Lanternfish, the long read</title></head><body><article>")
        i = 0
        while handle.tell() < megabytes * 1024 * 1024:
            handle.write(f"<p>{i}. {PARAGRAPH.strip()}</p><script>track({i});</script>\n")
            i += 1
        handle.write("</article></body></html>")
    return path


def measure(source: Path, folder: Path, runs: int) -> dict[str, float]:
    results = []
    for run in range(runs):
        db = folder / f"bench-{source.name}-{run}.db"   # a fresh store each run: the first store is measured
        out = subprocess.run([sys.executable, "-c", PROBE, str(source), str(db)], capture_output=True, text=True,
                             check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        results.append(json.loads(out.stdout))
    best = {k: results[0][k] for k in ("documents", "chars", "pages", "objects")}
    best["seconds"] = statistics.median(r["seconds"] for r in results)
    best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in results)
    best["size_mb"] = source.stat().st_size / 1024 / 1024
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--big-mb", default="1,10,50")
    parser.add_argument("--html-mb", default="1")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="threadline-bench-") as tmp:
        folder = Path(tmp)
        cases = [("PDF, 50 pages", SAMPLES / "fifty_pages.pdf"), ("HTML page", SAMPLES / "advisory.html"),
                 ("RSS feed", SAMPLES / "harbour.rss"), ("STIX 2.1 bundle", SAMPLES / "lanternfish-stix.json"),
                 ("MISP event", SAMPLES / "lanternfish-misp.json")]
        cases += [(f"HTML, {mb} MB generated", big_html(folder, int(mb))) for mb in args.html_mb.split(",") if mb]
        cases += [(f"text, {mb} MB", big_text(folder, int(mb))) for mb in args.big_mb.split(",") if mb]
        print(f"# threadline ingest benchmark ({platform.python_version()}, {os.cpu_count()} CPUs, "
              f"median of {args.runs} runs, ingest + store in a fresh SQLite file)")
        print("| case | input MB | seconds | MB/s | peak RSS MB | documents | pages | chars | objects |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name, path in cases:
            r = measure(path, folder, args.runs)
            print(f"| {name} | {r['size_mb']:.2f} | {r['seconds']:.3f} | {r['size_mb'] / r['seconds']:.1f} | "
                  f"{r['peak_rss_mb']:.0f} | {r['documents']:.0f} | {r['pages']:.0f} | {r['chars']:.0f} | "
                  f"{r['objects']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
