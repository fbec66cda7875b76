"""A real local Dask cluster (2 worker processes): the same analyses as one process, failures reported with their
reason while the rest goes on, and a worker killed mid-batch loses and duplicates nothing."""

from __future__ import annotations

import gzip
import json
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from distributed import WorkerPlugin
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threadline.scale.items import Item, record_item, source_item
from threadline.scale.runner import run
from threadline.scale.work import Result
from threadline.store import Store
from threadline.store.analyses import get_analysis
from threadline.store.batches import committed_keys
from threadline.store.models import AnalysisRow, BatchInputRow, KnowledgeObjectRow
from threadline.store.records import LINK_COLUMNS

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


def test_a_long_batch_runs_a_few_inputs_per_task_and_a_killed_worker_still_loses_nothing(
        client: Any, store: Store) -> None:
    """Several inputs per task (fewer scheduler round trips): each is still committed whole and once, with the same
    analyses as one input per task, when a worker dies with a task of several inputs in flight."""
    items = record_items(tram_records(40, size=600))
    pids: dict[str, int] = client.run(os.getpid)
    killed: list[int] = []
    analyses: dict[str, Any] = {}

    def kill_one(item: Item, result: Result) -> None:
        analyses[item.key] = result.analyses
        if not killed:
            victim = sorted(pids.values())[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    summary = run(items, store=store, client=client, on_result=kill_one)
    assert killed and summary.failed == [] and summary.tasks < len(items)
    assert summary.analysed == len(items) == summary.stored == len(analyses)
    assert count(store, AnalysisRow) == len(items) == count(store, BatchInputRow)
    client.wait_for_workers(2, timeout=120)
    one_each: dict[str, Any] = {}
    again = run(items[:8], store=None, client=client, on_result=lambda i, r: one_each.update({i.key: r.analyses}))
    assert again.tasks == 8                                # a short batch: one input per task
    assert all(one_each[k] == analyses[k] for k in one_each)


class _Poison(WorkerPlugin):
    """A worker plugin: the input whose source is ``poison`` kills the worker analysing it (as an input that
    exhausts a worker's memory does), in every worker, including those started in place of a dead one."""

    name = "threadline-test-poison"

    def setup(self, worker: Any) -> None:
        from threadline.scale import work

        plain = work.analyse

        def analyse(item: Item, *args: Any) -> Result:
            if item.record.get("id") == "poison":
                os._exit(1)
            return plain(item, *args)

        work.analyse = analyse      # type: ignore[assignment]   # analyse_many looks it up when called


def test_a_task_of_several_inputs_that_kills_its_workers_fails_only_the_input_that_does(
        client: Any, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A task of several inputs that kills its worker (twice: Dask's allowed failures, set to 1 here) is run again one
    input per task: the input at fault fails alone with the reason, the others are stored. One task in flight per
    worker, and each worker given only the task it runs (the scheduler's saturation 1), so that no innocent task
    waits on the worker the poison kills: the count of tasks is then exact (the next test has innocent ones)."""
    from threadline.scale import runner

    monkeypatch.setattr(runner, "WINDOW_PER_WORKER", 1)     # 8 inputs on 2 workers: 2 per task, 2 tasks in flight
    records = tram_records(8, size=300)
    records[3] = {"id": "poison", "text": records[3]["text"]}
    items = record_items(records)
    with _scheduler(client, allowed_failures=1, WORKER_SATURATION=1.0), _poisoned(client):
        summary = run(items, store=store, client=client)
    assert summary.tasks == 4 + 2                  # 4 tasks of 2 inputs, then the failed one's inputs one by one
    assert summary.failed == [("batch.jsonl:4", "batch.jsonl:4: the worker analysing it died, again on a second "
                                                "worker (out of memory?)")]
    assert summary.analysed == len(items) and summary.stored == len(items) - 1
    assert committed_keys(store, [i.key for i in items]) == {i.key for n, i in enumerate(items) if n != 3}


@contextmanager
def _scheduler(client: Any, **values: Any) -> Iterator[None]:
    """The scheduler's attributes set to ``values`` for a while."""
    names = list(values)
    before = client.run_on_scheduler(lambda dask_scheduler: {n: getattr(dask_scheduler, n) for n in names})
    client.run_on_scheduler(_set_attributes, values=values)
    try:
        yield
    finally:
        client.run_on_scheduler(_set_attributes, values=before)


def _set_attributes(dask_scheduler: Any, values: dict[str, Any]) -> None:
    for name, value in values.items():
        setattr(dask_scheduler, name, value)


@contextmanager
def _poisoned(client: Any) -> Iterator[None]:
    client.register_plugin(_Poison())
    try:
        yield
    finally:
        client.unregister_worker_plugin(_Poison.name)
        client.wait_for_workers(2, timeout=120)


def test_inputs_waiting_beside_one_that_kills_its_worker_are_not_blamed(client: Any, store: Store,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Dask counts a dead worker against every task it held, running or waiting there. With one death allowed to a
    task (allowed failures 0) and each worker holding 4 tasks of one input, the inputs waiting on the worker the
    poison kills fail with it in Dask's eyes: each runs again alone (with nothing else in flight), and only the
    poison, which kills a worker again alone, fails."""
    from threadline.scale import runner

    monkeypatch.setattr(runner, "ITEMS_PER_TASK", 1)
    records = tram_records(10, size=300)
    records[2] = {"id": "poison", "text": records[2]["text"]}
    items = record_items(records)
    with _scheduler(client, allowed_failures=0, WORKER_SATURATION=4.0), _poisoned(client):
        summary = run(items, store=store, client=client)
    assert summary.failed == [("batch.jsonl:3", "batch.jsonl:3: the worker analysing it died, again on a second "
                                                "worker (out of memory?)")]
    assert summary.analysed == len(items) and summary.stored == len(items) - 1
    assert committed_keys(store, [i.key for i in items]) == {i.key for n, i in enumerate(items) if n != 2}


def test_a_cluster_left_without_workers_stops_the_batch_with_the_reason(store: Store,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every worker gone for good (here: the only nanny closed, as a local cluster did to nannies whose worker was
    slow to come back): the batch stops after batch_worker_wait seconds with a one-line reason instead of waiting
    for ever, and what was committed before is kept (a rerun does the rest)."""
    from threadline.scale import runner
    from threadline.scale.runner import NoWorkers, connect

    monkeypatch.setattr(runner, "WORKER_CHECK", 0.2)
    monkeypatch.setenv("THREADLINE_BATCH_WORKER_WAIT", "2")
    items = record_items(tram_records(12, size=300))
    done: list[str] = []
    with connect(1, None) as one:
        one.wait_for_workers(1, timeout=120)
        cluster = one.cluster

        def close_the_nanny(item: Item, _result: Result) -> None:
            if not done:
                for nanny in list(cluster.workers.values()):
                    one.sync(nanny.close)
            done.append(item.key)

        with pytest.raises(NoWorkers) as caught:
            run(items, store=store, client=one, on_result=close_the_nanny)
    summary = caught.value.summary
    assert caught.value.one_line().startswith("--workers/--scheduler: no Dask worker left on the cluster for ")
    assert 1 <= summary.analysed < len(items) and summary.stored == summary.analysed == len(done)
    assert committed_keys(store, [i.key for i in items]) == set(done)


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
    made = [dict(zip(LINK_COLUMNS, link, strict=True)) for r in results for p in r.prepared for link in p.links]
    assert results[1].prepared[0].links and rows == sorted(r["id"] for r in made)


def test_workers_keep_the_allocator_thresholds_and_freeze_what_they_load(client: Any) -> None:
    """A local cluster's workers run the analysis at one process's CPU cost: Dask's MALLOC_TRIM_THRESHOLD_ (which
    pinned glibc's mmap threshold and cost ~0.03 s of page faults per report) is not set for them, and the warm-up
    moves the loaded knowledge base and models out of the garbage collector's full collections."""
    import gc

    from threadline.scale.work import WarmUp

    if INHERITED_TRIM:
        pytest.skip("MALLOC_TRIM_THRESHOLD_ is set in this environment: the workers inherit it")
    assert set(client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_")).values()) == {None}
    client.wait_for_workers(2, timeout=120)      # one may still be starting in place of a killed one
    client.register_plugin(WarmUp())
    frozen = client.run(gc.get_freeze_count)
    assert len(frozen) == 2 and min(frozen.values()) > 100_000
