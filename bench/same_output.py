"""Speed work must not change what Threadline finds: the analyses of TRAM2 reports before and after a change,
compared field by field (every float to 1e-9, everything else exactly).

Usage: bench/same_output.py --save FILE [--reports 40]     (on the code before the change)
       bench/same_output.py --against FILE                 (on the code after it)

Prints how many reports were compared and the first differences (path in the analysis, before, after); exits 1 if
any. The techniques with their scores are part of each analysis, as are entities, indicators and attribution.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import reports  # bench/scale.py: the same TRAM2 texts as the throughput figures

TOLERANCE = 1e-9


def analyses(n: int) -> list[dict[str, Any]]:
    from threadline.analysis import analyze_document
    from threadline.knowledge import load_kb
    from threadline.model import Document

    kb = load_kb(progress=False)
    return [analyze_document(Document(text=r["text"], source=f"jsonl:{r['id']}", title=r["title"]), kb)
            for r in reports(n)]


def differences(before: Any, after: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Where ``after`` differs from ``before``: floats beyond TOLERANCE, anything else at all."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = [(f"{path}.{k}", before.get(k), after.get(k)) for k in sorted(before.keys() ^ after.keys())]
        for key in before.keys() & after.keys():
            out.extend(differences(before[key], after[key], f"{path}.{key}"))
        return out
    if isinstance(before, list) and isinstance(after, list):
        if len(before) != len(after):
            return [(f"{path} (length)", len(before), len(after))]
        return [d for n, (b, a) in enumerate(zip(before, after, strict=True))
                for d in differences(b, a, f"{path}[{n}]")]
    if isinstance(before, float) and isinstance(after, float | int) and not isinstance(after, bool):
        same = math.isclose(before, after, rel_tol=0.0, abs_tol=TOLERANCE) or (math.isnan(before) and math.isnan(after))
        return [] if same else [(path, before, after)]
    return [] if before == after and type(before) is type(after) else [(path, before, after)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", type=Path)
    group.add_argument("--against", type=Path)
    parser.add_argument("--reports", type=int, default=40)
    args = parser.parse_args()
    if args.save:
        found = analyses(args.reports)
        with gzip.open(args.save, "wt", encoding="utf-8") as fh:
            json.dump(found, fh)
        print(f"saved the analyses of {len(found)} TRAM2 reports to {args.save}")
        return
    with gzip.open(args.against, "rt", encoding="utf-8") as fh:
        expected: list[dict[str, Any]] = json.load(fh)
    # a JSON round trip on both sides: tuples become lists, as in the saved file
    found = json.loads(json.dumps(analyses(len(expected))))
    diffs = [(n, d) for n, (b, a) in enumerate(zip(expected, found, strict=True)) for d in differences(b, a)]
    techniques = sum(len(a["techniques"]) for a in found)
    print(f"compared the analyses of {len(found)} TRAM2 reports ({techniques} techniques with their scores; floats "
          f"to {TOLERANCE:g}): {len(diffs)} differences")
    for n, (path, before, after) in diffs[:20]:
        print(f"  report {n} {path}: {str(before)[:80]!r} -> {str(after)[:80]!r}")
    if diffs:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
