"""What `analyze` pays to read the store's group links (issue 15): the old way (every stored analysis's JSON read
and parsed again, ``store_known(list_analyses(...))``) against the ``group_links`` table (one SELECT of small rows,
``stored_known``), on a SQLite store of N analyses.

The analyses are real: the current code's analyses of the test reports (tests/data/reports, lanternfish.md, the
example), stored N times over as copies with different SHA-256 (each copy a distinct document), so that the store
holds as many claiming reports, with as many links each, as those reports give.

    python bench/known_links.py                  # 2,000 analyses in a temporary store
    python bench/known_links.py --analyses 500
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from threadline.analysis import analyze_document
from threadline.attribute.known import claimed_group, store_known, stored_known
from threadline.ingest import ingest
from threadline.knowledge import load_kb
from threadline.model import Document
from threadline.store import open_store
from threadline.store.analyses import link_rows, list_analyses
from threadline.store.batches import Entry, save_batch

ROOT = Path(__file__).resolve().parents[1]
REPORTS = [*sorted((ROOT / "tests" / "data" / "reports").iterdir()), ROOT / "tests" / "data" / "ingest" /
           "lanternfish.md", ROOT / "examples" / "operation-dianxun.md"]


def timed(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The median of ``repeat`` runs, in seconds, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--analyses", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    kb = load_kb(progress=False)
    base = [(doc, analyze_document(doc, kb)) for doc in (ingest(str(p))[0] for p in REPORTS)]
    claiming = sum(1 for _, a in base if claimed_group(a) is not None)
    mean_kb = statistics.mean(len(json.dumps(a, default=str)) for _, a in base) / 1000
    with tempfile.TemporaryDirectory() as tmp, open_store(Path(tmp) / "bench.db") as store:
        start = time.perf_counter()
        entries: list[Entry] = []
        for n in range(args.analyses):
            doc, analysis = base[n % len(base)]
            copy_doc = Document(text=f"{doc.text}\n\ncopy {n}", source=f"{doc.source}#{n}", title=doc.title,
                                published=doc.published)
            copied = copy.deepcopy(analysis)
            copied["document"] = {**copied["document"], "sha256": copy_doc.sha256}
            entries.append(Entry(f"copy-{n}", copy_doc.source, [copy_doc], [copied]))
            if len(entries) == 200:
                save_batch(store, entries)
                entries = []
        save_batch(store, entries)
        stored = time.perf_counter() - start
        rows_cost, _ = timed(lambda: [link_rows(a["document"]["sha256"], a, kb) for _, a in base], args.repeat)
        json_s, old = timed(lambda: store_known(list_analyses(store, limit=5000), kb), args.repeat)
        table_s, new = timed(lambda: stored_known(store), args.repeat)
        size = Path(tmp, "bench.db").stat().st_size
    assert old == new, "the table and the JSON give different links"
    print(f"store: {args.analyses} analyses (copies of {len(base)} real ones, {claiming} claiming one group), "
          f"{mean_kb:.0f} KB of JSON each on average, {size / 1e6:.0f} MB SQLite, stored in {stored:.1f} s")
    print(f"links: {len(new.links)} (identical on both paths)")
    print(f"known_links, JSON path (list_analyses + observations_from_analysis): {json_s:.2f} s (median of "
          f"{args.repeat})")
    print(f"known_links, table path (group_links rows):                          {table_s:.3f} s "
          f"({json_s / table_s:.0f}x faster)")
    print(f"making the rows at save time: {1000 * rows_cost / len(base):.2f} ms per analysis")


if __name__ == "__main__":
    main()
