"""Time and peak memory of `threadline analyze` and `threadline iocs` as the input grows, and on hostile inputs.

Report text of 1, 2, 4, 8 and 16 MB is built by concatenating the TRAM2 reports the package ships (blank lines
between them, repeated as often as needed). Each size goes through the real command, `threadline analyze FILE`
(stored in a fresh database), in its own process: wall time, CPU time and peak resident memory come from the
operating system (wait4). A second process runs the same analysis in-process and times each stage on the CPU
(sentence split, entities, claims, dates, techniques, indicators, attribution), after a warm-up that loads the
knowledge base and the models. The hostile inputs of issue 13 (``x@`` + ``a.`` x 250,000, ``HKLM\\`` x 150,000,
``hxxp://`` x 100,000) go through `threadline iocs FILE`. CPU time is the figure to compare: the machine is shared
and wall time follows its load.

    .venv/bin/python bench/input_scale.py [--quick] [--sizes 1 2 4 8 16] [--markdown bench/results/input-scale.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TRAM = ROOT / "src" / "threadline" / "data" / "tram" / "tram2-reports.jsonl.gz"
THREADLINE = Path(sys.executable).with_name("threadline")
MB = 1_000_000
HOSTILE: dict[str, tuple[str, str, int]] = {     # name -> (prefix, repeated unit, repetitions)
    "x@ + a. x 250,000": ("x@", "a.", 250_000),
    "HKLM\\ x 150,000": ("", "HKLM\\", 150_000),
    "hxxp:// x 100,000": ("", "hxxp://", 100_000),
}
# Stages timed inside analyze_document: (module, attribute) patched with a CPU timer. Nested stages (claims and
# dates run inside entities) are subtracted from the stage that calls them.
STAGES: dict[str, tuple[str, str]] = {
    "sentences": ("threadline.extract.sentences", "split_sentences"),
    "entities": ("threadline.extract.entities", "extract_entities"),
    "claims": ("threadline.extract.entities.extractor", "extract_claims"),
    "dates": ("threadline.extract.entities.extractor", "find_dates"),
    "techniques": ("threadline.extract.techniques", "extract_techniques"),
    "iocs": ("threadline.extract.iocs", "document_iocs"),
    "observations": ("threadline.attribute", "observations_from_analysis"),
    "attribution": ("threadline.attribute", "attribute"),
}


@dataclass(slots=True)
class Run:
    """One process as the operating system saw it."""

    wall: float
    cpu: float
    peak_mb: float
    status: int
    output: str


def report_text(size: int) -> str:
    """``size`` bytes (UTF-8) of report text: the shipped TRAM2 reports, one after the other, as often as needed."""
    with gzip.open(TRAM, "rt", encoding="utf-8") as fh:
        texts = [str(json.loads(line)["text"]).strip() for line in fh if line.strip()]
    parts: list[str] = []
    total, i = 0, 0
    while total < size:
        parts.append(texts[i % len(texts)])
        total += len(parts[-1].encode("utf-8")) + 2
        i += 1
    return "\n\n".join(parts).encode("utf-8")[:size].decode("utf-8", "ignore")


def run(command: list[str], limit_mb: int, env: dict[str, str] | None = None) -> Run:
    """Run a command under an address-space limit; its wall time, CPU time and peak RSS (wait4)."""
    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit_mb * 2**20, limit_mb * 2**20))

    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, preexec_fn=limit, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        out.seek(0)
        output = out.read().decode("utf-8", "replace")
    peak = usage.ru_maxrss / 1024 if sys.platform != "darwin" else usage.ru_maxrss / 2**20
    return Run(wall, usage.ru_utime + usage.ru_stime, peak, proc.returncode, output)


# --- the in-process stage timer (run in a child: --stages FILE) ---------------------------------------------------

def stage_times(path: Path) -> dict[str, float]:
    """CPU seconds of each stage of one analysis of ``path`` (exclusive of nested stages), plus the total."""
    import importlib

    from threadline.analysis import analyze_document
    from threadline.ingest import ingest
    from threadline.knowledge import load_kb
    from threadline.model import Document

    kb = load_kb(progress=False)
    analyze_document(Document(text="Warm-up: APT28 sent spearphishing mail from evil[.]com.", source="warm-up"), kb)
    spent: dict[str, float] = dict.fromkeys(STAGES, 0.0)
    stack: list[float] = []        # CPU time spent in nested stages, per open stage

    def timed(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            stack.append(0.0)
            start = time.process_time()
            try:
                return func(*args, **kwargs)
            finally:
                took = time.process_time() - start
                nested = stack.pop()
                spent[name] += took - nested
                if stack:
                    stack[-1] += took
        return wrapper

    for name, (module_name, attribute) in STAGES.items():
        module = importlib.import_module(module_name)
        setattr(module, attribute, timed(name, getattr(module, attribute)))
    start = time.process_time()
    document = ingest(str(path))[0]
    spent["ingest"] = time.process_time() - start
    start = time.process_time()
    analyze_document(document, kb)
    spent["analysis"] = time.process_time() - start
    return spent


# --- the benchmark ------------------------------------------------------------------------------------------------

def measure_sizes(sizes: list[float], folder: Path, limit_mb: int) -> list[dict[str, Any]]:
    rows = []
    for mb in sizes:
        path = folder / f"report-{mb:g}MB.txt"
        path.write_text(report_text(int(mb * MB)), encoding="utf-8")
        db = folder / f"db-{mb:g}.sqlite"
        env = {**os.environ, "COLUMNS": "100"}
        cli = run([str(THREADLINE), "analyze", "--db", str(db), str(path)], limit_mb, env)
        if cli.status != 0:
            raise SystemExit(f"threadline analyze on {mb:g} MB failed ({cli.status}): {cli.output[-500:]}")
        inner = run([sys.executable, __file__, "--stages", str(path)], limit_mb)
        if inner.status != 0:
            raise SystemExit(f"stage timing on {mb:g} MB failed ({inner.status}): {inner.output[-500:]}")
        stages = json.loads(inner.output.strip().splitlines()[-1])
        rows.append({"mb": mb, "wall": cli.wall, "cpu": cli.cpu, "peak_mb": cli.peak_mb, "stages": stages})
        print(f"  analyze {mb:g} MB: {cli.wall:.1f} s wall, {cli.cpu:.1f} s CPU ({cli.cpu / mb:.1f} s/MB), "
              f"peak {cli.peak_mb:.0f} MB", file=sys.stderr, flush=True)
        path.unlink()
        db.unlink(missing_ok=True)
    return rows


def measure_hostile(scale: float, folder: Path, limit_mb: int) -> list[dict[str, Any]]:
    rows = []
    for name, (prefix, unit, count) in HOSTILE.items():
        n = int(count * scale)
        path = folder / "hostile.txt"
        path.write_text(prefix + unit * n, encoding="utf-8")
        cli = run([str(THREADLINE), "iocs", str(path)], limit_mb, {**os.environ, "COLUMNS": "100"})
        label = name if scale == 1 else f"{name.split(' x ')[0]} x {n:,}"
        rows.append({"input": label, "kb": path.stat().st_size / 1000, "wall": cli.wall, "cpu": cli.cpu,
                     "peak_mb": cli.peak_mb, "status": cli.status})
        print(f"  iocs {label}: {cli.wall:.2f} s wall, {cli.cpu:.2f} s CPU, peak {cli.peak_mb:.0f} MB, "
              f"exit {cli.status}", file=sys.stderr, flush=True)
        path.unlink()
    return rows


def render(sizes: list[dict[str, Any]], hostile: list[dict[str, Any]], command: str) -> str:
    cpu = os.cpu_count()
    lines = [
        "## Input scale (`bench/input_scale.py`)", "",
        f"Command: `{command}`  ",
        f"Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC  ",
        f"Machine: {cpu} cores, {platform.processor() or platform.machine()}, Python {platform.python_version()}; "
        "shared with other jobs, so compare CPU time (wall time follows the load)  ",
        "Input: the shipped TRAM2 reports concatenated (blank lines between them, repeated as needed)", "",
        "### `threadline analyze FILE` (stored in a fresh database)", "",
        "| size | wall s | CPU s | CPU s per MB | CPU s per MB added (from the size above) | peak MB |",
        "|---|---|---|---|---|---|",
    ]
    previous: dict[str, Any] | None = None
    for row in sizes:
        added = (f"{(row['cpu'] - previous['cpu']) / (row['mb'] - previous['mb']):.2f}"
                 if previous is not None and row["mb"] > previous["mb"] else "")
        lines.append(f"| {row['mb']:g} MB | {row['wall']:.1f} | {row['cpu']:.1f} | {row['cpu'] / row['mb']:.2f} | "
                     f"{added} | {row['peak_mb']:.0f} |")
        previous = row
    lines += ["", "CPU s per MB falls with size because start-up (reading the knowledge base and the models, about "
              "3 s) is paid once; the added cost per MB is the figure that must stay flat."]
    names = [*STAGES, "ingest"]
    lines += ["", "### CPU seconds per stage (in-process, after loading the knowledge base and models)", "",
              "| size | " + " | ".join(names) + " | analysis | analysis s per MB |",
              "|---|" + "---|" * (len(names) + 2)]
    for row in sizes:
        st = row["stages"]
        lines.append(f"| {row['mb']:g} MB | " + " | ".join(f"{st[n]:.2f}" for n in names)
                     + f" | {st['analysis']:.2f} | {st['analysis'] / row['mb']:.2f} |")
    lines += ["", "### `threadline iocs FILE` on hostile inputs (issue 13; target: under 2 s and 500 MB each)", "",
              "| input | size KB | wall s | CPU s | peak MB | exit |", "|---|---|---|---|---|---|"]
    for row in hostile:
        lines.append(f"| `{row['input']}` | {row['kb']:.0f} | {row['wall']:.2f} | {row['cpu']:.2f} | "
                     f"{row['peak_mb']:.0f} | {row['status']} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--sizes", type=float, nargs="+", help="report sizes in MB (default 1 2 4 8 16)")
    ap.add_argument("--quick", action="store_true", help="small sizes (0.25, 0.5, 1 MB) and 1/10 of each hostile input")
    ap.add_argument("--limit", type=int, default=4000, help="address-space limit per process in MB (default 4000)")
    ap.add_argument("--markdown", type=Path, help="also write the tables to this file")
    ap.add_argument("--stages", type=Path, help=argparse.SUPPRESS)      # child process: time the stages of one file
    args = ap.parse_args()
    if args.stages is not None:
        print(json.dumps(stage_times(args.stages)))
        return 0
    sizes = args.sizes or ([0.25, 0.5, 1.0] if args.quick else [1.0, 2.0, 4.0, 8.0, 16.0])
    command = " ".join(["bench/input_scale.py", *sys.argv[1:]])
    with tempfile.TemporaryDirectory(prefix="threadline-scale-") as tmp:
        hostile = measure_hostile(0.1 if args.quick else 1.0, Path(tmp), args.limit)
        scale = measure_sizes(sizes, Path(tmp), args.limit)
    report = render(scale, hostile, f".venv/bin/python {command}")
    print(report)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
