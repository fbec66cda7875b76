"""What a Dask worker runs: one input in, its documents and analyses (or the one-line reason it failed) out.

The knowledge base and the models are loaded once per worker process, by :class:`WarmUp` when the worker starts
(so that the first task does not pay for it) and kept in the process (``load_kb`` and ``runtime_model`` cache them).
Workers never touch the store: results go back to the single writer in the client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from threadline.errors import ThreadlineError
from threadline.model import Document
from threadline.scale.items import BYTES, PATH, RECORD, URL, Item
from threadline.store.records import Entry, Prepared

if TYPE_CHECKING:
    from threadline.attribute.known import Known

try:
    from distributed import WorkerPlugin
except ImportError:        # the scale extra is absent: the plugin is never registered then
    WorkerPlugin = object  # type: ignore[assignment,misc]

WARM_TEXT = ("The actor sent spearphishing emails with a malicious attachment to government staff in Germany. "
             "A PowerShell script downloaded PlugX from 203.0.113.7; the report attributes it to Mustang Panda.")


@dataclass(slots=True)
class Result:
    """What a task returns for one input: its documents and their analyses made ready for the single writer
    (store/batches.py's Prepared: the JSON text and the rows' values, made here, not by the writer), and what the
    client reports or imports. Compact on purpose: a worker used to return each analysis as a dict and its findings
    as dicts (~130 KB pickled per TRAM2 report), which the client unpickled and the writer encoded again."""

    key: str
    source: str
    documents: list[Document] = field(default_factory=list)
    prepared: list[Prepared] = field(default_factory=list)
    knowledge: tuple[str, bytes, str] | None = None     # (kind, bytes, source) of a STIX bundle or MISP event
    error: str | None = None
    left_out: list[str] = field(default_factory=list)  # a feed's entries that failed, one line each (the rest stored)
    seconds: float = 0.0

    @property
    def analyses(self) -> list[dict[str, Any]]:
        """The analyses (decoded from their JSON text on each call: for what shows them, not for the writer)."""
        import json

        return [json.loads(p.data) for p in self.prepared]

    def entry(self) -> Entry:
        """What the writer stores of it."""
        return Entry(self.key, self.source, self.documents, prepared=self.prepared)


def warm() -> None:
    """Load the knowledge base and the models, and build what the first analysis builds (profiles, lexicons)."""
    from threadline.analysis import analyze_document
    from threadline.knowledge import load_kb
    from threadline.limits import unbounded

    with unbounded():     # loading is not a document's work: a tight stage_timeout must not fail the warm-up
        analyze_document(Document(text=WARM_TEXT, source="warm-up"), load_kb(progress=False))
    settle()


def settle() -> None:
    """Move what is loaded for good (the knowledge base, models, lexicons: ~200,000 objects) out of the cyclic
    garbage collector's reach. Every full collection walked all of it again, ~0.14 s each, three per 40 reports:
    about a tenth of a worker's CPU, more in a worker holding results. Collected once first, so that no garbage is
    frozen with it."""
    import gc

    gc.collect()
    gc.freeze()


class WarmUp(WorkerPlugin):
    """Registered once per run: each worker (and each one started later) warms up before its first task."""

    name = "threadline-warm-up"

    def setup(self, worker: Any) -> None:
        warm()


def _documents(item: Item, allow_private: bool) -> tuple[list[Document], tuple[str, bytes, str] | None]:
    from threadline.ingest.pipeline import documents_from
    from threadline.ingest.source import MISP, STIX, Raw, read_source, sniff

    if item.kind == RECORD:
        r = item.record
        return [Document(text=r["text"], source=r["source"], title=r.get("title"),
                         published=r.get("published"))], None
    if item.kind == BYTES:
        raw = Raw(item.data or b"", item.source)
    elif item.kind in (PATH, URL):
        raw = read_source(item.source, allow_private=allow_private)
    else:
        raise ThreadlineError(f"unknown input kind {item.kind!r}", where=item.source)
    kind = sniff(raw)
    if kind in (STIX, MISP):
        return [], (kind, raw.data, raw.source)      # knowledge: imported by the writer, as `ingest` does
    return documents_from(raw, kind), None


def analyse(item: Item, exclude: tuple[str, ...] = (), allow_private: bool = False,
            known: Known | None = None) -> Result:
    """Read and analyse one input; a bad input is a Result with its reason, never an exception (a traceback
    would reach the user through the client). ``known``: the store's links, read once by the client and shipped
    to every worker (workers never touch the store), as `analyze` without a cluster attributes with them."""
    import time

    from threadline.analysis import analyze_each
    from threadline.knowledge import load_kb
    from threadline.store.batches import prepare

    start = time.perf_counter()
    result = Result(item.key, item.source)
    try:
        result.documents, result.knowledge = _documents(item, allow_private)
        if item.tlp is not None or item.title:
            from threadline.ingest.pipeline import mark_tlp

            mark_tlp(result.documents, item.tlp)
            if item.title and len(result.documents) == 1:
                result.documents[0].title = item.title
        kb = load_kb(progress=False)
        # a feed's entry that stops at a limit is left out with its reason; the input's other documents are kept
        result.documents, analyses, result.left_out = analyze_each(
            result.documents, kb, exclude_sources=[*exclude, *item.exclude], known=known)
        # the JSON text and the rows too: the single writer then only inserts them (it was the writer's main cost)
        result.prepared = [prepare(a, kb=kb) for a in analyses]
    except ThreadlineError as exc:
        result.documents, result.prepared = [], []
        result.error = exc.one_line()
    except (MemoryError, RecursionError, ValueError, TypeError, KeyError, IndexError, OSError) as exc:
        # a defect or an exhausted worker on this input: reported with the input, the batch goes on
        result.documents, result.prepared = [], []
        result.error = f"{item.source}: analysis failed ({exc.__class__.__name__}: {' '.join(str(exc).split())[:200]})"
    result.seconds = time.perf_counter() - start
    return result


def analyse_many(items: list[Item], exclude: tuple[str, ...] = (), allow_private: bool = False,
                 known: Known | None = None) -> list[Result]:
    """:func:`analyse` of a few inputs in one task: the scheduler and the client spend ~4 ms of CPU per task
    whatever it holds, as much as a twentieth of a report's analysis."""
    return [analyse(item, exclude, allow_private, known) for item in items]
