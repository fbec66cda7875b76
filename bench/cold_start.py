"""Cold start of one report from the command line: `threadline analyze` on the bundled example, a fresh process
each time (wall time and peak resident memory of that process), median of several runs.

Usage: bench/cold_start.py [--runs 7] [--no-store] [FILE]. The knowledge-base index is built once before timing
(the first run ever builds it, see README); the analysis is stored in a throwaway SQLite file (created by the
untimed first run), as a plain `threadline analyze` stores it, or not at all with --no-store. Also prints the
import time of the command's modules alone (`python -c "import threadline.cli"`) and the CPU time of each run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "operation-dianxun.md"
TARGET_S = 1.5


def threadline() -> list[str]:
    found = shutil.which("threadline", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-c", "from threadline.cli import main; main()"]


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds (user + system), peak RSS in MB) of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"cold_start: {' '.join(argv)} failed ({proc.returncode}): {err.strip()[:300]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024        # ru_maxrss: KB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default=str(EXAMPLE))
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-store", action="store_true", help="do not store the analysis")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "THREADLINE_DB": str(Path(tmp) / "cold.db")}
        command = [*threadline(), "analyze", args.file, *(["--no-store"] if args.no_store else [])]
        run_once(command, env)                      # builds the index cache if absent; not counted
        walls, cpus, peaks = [], [], []
        for _ in range(args.runs):
            wall, cpu, peak = run_once(command, env)
            walls.append(wall)
            cpus.append(cpu)
            peaks.append(peak)
        imports = [run_once([sys.executable, "-c", "import threadline.cli"], env)[0] for _ in range(3)]
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    print(f"command: threadline analyze {Path(args.file).name}{' --no-store' if args.no_store else ''}")
    print(f"runs: {args.runs}, load average at the end: {load:.2f} (other processes slow every figure)")
    print(f"wall: median {statistics.median(walls):.2f} s (min {min(walls):.2f}, max {max(walls):.2f}); "
          f"target < {TARGET_S} s: {'met' if statistics.median(walls) < TARGET_S else 'NOT met'}")
    print(f"CPU (user + system): median {statistics.median(cpus):.2f} s (what wall time is on an idle core)")
    print(f"peak RSS: median {statistics.median(peaks):.0f} MB (max {max(peaks):.0f})")
    print(f"`import threadline.cli` alone: median {statistics.median(imports):.2f} s")


if __name__ == "__main__":
    main()
