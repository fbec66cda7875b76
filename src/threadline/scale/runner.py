"""The client of a distributed batch: the cluster, a bounded window of tasks, failures, progress, and the single
writer that commits whole inputs in batches (store/batches.py), so that a killed run, rerun, redoes only what was
not committed.

Tasks are submitted a window at a time (a few inputs per worker), so the client holds little however long the
batch, and a result is written at most a few seconds after it arrives. On a long batch a task holds a few inputs
(``ITEMS_PER_TASK``): fewer round trips through the scheduler. A worker that dies is replaced by the cluster and
its task runs again elsewhere; a task that kills workers again and again (``KilledWorker``) runs its inputs again
one per task, and the input at fault fails alone, with that reason. Results arrive in completion order, not input
order. A cluster left without any worker (none started, or every one gone for good) stops the batch with that
reason after a while (setting ``batch_worker_wait``), never waiting for ever: what was committed is kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from threadline import settings
from threadline.errors import InputError, ThreadlineError
from threadline.scale.items import Item
from threadline.scale.work import Result, WarmUp, analyse_many
from threadline.store.batches import Entry, committed_keys, save_batch
from threadline.store.repository import Store

if TYPE_CHECKING:
    from threadline.attribute.known import Known

BATCH_SECONDS = 1.0        # at most this long between a result's arrival and its commit (setting batch_commit:
                           # at most that many inputs per commit); a commit of a second's results takes ~0.15 s
                           # here, within the time a worker's queued task keeps it busy
WINDOW_PER_WORKER = 4      # inputs in flight per worker: enough to keep each busy, little to redo after a kill
WORKER_CHECK = 5.0         # seconds without a result after which the client asks the scheduler whether any worker is
                           # left (and every as often while it waits)
ITEMS_PER_TASK = 4         # at most this many inputs per task: the scheduler and this client spend ~4 ms of CPU per
                           # task (on a 2-core machine, CPU the workers need); fewer when the batch is short, so
                           # that the last tasks do not leave a worker idle


@dataclass(slots=True)
class Summary:
    """How a batch went."""

    total: int = 0
    skipped: int = 0            # committed by an earlier run (resumed)
    analysed: int = 0           # inputs done in this run
    documents: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)     # (source, reason)
    stored: int = 0             # analyses committed
    commits: int = 0
    write_seconds: float = 0.0  # time the single writer spent committing
    seconds: float = 0.0
    workers: int = 0
    tasks: int = 0              # Dask tasks submitted (a few inputs each on a long batch)
    dashboard: str | None = None


def _missing_scale() -> InputError:
    return InputError("distributed analysis needs Dask's distributed package (pip install distributed)",
                      where="--workers/--scheduler")


@contextmanager
def connect(workers: int | None, scheduler: str | None) -> Iterator[Any]:
    """A Dask client: on a new local cluster of ``workers`` processes (one thread each: the analysis holds the
    GIL), or on the scheduler at ``scheduler``. Dask's own log lines are kept to errors."""
    import importlib
    import logging

    try:
        dask: Any = importlib.import_module("distributed")       # untyped calls: kept behind Any
    except ImportError:
        raise _missing_scale() from None
    _quiet(logging.CRITICAL)
    # Dask's statistical profiler samples every worker thread 100 times a second, for the dashboard's profile
    # page: a few percent of each worker's CPU that the analysis needs more. And the workers it starts keep
    # glibc's own memory thresholds: Dask sets MALLOC_TRIM_THRESHOLD_=65536 in a new worker's environment, which
    # also pins the mmap threshold at 128 KB, so every large buffer of an analysis was mapped and unmapped again
    # (ten times the page faults; ~0.03 s of system CPU per TRAM2 report, a quarter of the analysis), for ~10 MB
    # less resident memory per worker. A cluster of your own: see README ("Batches on Dask").
    # A local cluster's scheduler and nannies share this process's event loop with the client, and their timers
    # woke it ~300 times a second: the event loop's health tick every 20 ms in each server, the nannies' memory
    # check every 100 ms, the system monitor every 0.5 s. Idle, that loop used 35-45% of a core (measured from
    # the thread's run time), on the two cores the workers need; with these intervals, 7-9%. What they feed (the
    # "event loop unresponsive" warning, the dashboard's graphs, a worker over its memory limit restarted) still
    # works, a little later.
    # And a local cluster (SpecCluster) closes a worker's nanny for good, and never starts another, when no worker
    # of its name is back 15 s after one died (lost-worker-timeout, meant for a job whose machine is gone). Here
    # the nanny itself starts a new worker, which loads the knowledge base and models before it counts: a worker
    # killed again and again by one input (or restarting on a loaded machine) was not back in time at the moment
    # of some check, its nanny was closed, and once both were, the batch waited for ever on a cluster without a
    # worker or a nanny (tests/scale/test_cluster.py's kill test, in CI). The nannies are left to do their job.
    importlib.import_module("dask").config.set({"distributed.worker.profile.enabled": False,
                                                "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                                                "distributed.admin.tick.interval": "1s",
                                                "distributed.admin.system-monitor.interval": "2s",
                                                "distributed.worker.memory.monitor-interval": "500ms",
                                                "distributed.deploy.lost-worker-timeout": LOST_WORKER_TIMEOUT})
    if scheduler:
        try:
            client = dask.Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise InputError(f"cannot reach the Dask scheduler ({' '.join(str(exc).split())[:160]})",
                             where=scheduler) from None
        with client:
            yield client
        return
    dashboard = "127.0.0.1:0" if importlib.util.find_spec("bokeh") else None    # the dashboard needs bokeh
    cluster = dask.LocalCluster(n_workers=workers or 1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                dashboard_address=dashboard, silence_logs=logging.CRITICAL)
    with cluster, dask.Client(cluster) as client:
        yield client


