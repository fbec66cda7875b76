"""A real local Dask cluster (2 worker processes): the same analyses as one process, failures reported with their
reason while the rest goes on, and a worker killed mid-batch loses and duplicates nothing."""

from __future__ import annotations

import gzip
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threadline.scale.items import Item, record_item, source_item
from threadline.scale.runner import run
from threadline.scale.work import Result
from threadline.store import Store
from threadline.store.analyses import get_analysis
from threadline.store.batches import committed_keys
from threadline.store.models import AnalysisRow, BatchInputRow, KnowledgeObjectRow

DATA = Path(__file__).resolve().parents[1] / "data"
TRAM = Path(__file__).resolve().parents[2] / "src" / "threadline" / "data" / "tram" / "tram2-reports.jsonl.gz"
# read at collection, before any cluster starts: Dask's nanny copies what it gives workers into its own process
INHERITED_TRIM = "MALLOC_TRIM_THRESHOLD_" in os.environ


def tram_records(n: int, size: int = 1500) -> list[dict[str, Any]]:
    """The first ``size`` characters of ``n`` TRAM reports (real text, distinct documents)."""
    with gzip.open(TRAM, "rt", encoding="utf-8") as fh:
        texts = [str(json.loads(line)["text"]) for line in fh][:n]
    return [{"id": f"r{i}", "text": t[:size]} for i, t in enumerate(texts)]


def record_items(records: list[dict[str, Any]]) -> list[Item]:
    return [record_item(r, {"id": r["id"], "text": r["text"], "title": None, "source": f"jsonl:{r['id']}",
                            "published": None}, f"batch.jsonl:{n}", ()) for n, r in enumerate(records, 1)]


def count(store: Store, model: type[Any]) -> int:
    with Session(store.engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_workers_give_the_analyses_of_one_process(client: Any, store: Store, tmp_path: Path,
                                                  analyse: Callable[[Path], dict[str, Any]]) -> None:
    reports = sorted((DATA / "reports").iterdir())
    binary = tmp_path / "blob.bin"
    binary.write_bytes(bytes(range(256)) * 8)
    sources = [*reports, DATA / "ingest" / "harbour.rss", DATA / "ingest" / "lanternfish-stix.json", binary]
    results: list[Result] = []
    summary = run([source_item(str(p), ship=False) for p in sources], store=store, client=client,
                  on_result=lambda _item, result: results.append(result))
    assert summary.analysed == len(sources) and summary.skipped == 0
    assert [(s, r) for s, r in summary.failed] == [(str(binary), f"{binary}: binary data, not a report (not text, "
                                                   "PDF, HTML, a feed, STIX or MISP)")]
    for path in reports:      # one document each: exactly what one process finds, and what was stored
        expected = analyse(path)
        assert get_analysis(store, expected["document"]["sha256"]) == expected
    feed = next(r for r in results if r.source.endswith("harbour.rss"))
    assert len(feed.analyses) > 1                          # a feed: one document per entry
    assert count(store, AnalysisRow) == summary.documents == summary.stored == len(reports) + len(feed.analyses)
    assert count(store, KnowledgeObjectRow) > 0            # the STIX bundle became knowledge, as with `ingest`
    assert count(store, BatchInputRow) == len(sources) - 1  # the failed input stays to do


def test_a_killed_worker_loses_nothing_and_duplicates_nothing(client: Any, store: Store) -> None:
    items = record_items(tram_records(12))
    pids: dict[str, int] = client.run(os.getpid)
    killed: list[int] = []

    def kill_one(_item: Item, _result: Result) -> None:
        if not killed:            # after the first result, with the others in flight on both workers
            victim = sorted(pids.values())[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    summary = run(items, store=store, client=client, on_result=kill_one)
    assert killed and summary.failed == []
    assert summary.analysed == len(items) == summary.stored
    assert committed_keys(store, [i.key for i in items]) == {i.key for i in items}
    assert count(store, AnalysisRow) == len(items) == count(store, BatchInputRow)
    client.wait_for_workers(2, timeout=120)               # the nanny started a new worker in its place
    again = run(items, store=store, client=client)        # a rerun: nothing to do, nothing written
    assert (again.skipped, again.analysed, again.stored) == (len(items), 0, 0)


def test_workers_attribute_with_the_store_links_the_client_ships(client: Any, store: Store, kb: Any,
                                                                 analyse: Callable[[Path], dict[str, Any]]) -> None:
    """`analyze --workers` attributes with the store's group links as `analyze` in one process does (issue 15):
    read once by the client, shipped to every worker; the workers also make the new analyses' link rows."""
    from threadline.analysis import analyze_document
    from threadline.attribute.known import stored_known
    from threadline.ingest import ingest
    from threadline.store.analyses import save_analysis
    from threadline.store.models import GroupLinkRow

    heron = DATA / "reports" / "silent-heron.html"
    store.save_document(ingest(str(heron))[0])
    save_analysis(store, analyse(heron))
    known = stored_known(store)
    note = DATA / "reports" / "vendor-note-front-matter.md"
    results: list[Result] = []
    run([source_item(str(note), ship=False), source_item(str(heron), ship=False)], store=store, client=client,
        known=known, on_result=lambda _item, result: results.append(result))
    results.sort(key=lambda r: r.source != str(note))
    (analysis,) = results[0].analyses
    expected = analyze_document(ingest(str(note))[0], kb, known=known)
    assert analysis["attribution"] == expected["attribution"]
    shared = [x for c in analysis["attribution"]["candidates"] for s in c["evidence"]["shared"]
              if isinstance(s["source"], list) for x in s["source"]]
    assert [x for x in shared if x.startswith("stored analysis: ")]
    # the stored report analysed again on a worker: never corroborated by itself; its rows made by the worker
    (again,) = results[1].analyses
    assert again["attribution"] == analyze_document(ingest(str(heron))[0], kb, known=known)["attribution"]
    with Session(store.engine) as session:
        rows = sorted(session.scalars(select(GroupLinkRow.id)))
    assert results[1].links and rows == sorted(r["id"] for r in [*(results[0].links or []), *results[1].links])


def test_workers_keep_the_allocator_thresholds_and_freeze_what_they_load(client: Any) -> None:
    """A local cluster's workers run the analysis at one process's CPU cost: Dask's MALLOC_TRIM_THRESHOLD_ (which
    pinned glibc's mmap threshold and cost ~0.03 s of page faults per report) is not set for them, and the warm-up
    moves the loaded knowledge base and models out of the garbage collector's full collections."""
    import gc

    from threadline.scale.work import WarmUp

    if INHERITED_TRIM:
        pytest.skip("MALLOC_TRIM_THRESHOLD_ is set in this environment: the workers inherit it")
    assert set(client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_")).values()) == {None}
    client.register_plugin(WarmUp())
    frozen = client.run(gc.get_freeze_count)
    assert len(frozen) == 2 and min(frozen.values()) > 100_000
