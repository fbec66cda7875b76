"""Coverage-guided fuzzing of every parser of untrusted input (the atheris harnesses in fuzz/), N seconds each.

Each target starts from its seed inputs (real documents of its kind, see fuzz/harness.py) in a corpus folder of
its own under --out, so a later run goes on from where this one stopped. Per target it prints the executions,
executions per second, the corpus size (inputs and bytes) and whether it crashed; a crash, a slow input (over
--timeout seconds) or one over --rss-mb is written to OUT/artifacts/ for tests/data/fuzz/. Exit status 1 when any
target crashed.

    .venv/bin/python bench/fuzz.py --seconds 600 [--targets pdf html] [--out /tmp/threadline-fuzz]
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.fuzz.seeds import SEEDS, seed_inputs  # noqa: E402  (run as a script, from any folder)

_CORPUS = re.compile(r"corp: (\d+)/(\d+)([bKM]?b)")
_STAT = re.compile(r"stat::(\w+):\s+(\d+)")
_UNITS = {"b": 1, "Kb": 1024, "Mb": 1024 * 1024}


@dataclass(slots=True)
class Result:
    target: str
    seconds: float
    executions: int
    corpus_inputs: int
    corpus_bytes: int
    crashed: bool
    artifact: str | None

    @property
    def per_second(self) -> float:
        return self.executions / self.seconds if self.seconds else 0.0


def run_target(name: str, seconds: float, out: Path, *, timeout: int = 10, rss_mb: int = 2048) -> Result:
    """Fuzz one target for ``seconds`` (plus its start-up); the libFuzzer log is kept in OUT/logs/."""
    corpus = out / "corpus" / name
    corpus.mkdir(parents=True, exist_ok=True)
    for seed in seed_inputs(name):
        (corpus / f"seed-{hashlib.sha1(seed).hexdigest()[:16]}").write_bytes(seed)
    artifacts = out / "artifacts"
    logs = out / "logs"
    artifacts.mkdir(exist_ok=True)
    logs.mkdir(exist_ok=True)
    before = set(artifacts.iterdir())
    command = [sys.executable, str(ROOT / "fuzz" / f"fuzz_{name}.py"), f"-max_total_time={max(1, int(seconds))}",
               f"-timeout={timeout}", f"-rss_limit_mb={rss_mb}", "-print_final_stats=1",
               f"-artifact_prefix={artifacts}/{name}-", str(corpus)]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, errors="replace", cwd=out,
                          timeout=seconds + 600)
    elapsed = time.monotonic() - started
    log = done.stderr + done.stdout
    (logs / f"{name}.log").write_text(log)
    stats = {key: int(value) for key, value in _STAT.findall(log)}
    corpora = _CORPUS.findall(log)
    inputs, size = (int(corpora[-1][0]), int(corpora[-1][1]) * _UNITS[corpora[-1][2]]) if corpora else (0, 0)
    fuzzed = stats.get("number_of_executed_units", 0)
    # libFuzzer also keeps inputs slower than 10 s as slow-unit-*: a finding to look at (usually the machine's load),
    # not a crash; crashes, timeouts past --timeout and memory past --rss-mb are.
    # Only this target's artifacts: runs of other targets may share the folder at the same time.
    new = sorted(p for p in set(artifacts.iterdir()) - before
                 if p.name.startswith(f"{name}-") and not p.name.startswith(f"{name}-slow-unit-"))
    # Start-up (imports, the knowledge base, the seeds) is not fuzzing time: executions per second are over the
    # fuzzing time libFuzzer reports, else over the wall time.
    fuzz_seconds = float(seconds) if done.returncode == 0 else max(1.0, elapsed)
    return Result(name, fuzz_seconds, fuzzed, inputs, size, done.returncode != 0 or bool(new),
                  str(new[0]) if new else None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="fuzzing time per target (default 60)")
    parser.add_argument("--targets", nargs="+", choices=sorted(SEEDS), default=sorted(SEEDS))
    parser.add_argument("--out", type=Path, default=Path("/tmp/threadline-fuzz"), help="corpora, logs, crashes")
    parser.add_argument("--timeout", type=int, default=10, help="seconds one input may take (default 10)")
    parser.add_argument("--rss-mb", type=int, default=2048, help="memory limit of a harness (default 2048)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{'target':<13} {'seconds':>7} {'executions':>10} {'exec/s':>8} {'corpus':>7} {'bytes':>9}  result")
    crashed = False
    for name in args.targets:
        r = run_target(name, args.seconds, args.out, timeout=args.timeout, rss_mb=args.rss_mb)
        crashed |= r.crashed
        outcome = f"CRASH {r.artifact or '(see ' + str(args.out / 'logs' / (name + '.log')) + ')'}" if r.crashed \
            else "no crash"
        print(f"{name:<13} {r.seconds:>7.0f} {r.executions:>10} {r.per_second:>8.0f} {r.corpus_inputs:>7} "
              f"{r.corpus_bytes:>9}  {outcome}", flush=True)
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
