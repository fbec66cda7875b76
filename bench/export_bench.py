"""Export speed: each format on a real report's analysis, scaled up to a large report's size; prints its figures.

Usage: python bench/export_bench.py [--iocs N] [--techniques N] [--repeat R]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path
from typing import Any

from threadline.export import FORMATS, export
from threadline.knowledge import load_kb

REPORT = Path(__file__).resolve().parents[1] / "tests" / "data" / "reports" / "silent-heron.html"


def report_analysis() -> dict[str, Any]:
    """The current code's analysis of the SILENT HERON report (analysis fixtures are never hand-written)."""
    from threadline.analysis import analyze_document
    from threadline.ingest import ingest

    return analyze_document(ingest(str(REPORT))[0], load_kb(progress=False))


def scaled(iocs: int, techniques: int) -> dict[str, Any]:
    """The fixture with N distinct indicators (domains, IPs, hashes, URLs in turn) and M technique hits."""
    base = report_analysis()
    out = copy.deepcopy(base)
    sentence = base["iocs"][2]["sentence"]
    made: list[dict[str, Any]] = []
    for n in range(iocs):
        kind = ("domain", "ipv4", "sha256", "url")[n % 4]
        value = {"domain": f"relay-{n}.example-c2.net", "ipv4": f"198.51.{n // 250 % 250}.{n % 250 + 1}",
                 "sha256": f"{n:064x}", "url": f"http://relay-{n}.example-c2.net/p/{n}.php"}[kind]
        defanged = value.replace(".", "[.]").replace("http", "hxxp") if kind != "sha256" else value
        made.append({"type": kind, "value": value, "defanged": defanged, "start": 0, "end": 1,
                     "sentence": sentence, "warninglists": [], "flags": ["warninglist"] if n % 10 == 0 else []})
    out["iocs"] = made
    techs = base["techniques"]
    out["techniques"] = [{**techs[n % len(techs)], "id": f"T1{n:03d}"} for n in range(techniques)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iocs", type=int, default=1000)
    parser.add_argument("--techniques", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    kb = load_kb()
    small = report_analysis()
    large = scaled(args.iocs, args.techniques)
    print(f"analysis sizes: small = {len(small['iocs'])} indicators, {len(small['techniques'])} techniques; "
          f"large = {args.iocs} indicators, {args.techniques} techniques; median of {args.repeat} runs")
    print(f"{'format':<10} {'small (ms)':>11} {'large (ms)':>11} {'large output (KB)':>18}")
    for name in FORMATS:
        export(small, name, kb)          # warm-up: imports the format's library once
        figures = []
        for data in (small, large):
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                text = export(data, name, kb)
                times.append(time.perf_counter() - start)
            figures.append(statistics.median(times) * 1000)
        print(f"{name:<10} {figures[0]:>11.1f} {figures[1]:>11.1f} {len(text.encode()) / 1024:>18.0f}")
    from stix2validator import ValidationOptions, validate_string

    text = export(large, "stix", kb)
    start = time.perf_counter()
    result = validate_string(text, ValidationOptions(version="2.1"))
    print(f"stix2-validator on the large bundle: {time.perf_counter() - start:.2f} s, valid={result.is_valid}")


if __name__ == "__main__":
    main()
