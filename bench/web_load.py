"""Loopback load test of the web app: listing and briefing pages with 10,000 briefings in the store.

The store is filled with real analyses: a few reports (the example report and the test reports) are analysed by the
current code, then each is stored again and again as a distinct document (its text with a numbered line added, so
that its SHA-256 differs; dates spread over ten years, TLP levels mixed), through the same ``save_analysis`` the
CLI uses. `threadline serve` then runs in its own process on 127.0.0.1, and one client asks, one request at a
time, for listing pages (plain, paged, filtered, searched) and briefing pages. Latency is measured at the client;
the run is bounded by ``--count`` and ``--seconds``.

Targets (issue 16): listing p95 under 100 ms, briefing p95 under 150 ms.

    .venv/bin/python bench/web_load.py [--briefings 10000] [--requests 300] [--seconds 120] [--db PATH]
"""

from __future__ import annotations

import argparse
import copy
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
SOURCES = [REPO / "examples" / "operation-dianxun.md", *sorted((REPO / "tests" / "data" / "reports").glob("*.md")),
           REPO / "tests" / "data" / "web" / "red-report.md", REPO / "tests" / "data" / "web" / "amber-report.md"]
LEVELS = ("clear", "clear", "clear", "green", "amber", "red")


def build(db: Path, count: int, seconds: float) -> int:
    """Fill the store with ``count`` briefings (fewer if ``seconds`` run out); returns how many it holds."""
    from threadline.analysis import analyze_document
    from threadline.ingest import ingest
    from threadline.knowledge import load_kb
    from threadline.model import Document
    from threadline.store import open_store
    from threadline.store.analyses import save_analysis

    kb = load_kb(progress=False)
    bases = []
    for path in SOURCES:
        doc = ingest(str(path))[0]
        bases.append((doc, analyze_document(doc, kb)))
    rng = random.Random(16)
    started = time.monotonic()
    with open_store(db) as store:
        have = store.count_documents()
        for n in range(have, count):
            if time.monotonic() - started > seconds:
                print(f"build stopped by --seconds after {n} briefings", file=sys.stderr)
                return n
            doc, analysis = bases[n % len(bases)]
            text = f"{doc.text}\n\nCopy {n} of this report for the load test.\n"
            level = LEVELS[rng.randrange(len(LEVELS))]
            day = f"{2015 + rng.randrange(10)}-{1 + rng.randrange(12):02d}-{1 + rng.randrange(28):02d}"
            copy_doc = Document(text=text, source=f"{doc.source}#copy-{n}", title=f"{doc.title} (copy {n})",
                                published=day, metadata={"tlp": level})
            store.save_document(copy_doc)
            data = copy.deepcopy(analysis)
            data["document"].update(sha256=copy_doc.sha256, title=copy_doc.title, published=day, tlp=level,
                                    source=copy_doc.source)
            save_analysis(store, data)
            if n and n % 1000 == 0:
                print(f"  {n} briefings stored ({time.monotonic() - started:.0f} s)", file=sys.stderr)
        return count


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(db: Path, requests: int, seconds: float) -> dict[str, list[float]]:
    port = _free_port()
    env = {**os.environ, "THREADLINE_DB": str(db), "THREADLINE_WEB_SECRET": "bench"}
    server = subprocess.Popen([str(Path(sys.executable).parent / "threadline"), "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    timings: dict[str, list[float]] = {"listing": [], "listing filtered": [], "search": [], "briefing": [],
                                       "actor or technique page": []}
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(300):
                try:
                    client.get("/.json?size=1")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            ids = [r["id"] for p in range(1, 6) for r in client.get(f"/.json?page={p}&size=100").json()["rows"]]
            client.get(f"/reports/{ids[0]}")          # loads the knowledge base once, as the first reader would
            rng = random.Random(16)
            kinds: list[tuple[str, Callable[[], str]]] = [("listing", lambda: f"/?page={rng.randrange(1, 200)}"),
                     ("listing filtered", lambda: rng.choice(["/?actor=G0129", "/?technique=T1566", "/?tlp=green",
                                                              "/?country=US&page=2"])),
                     ("search", lambda: rng.choice(["/?q=huawei", "/?q=volt typhoon", "/?q=plugx loader"])),
                     ("briefing", lambda: f"/reports/{rng.choice(ids)}"),
                     ("actor or technique page", lambda: rng.choice(["/actors/G0129", "/actors/G0096",
                                                                    "/techniques/T1566", "/techniques/T1059"]))]
            started = time.monotonic()
            for n in range(requests):
                if time.monotonic() - started > seconds:
                    break
                name, path = kinds[n % len(kinds)]
                t0 = time.perf_counter()
                response = client.get(path())
                timings[name].append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200, (path, response.status_code)
    finally:
        server.terminate()
        server.wait(timeout=20)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--briefings", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=500, help="in all, shared by the five kinds of page")
    parser.add_argument("--seconds", type=float, default=900.0, help="bound on building and on measuring, each")
    parser.add_argument("--db", type=Path, default=None, help="reuse (and top up) this SQLite file")
    args = parser.parse_args()
    db = args.db or Path(tempfile.mkdtemp(prefix="threadline-web-load-")) / "load.db"
    stored = build(db, args.briefings, args.seconds)
    timings = measure(db, args.requests, args.seconds)
    print(f"web load test: {stored} briefings in {db}, one client on loopback, latency at the client (ms)")
    print("| page | requests | p50 | p95 | max | target |")
    print("|---|---|---|---|---|---|")
    targets: dict[str, int | None] = {"listing": 100, "listing filtered": 100, "search": 100, "briefing": 150,
                                      "actor or technique page": None}
    for name, values in timings.items():
        if values:
            p95 = _percentile(values, 0.95)
            target = targets[name]
            verdict = "none (whole-store counts, every report paged)" if target is None else \
                f"< {target} {'met' if p95 < target else 'MISSED'}"
            print(f"| {name} | {len(values)} | {statistics.median(values):.1f} | {p95:.1f} | {max(values):.1f} | "
                  f"{verdict} |")


if __name__ == "__main__":
    main()
