"""Knowledge-base load time and peak memory: cold (build the index) and warm (load the cached index).

Each measurement runs in a fresh Python process with its own empty cache folder, so nothing is shared between runs.
Usage: python bench/kb.py [--runs N]
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

PROBE = r"""
import json, resource, time
t0 = time.perf_counter()
from threadline.knowledge import load_kb
t1 = time.perf_counter()
kb = load_kb(progress=False)
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "techniques": len(kb.attack.techniques)}))
"""


def measure(cache: str) -> dict[str, float]:
    env = {**os.environ, "THREADLINE_CACHE": cache}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    cold, warm = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as cache:
            cold.append(measure(cache))      # empty cache: parse ATT&CK + galaxies, link, write the index
            warm.append(measure(cache))      # the index written just before
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; {args.runs} runs each, fresh process per run")
    for label, runs in (("cold (build index)", cold), ("warm (cached index)", warm)):
        loads = [r["load_s"] for r in runs]
        print(f"{label:22s} load median {statistics.median(loads):.3f} s (min {min(loads):.3f}, max "
              f"{max(loads):.3f}); import {statistics.median(r['import_s'] for r in runs):.3f} s; "
              f"peak RSS {max(r['peak_rss_mb'] for r in runs):.0f} MB")


if __name__ == "__main__":
    main()