def _quiet(level: int) -> None:
    """Dask's log lines (a lost scheduler logs tracebacks while it reconnects) stay out of the command's output:
    what happened is said in one line by the command. Dask sets levels on some child loggers itself."""
    import logging

    names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] in ("distributed", "tornado")]
    for name in ["distributed", "tornado", *names]:
        logging.getLogger(name).setLevel(level)


LOST_WORKER_TIMEOUT = "1 day"   # see connect: a local cluster never closes a nanny whose worker it lost


def dashboard_of(client: Any) -> str | None:
    import importlib.util

    if not importlib.util.find_spec("bokeh"):
        return None
    link = getattr(client, "dashboard_link", None)
    return str(link) if link else None


class Writer:
    """The one writer: buffers finished inputs and commits them together, whole inputs per transaction."""

    def __init__(self, store: Store | None, summary: Summary) -> None:
        self.store, self.summary = store, summary
        self.pending: list[Entry] = []
        self.oldest = 0.0
        self.most = settings.get_int("batch_commit")

    def add(self, result: Result) -> None:
        if self.store is None:
            return
        if result.knowledge is not None:            # STIX/MISP: imported at once, as `threadline ingest` does
            self._import(result.knowledge)
        if not self.pending:
            self.oldest = time.monotonic()
        self.pending.append(result.entry())

    def tick(self, last: bool = False) -> None:
        """Commit what is pending if it is due. ``last``: every input is submitted, the workers are on the batch's
        last tasks: each result is committed as it comes, so that little is left to commit once the last one has
        arrived (the final commit is time the workers all wait)."""
        if self.pending and (last or len(self.pending) >= self.most
                             or time.monotonic() - self.oldest >= BATCH_SECONDS):
            self.flush()

    def flush(self) -> None:
        if self.store is None or not self.pending:
            return
        start = time.perf_counter()
        self.summary.stored += save_batch(self.store, self.pending)
        self.summary.write_seconds += time.perf_counter() - start
        self.summary.commits += 1
        self.pending = []

    def _import(self, knowledge: tuple[str, bytes, str]) -> None:
        import hashlib

        from threadline.ingest.misp import misp_items
        from threadline.ingest.source import STIX
        from threadline.ingest.stix import load_json, stix_items

        assert self.store is not None
        kind, data, source = knowledge
        obj = load_json(data, source)
        items = stix_items(obj, source) if kind == STIX else misp_items(obj, source)
        self.store.save_knowledge(items, origin=kind, source=source, source_document=hashlib.sha256(data).hexdigest())


