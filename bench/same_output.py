"""Speed work must not change what Threadline finds: the analyses of TRAM2 reports before and after a change,
compared field by field (every float to 1e-9, everything else exactly; ``--exact``: floats bit for bit too).

Usage: bench/same_output.py --save FILE [--reports 40] [--broad]     (on the code before the change)
       bench/same_output.py --against FILE [--exact]                 (on the code after it)

``--broad``: every TRAM2 report, the bundled examples and every document under tests/data (files as `threadline
analyze` reads them, JSONL lines with a "text"; inputs that are not reports are skipped). To compare with another
checkout, run this script with that checkout's Python (``/path/to/main/.venv/bin/python bench/same_output.py
--save ...``): it analyses with the package that Python imports.

Prints how many documents were compared and the first differences (path in the analysis, before, after); exits 1 if
any. The techniques with their scores are part of each analysis, as are entities, indicators and attribution.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import reports  # bench/scale.py: the same TRAM2 texts as the throughput figures

TOLERANCE = 1e-9
ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 12, 1, tzinfo=UTC)     # documents without a date are dated the same on both sides


def analyses(n: int) -> list[dict[str, Any]]:
    from threadline.analysis import analyze_document
    from threadline.knowledge import load_kb
    from threadline.model import Document

    kb = load_kb(progress=False)
    return [analyze_document(Document(text=r["text"], source=f"jsonl:{r['id']}", title=r["title"]), kb)
            for r in reports(n)]


def broad() -> dict[str, Any]:
    """Every TRAM2 report, then the examples and the test documents, by name."""
    from threadline.analysis import analyze_document
    from threadline.errors import ThreadlineError
    from threadline.ingest.pipeline import ingest
    from threadline.knowledge import load_kb
    from threadline.model import Document

    kb = load_kb(progress=False)
    out: dict[str, Any] = {f"tram:{r['id']}": analyze_document(
        Document(text=r["text"], source=f"jsonl:{r['id']}", title=r["title"]), kb) for r in reports(10**6)}
    files = sorted(p for folder in (ROOT / "examples", ROOT / "tests" / "data") for p in folder.rglob("*")
                   if p.is_file())
    for path in files:
        name = str(path.relative_to(ROOT))
        if path.suffix == ".jsonl":
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
                row = json.loads(line) if line.strip() else None
                if isinstance(row, dict) and isinstance(row.get("text"), str):
                    out[f"{name}#{n}"] = analyze_document(Document(text=row["text"], source=f"jsonl:{n}",
                                                                   title=row.get("title")), kb)
        try:
            documents = ingest(str(path), now=NOW)
        except ThreadlineError:
            continue                 # not a report (a STIX bundle, a broken PDF, a fuzzing seed): nothing to compare
        for n, document in enumerate(documents):
            try:
                out[f"{name}:{n}"] = analyze_document(document, kb)
            except ThreadlineError as exc:
                out[f"{name}:{n}"] = f"error: {exc.one_line()}"
    return out


def differences(before: Any, after: Any, path: str = "", exact: bool = False) -> list[tuple[str, Any, Any]]:
    """Where ``after`` differs from ``before``: floats beyond TOLERANCE (any bit with ``exact``), anything else at
    all."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = [(f"{path}.{k}", before.get(k), after.get(k)) for k in sorted(before.keys() ^ after.keys())]
        for key in before.keys() & after.keys():
            out.extend(differences(before[key], after[key], f"{path}.{key}", exact))
        return out
    if isinstance(before, list) and isinstance(after, list):
        if len(before) != len(after):
            return [(f"{path} (length)", len(before), len(after))]
        return [d for n, (b, a) in enumerate(zip(before, after, strict=True))
                for d in differences(b, a, f"{path}[{n}]", exact)]
    if isinstance(before, float) and isinstance(after, float | int) and not isinstance(after, bool) and not exact:
        same = math.isclose(before, after, rel_tol=0.0, abs_tol=TOLERANCE) or (math.isnan(before) and math.isnan(after))
        return [] if same else [(path, before, after)]
    return [] if before == after and type(before) is type(after) else [(path, before, after)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", type=Path)
    group.add_argument("--against", type=Path)
    parser.add_argument("--reports", type=int, default=40)
    parser.add_argument("--broad", action="store_true", help="every TRAM2 report, examples/ and tests/data/")
    parser.add_argument("--exact", action="store_true", help="floats bit for bit (JSON keeps every bit)")
    args = parser.parse_args()
    if args.save:
        saved: Any = {"broad": broad()} if args.broad else analyses(args.reports)
        with gzip.open(args.save, "wt", encoding="utf-8") as fh:
            json.dump(saved, fh)
        print(f"saved the analyses of {len(saved['broad'] if args.broad else saved)} documents to {args.save}")
        return
    with gzip.open(args.against, "rt", encoding="utf-8") as fh:
        expected: Any = json.load(fh)
    # a JSON round trip on both sides: tuples become lists, as in the saved file
    if isinstance(expected, dict):
        before, after = expected["broad"], json.loads(json.dumps(broad()))
        names = sorted(before.keys() | after.keys())
        pairs = [(name, before.get(name), after.get(name)) for name in names]
    else:
        found = json.loads(json.dumps(analyses(len(expected))))
        pairs = [(f"report {n}", b, a) for n, (b, a) in enumerate(zip(expected, found, strict=True))]
    diffs = [(name, d) for name, b, a in pairs for d in differences(b, a, exact=args.exact)]
    techniques = sum(len(a["techniques"]) for _, _, a in pairs if isinstance(a, dict))
    print(f"compared the analyses of {len(pairs)} documents ({techniques} techniques with their scores; floats "
          f"{'bit for bit' if args.exact else f'to {TOLERANCE:g}'}): {len(diffs)} differences")
    for name, (path, b, a) in diffs[:20]:
        print(f"  {name} {path}: {str(b)[:80]!r} -> {str(a)[:80]!r}")
    if diffs:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
