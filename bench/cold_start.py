"""Cold start of one report from the command line: `threadline analyze` on the bundled example, a fresh process
each time (wall time and peak resident memory of that process), median of several runs.

Usage: bench/cold_start.py [--runs 7] [--no-store] [--no-bytecode] [FILE]. The knowledge-base index is built once
before timing (the first run ever builds it, see README); the analysis is stored in a throwaway SQLite file (created
by the untimed first run), as a plain `threadline analyze` stores it, or not at all with --no-store. Also prints the
import time of the command's modules alone (`python -c "import threadline.cli"`) and the CPU time of each run.

Python's compiled bytecode is kept (PYTHONDONTWRITEBYTECODE is removed for the runs) as it is after `pip install`,
which compiles every module; an editable checkout under PYTHONDONTWRITEBYTECODE=1 (this sandbox sets it) compiles
Threadline's ~200 modules from source in every process instead, 0.15-0.2 s more (--no-bytecode measures that).
CPU time is what the wall time is on an idle core; on a loaded machine only CPU time means something.
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


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default=str(EXAMPLE))
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-store", action="store_true", help="do not store the analysis")
    parser.add_argument("--no-bytecode", action="store_true",
                        help="compile every module from source in each run (PYTHONDONTWRITEBYTECODE=1)")
    args = parser.parse_args()
    load_before = _load()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "THREADLINE_DB": str(Path(tmp) / "cold.db")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if args.no_bytecode:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
            env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "no-pycache")    # an empty cache: nothing compiled yet
        command = [*threadline(), "analyze", args.file, *(["--no-store"] if args.no_store else [])]
        run_once(command, env)      # builds the index cache if absent (and writes the bytecode); not counted
        walls, cpus, peaks = [], [], []
        for _ in range(args.runs):
            wall, cpu, peak = run_once(command, env)
            walls.append(wall)
            cpus.append(cpu)
            peaks.append(peak)
        imports = [run_once([sys.executable, "-c", "import threadline.cli"], env)[0] for _ in range(3)]
    print(f"command: threadline analyze {Path(args.file).name}{' --no-store' if args.no_store else ''} "
          f"({'no bytecode cache' if args.no_bytecode else 'bytecode cached, as installed'})")
    print(f"runs: {args.runs}, load average (1 min) before {load_before:.2f}, after {_load():.2f} on "
          f"{os.cpu_count()} CPUs (other processes slow the wall figures)")
    print(f"wall: median {statistics.median(walls):.2f} s (min {min(walls):.2f}, max {max(walls):.2f}); "
          f"target < {TARGET_S} s: {'met' if statistics.median(walls) < TARGET_S else 'NOT met'}")
    print(f"CPU (user + system): median {statistics.median(cpus):.2f} s (min {min(cpus):.2f}; what wall time is on "
          f"an idle core); target < {TARGET_S} s: {'met' if statistics.median(cpus) < TARGET_S else 'NOT met'}")
    print(f"peak RSS: median {statistics.median(peaks):.0f} MB (max {max(peaks):.0f})")
    print(f"`import threadline.cli` alone: median {statistics.median(imports):.2f} s")


if __name__ == "__main__":
    main()