class SchedulerLost(InputError):
    """The scheduler went away mid-batch: what was committed stays, a rerun does the rest."""

    def __init__(self, summary: Summary) -> None:
        super().__init__(f"lost the Dask scheduler after {summary.analysed} inputs; what was committed is kept, run "
                         "the same command again to do the rest", where="--scheduler")
        self.summary = summary


class NoWorkers(InputError):
    """The cluster had no worker for ``batch_worker_wait`` seconds with inputs left to do: what was committed
    stays, a rerun (on a cluster with workers) does the rest."""

    def __init__(self, summary: Summary, seconds: float) -> None:
        super().__init__(f"no Dask worker left on the cluster for {seconds:.0f} s, after {summary.analysed} of "
                         f"{summary.total - summary.skipped} inputs; what was committed is kept, run the same command "
                         "again (with workers) to do the rest", where="--workers/--scheduler")
        self.summary = summary


def _workers(client: Any) -> int:
    """How many workers the scheduler has now (one round trip)."""
    return len(client.scheduler_info(n_workers=-1).get("workers", {}))


def _connection_lost(exc: BaseException) -> bool:
    """A future cancelled because the scheduler is gone, or the connection to it closed (not an input's fault)."""
    return isinstance(exc, OSError | TimeoutError) or exc.__class__.__name__ in (
        "CancelledError", "FutureCancelledError", "CommClosedError")


def _reason(exc: BaseException, item: Item) -> str:
    name = exc.__class__.__name__
    if name == "KilledWorker":
        return f"{item.label}: the worker analysing it died, again on a second worker (out of memory?)"
    if isinstance(exc, ThreadlineError):
        return exc.one_line()
    return f"{item.label}: analysis failed ({name}: {' '.join(str(exc).split())[:200]})"


