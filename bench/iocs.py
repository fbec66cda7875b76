"""Benchmark indicator extraction against iocextract, ioc-finder and iocsearcher, in one run.

Quality: precision / recall / F1 per type on ../shared/data/ioc/dev.jsonl with the scorer beside it, plus how many of
the dev set's benign entries each tool reports *unflagged* (the anchors flag nothing). Throughput: MB/s on a large
text built from the TRAM reports and the dev snippets. The anchors are slow (iocextract is quadratic), so each runs
on the largest prefix of that text it finishes within a time budget; the size is printed next to the figure.

    .venv/bin/pip install -e '.[bench]'
    nice .venv/bin/python bench/iocs.py [--budget SECONDS] [--mb SIZE] [--markdown bench/results/iocs.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import importlib.util
import json
import multiprocessing
import ntpath
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared" / "data"
DEV = SHARED / "ioc" / "dev.jsonl"
TRAM = SHARED / "tram" / "tram2-reports.jsonl.gz"
Extractor = Callable[[str], list[tuple[str, str]]]


def scorer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ioc_dev_score", SHARED / "ioc" / "score.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the tools, each mapped to our type names -------------------------------------------------------------------

def threadline_tool() -> tuple[Extractor, Callable[[str], list[dict[str, Any]]]]:
    from threadline.extract.iocs import extract_iocs
    from threadline.extract.iocs import flags as fl

    fl.warm()
    return (lambda text: [(h.type, h.value) for h in extract_iocs(text)],
            lambda text: [h.to_dict() for h in extract_iocs(text)])


def iocextract_tool() -> Extractor:
    import iocextract

    def run(text: str) -> list[tuple[str, str]]:
        out = [("url", u) for u in iocextract.extract_urls(text, refang=True)]
        out += [("ipv4", i) for i in iocextract.extract_ipv4s(text, refang=True)]
        out += [("ipv6", i) for i in iocextract.extract_ipv6s(text)]
        out += [("email", e) for e in iocextract.extract_emails(text, refang=True)]
        for kind, fn in (("md5", iocextract.extract_md5_hashes), ("sha1", iocextract.extract_sha1_hashes),
                         ("sha256", iocextract.extract_sha256_hashes), ("sha512", iocextract.extract_sha512_hashes)):
            out += [(kind, h) for h in fn(text)]
        return out
    return run


IOC_FINDER_TYPES = {
    "urls": "url", "domains": "domain", "ipv4s": "ipv4", "ipv6s": "ipv6", "email_addresses": "email",
    "md5s": "md5", "sha1s": "sha1", "sha256s": "sha256", "sha512s": "sha512", "cves": "cve",
    "registry_key_paths": "registry_key", "file_paths": "file_name", "bitcoin_addresses": "btc_address",
    "asns": "asn",
}


def ioc_finder_tool() -> Extractor:
    from ioc_finder import find_iocs

    def run(text: str) -> list[tuple[str, str]]:
        out = []
        # ioc-finder 9 reports only nine core types unless asked for the others.
        for key, values in find_iocs(text, included_ioc_types=list(IOC_FINDER_TYPES)).items():
            kind = IOC_FINDER_TYPES.get(key)
            if kind is None or not isinstance(values, list):
                continue
            for value in values:
                out.append((kind, ntpath.basename(value) if kind == "file_name" else value))
        return out
    return run


IOCSEARCHER_TYPES = {
    "url": "url", "fqdn": "domain", "ip4": "ipv4", "ip6": "ipv6", "email": "email", "md5": "md5", "sha1": "sha1",
    "sha256": "sha256", "sha512": "sha512", "cve": "cve", "registry": "registry_key", "bitcoin": "btc_address",
    "asn": "asn", "filename": "file_name",
}


def iocsearcher_tool() -> Extractor:
    from iocsearcher.searcher import Searcher

    searcher = Searcher()

    def run(text: str) -> list[tuple[str, str]]:
        return [(IOCSEARCHER_TYPES[i.name], str(i.value)) for i in searcher.search_data(text)
                if i.name in IOCSEARCHER_TYPES]
    return run


def supported_types(name: str) -> set[str]:
    if name == "iocextract":
        return {"url", "ipv4", "ipv6", "email", "md5", "sha1", "sha256", "sha512"}
    if name == "ioc-finder":
        return set(IOC_FINDER_TYPES.values())
    if name == "iocsearcher":
        return set(IOCSEARCHER_TYPES.values())
    return set()


# --- measurements -----------------------------------------------------------------------------------------------

def quality(sc: ModuleType, dev: list[dict[str, Any]], predict: Callable[[str], Iterable[dict[str, Any]]],
            tmp: Path) -> dict[str, Any]:
    path = tmp / "predictions.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for record in dev:
            out.write(json.dumps({"id": record["id"], "iocs": list(predict(record["text"]))}) + "\n")
    return dict(sc.score(sc.load_gold(str(DEV)), sc.load_predictions(str(path))))


def benign_unflagged(sc: ModuleType, dev: list[dict[str, Any]], predict: Callable[[str], list[dict[str, Any]]]
                     ) -> tuple[int, int, int]:
    """(benign entries reported without any flag, benign entries reported, benign entries in the set)."""
    unflagged = reported = total = 0
    for record in dev:
        hits = {sc.normalise(h["type"], h["value"]): h for h in predict(record["text"])}
        for item in record["benign"]:
            total += 1
            hit = hits.get(sc.normalise(item["type"], item["value"]))
            if hit is not None:
                reported += 1
                unflagged += not hit.get("flags")
    return unflagged, reported, total


def big_text(mb: float) -> str:
    with gzip.open(TRAM, "rt", encoding="utf-8") as reports, DEV.open(encoding="utf-8") as snippets:
        parts = [json.loads(line)["text"] for line in reports]
        parts += [json.loads(line)["text"] for line in snippets]
    unit = "\n\n".join(parts)
    text = unit
    while len(text.encode()) < mb * 1e6:
        text += "\n\n" + unit
    return text[: int(mb * 1e6)]


def _timed(run: Extractor, chunk: str, out: Any) -> None:
    start = time.perf_counter()
    run(chunk)
    out.put(time.perf_counter() - start)


def _once(run: Extractor, chunk: str, budget: float) -> float | None:
    """Seconds one run takes: in-process without a budget, else in a forked child killed at the budget."""
    if budget == float("inf"):
        start = time.perf_counter()
        run(chunk)
        return time.perf_counter() - start
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_timed, args=(run, chunk, queue))
    child.start()
    child.join(budget)
    if child.is_alive():      # a regex stuck in C cannot be interrupted otherwise
        child.kill()
        child.join()
        return None
    took: float = queue.get()
    return took


def throughput(run: Extractor, text: str, budget: float, repeats: int) -> tuple[float, int]:
    """Best MB/s of ``repeats`` runs on the largest prefix (64 KB, doubling) finished within the budget."""
    size, best = 64_000, (0.0, 0)
    while True:
        chunk = text[:size]
        took = _once(run, chunk, budget)
        if took is None:
            return best
        for _ in range(repeats - 1):
            again = _once(run, chunk, budget)
            took = min(took, again) if again is not None else took
        best = (len(chunk.encode()) / 1e6 / took, len(chunk.encode()))
        if size >= len(text) or took * 2.5 > budget:
            return best
        size *= 2


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return f"nproc {nproc}, {cpu}"


def fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=30.0, help="seconds an anchor may spend on one prefix")
    ap.add_argument("--mb", type=float, default=4.0, help="size of the throughput text in MB")
    ap.add_argument("--repeats", type=int, default=3, help="runs per prefix size; the best one counts (all tools)")
    ap.add_argument("--markdown", type=Path, help="also write the results section to this file")
    args = ap.parse_args()
    if not DEV.is_file() or not TRAM.is_file():
        print(f"shared data not found under {SHARED}", file=sys.stderr)
        return 2
    sc = scorer()
    dev = [json.loads(line) for line in DEV.open(encoding="utf-8")]
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    ours, ours_dicts = threadline_tool()
    tools: dict[str, Extractor] = {"threadline": ours}
    for name, factory in (("iocextract", iocextract_tool), ("ioc-finder", ioc_finder_tool),
                          ("iocsearcher", iocsearcher_tool)):
        try:
            tools[name] = factory()
        except ImportError as exc:
            print(f"skipping {name}: {exc} (pip install -e '.[bench]')", file=sys.stderr)
    text = big_text(args.mb)
    results: dict[str, dict[str, Any]] = {}
    for name, run in tools.items():
        def as_dicts(t: str, run: Extractor = run) -> list[dict[str, Any]]:
            return [{"type": k, "value": v} for k, v in run(t)]
        predict = ours_dicts if name == "threadline" else as_dicts
        scores = quality(sc, dev, predict, tmp)
        unflagged = benign_unflagged(sc, dev, predict)
        budget = float("inf") if name == "threadline" else args.budget
        speed, size = throughput(run, text, budget, args.repeats)
        results[name] = {"scores": scores, "benign": unflagged, "mbps": speed, "bytes": size}
        print(f"{name:12s} F1 {fmt(scores['overall']['f1'])}  {speed:8.4f} MB/s on {size / 1e6:.2f} MB  "
              f"benign unflagged {unflagged[0]}/{unflagged[2]}", flush=True)
    report = render(results, args, len(text.encode()))
    print(report)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(report, encoding="utf-8")
    return 0


def render(results: dict[str, dict[str, Any]], args: argparse.Namespace, text_bytes: int) -> str:
    from threadline.extract.iocs import flags as fl

    names = list(results)
    types = list(results["threadline"]["scores"]["per_type"])
    lines = [
        "## Indicator extraction (`bench/iocs.py`)", "",
        f"Command: `nice .venv/bin/python bench/iocs.py --budget {args.budget:g} --mb {args.mb:g} "
        f"--repeats {args.repeats}`  ",
        f"Date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}  ",
        f"Machine: {machine()}, shared with other jobs (figures vary with load)  ",
        f"Python {platform.python_version()}; dev set: `../shared/data/ioc/dev.jsonl` (scored by its `score.py`)",
        "", "### Precision / recall / F1 per type (dev set)", "",
        "| type | " + " | ".join(f"{n} P / R / F1" for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for kind in [*types, "overall"]:
        cells = []
        for name in names:
            scores = results[name]["scores"]
            row = scores["overall"] if kind == "overall" else scores["per_type"][kind]
            if kind != "overall" and name != "threadline" and kind not in supported_types(name):
                cells.append("not supported")
            else:
                cells.append(f"{fmt(row['precision'])} / {fmt(row['recall'])} / {fmt(row['f1'])}")
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    lines += ["", "### Throughput and benign hits", "",
              "| tool | MB/s | text size | x slower than threadline | benign dev entries reported unflagged |",
              "|---|---:|---:|---:|---:|"]
    ours = results["threadline"]["mbps"]
    for name in names:
        r = results[name]
        unflagged, reported, total = r["benign"]
        if r["mbps"]:
            speed, size, ratio = f"{r['mbps']:.3f}", f"{r['bytes'] / 1e6:.2f} MB", f"{ours / r['mbps']:.1f}"
        else:     # did not finish even the first 64 KB prefix within the budget
            bound = 0.064 / args.budget
            speed, size, ratio = f"< {bound:.4f}", "0.06 MB (killed)", f"> {ours / bound:.0f}"
        lines.append(f"| {name} | {speed} | {size} | {ratio} | {unflagged} of {total} ({reported} reported) |")
    lines += ["", f"Throughput text: TRAM2 reports + dev snippets repeated to {text_bytes / 1e6:.1f} MB. "
              f"threadline runs on all of it; each anchor runs (in a child process) on prefixes of 64 KB, "
              f"doubling, until one would exceed ~{args.budget:g} s or is killed at {args.budget:g} s; the "
              f"figure is the best of {args.repeats} runs on the largest prefix finished, for every tool "
              f"(iocextract slows down with size, so its figure "
              f"on a few MB would be lower still). Warninglists are loaded before timing (~0.5 s, once per process).",
              "", "MISP warninglists used for flags (directory names in pymispwarninglists): "
              + ", ".join(f"`{n}`" for n in (*fl.IP_LISTS, *fl.DOMAIN_LISTS, *fl.HASH_LISTS))
              + "; cloud/CDN/VPN ranges, dynamic DNS, parking and the top-1M rankings are left out on purpose "
              "(attacker infrastructure lives there), and hosts where anyone can publish ("
              + ", ".join(f"`{n}`" for n in fl.OPEN_CONTENT_LISTS) + ") never flag a URL with a path.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