def run(items: Sequence[Item], *, store: Store | None, client: Any, exclude: Sequence[str] = (),
        allow_private: bool = False, redo: bool = False,
        on_result: Callable[[Item, Result], None] | None = None,
        on_progress: Callable[[Summary], None] | None = None, known: Known | None = None) -> Summary:
    """Analyse ``items`` on ``client``'s cluster; every result goes to ``on_result`` (in completion order) and,
    with a store, to the writer. Inputs an earlier run committed are skipped unless ``redo``. ``known``: the
    store's group links (attribute/known.py), sent to every worker once."""
    import importlib

    as_completed: Any = importlib.import_module("distributed").as_completed
    summary = Summary(total=len(items))
    started = time.perf_counter()
    todo = list(items)
    if store is not None and not redo:
        done = committed_keys(store, [i.key for i in todo])
        todo = [i for i in todo if i.key not in done]
        summary.skipped = len(items) - len(todo)
    unique: dict[str, Item] = {}
    for item in todo:
        unique.setdefault(item.key, item)          # the same input twice in one batch: analysed once
    queue = list(unique.values())
    summary.skipped += len(todo) - len(queue)
    client.register_plugin(WarmUp())
    summary.workers = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))
    summary.dashboard = dashboard_of(client)
    writer = Writer(store, summary)
    per_task = max(1, min(ITEMS_PER_TASK, len(queue) // (2 * WINDOW_PER_WORKER * summary.workers)))
    window = max(2, WINDOW_PER_WORKER * summary.workers // per_task)
    futures: Any = as_completed()
    by_key: dict[str, list[Item]] = {}
    position = 0
    alone: list[Item] = []           # inputs of a task that failed as a whole, to run again one per task
    # one copy per worker, not one per task (a Known of a large store is a few MB)
    shipped = client.scatter(known, broadcast=True, hash=False) if known else None

    solo: list[str] = []             # the key of an input running alone, with nothing else in flight

    def submit() -> None:
        nonlocal position
        while not solo and (alone or position < len(queue)) and futures.count() < window:
            if alone:
                # an input of a task that killed its workers runs with nothing else in flight: Dask counts a dead
                # worker against every task it held (running or waiting there), and a second death fails a task,
                # so an innocent input beside the one at fault could fail with it (seen on a loaded machine, when
                # the cluster had one worker up again and gave it both). Rare; it costs a few tasks' time.
                if futures.count():
                    return
                group = [alone.pop(0)]
                key = f"threadline-{group[0].key}-alone"     # not the key of a task that failed as it ran before
                solo.append(key)
            else:
                group = queue[position:position + per_task]
                position += len(group)
                key = f"threadline-{group[0].key}" + (f"-{len(group)}" if len(group) > 1 else "")
            by_key[key] = group
            summary.tasks += 1
            futures.add(client.submit(analyse_many, group, tuple(exclude), allow_private, shipped, key=key,
                                      pure=False))

    def finish(item: Item, result: Result) -> None:
        summary.analysed += 1
        if result.error is not None:
            summary.failed.append((item.source, result.error))
        else:
            summary.documents += len(result.documents)
            summary.failed.extend((item.source, line) for line in result.left_out)
            writer.add(result)
        if on_result is not None:
            on_result(item, result)

    wait = settings.get_number("batch_worker_wait")
    submit()
    try:
        while (future := _next(futures, client, summary, wait)) is not None:
            group = by_key.pop(str(future.key), None)
            if group is None:
                continue
            alone_here = str(future.key) in solo
            if alone_here:
                solo.clear()
            try:
                results: list[Result] = future.result()
            except Exception as exc:   # a dead worker twice (KilledWorker)
                if _connection_lost(exc):
                    raise SchedulerLost(summary) from None
                if len(group) > 1 or (exc.__class__.__name__ == "KilledWorker" and not alone_here):
                    # which input killed it is not known (a task of several), or whether this one did: Dask counts
                    # a dead worker against every task it held, so a task waiting beside the one at fault on a
                    # worker that died twice fails too. Each runs again alone, with nothing else in flight
                    alone.extend(group)
                    results = []
                else:                  # this input alone fails (it killed two workers with nothing beside it)
                    results = [Result(group[0].key, group[0].source, error=_reason(exc, group[0]))]
            future.release()
            for item, result in zip(group, results, strict=False):
                finish(item, result)
            submit()                   # before the commit: the workers' next tasks are not kept waiting for it
            writer.tick(last=position >= len(queue) and not alone)
            if on_progress is not None:
                on_progress(summary)
    finally:
        writer.flush()                 # whole inputs that arrived are committed, even on Ctrl-C
        summary.seconds = time.perf_counter() - started
    return summary


def _next(futures: Any, client: Any, summary: Summary, wait: float) -> Any | None:
    """The next finished future of ``futures`` (Dask's as_completed), or None when none is left. While none is
    ready the scheduler is asked every ``WORKER_CHECK`` seconds whether any worker is left: with none for ``wait``
    seconds, :class:`NoWorkers` (a task waits for ever on a cluster without workers, and a local cluster whose
    nannies are gone starts none)."""
    if futures.has_ready():
        return next(futures)
    checked = time.monotonic()
    alone_since: float | None = None        # when the cluster was first seen without a worker
    while not futures.is_empty():
        with futures.thread_condition:      # notified (under this lock) after a finished future is queued
            if not futures.has_ready():
                futures.thread_condition.wait(timeout=WORKER_CHECK)
        if futures.has_ready():
            return next(futures)
        now = time.monotonic()
        if now - checked < WORKER_CHECK:
            continue
        checked = now
        try:
            workers = _workers(client)
        except Exception as exc:
            if _connection_lost(exc):
                raise SchedulerLost(summary) from None
            raise
        if workers:
            alone_since = None
        elif alone_since is None:
            alone_since = now
        elif now - alone_since >= wait:
            raise NoWorkers(summary, now - alone_since)
    return None
