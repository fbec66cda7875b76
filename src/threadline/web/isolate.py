"""A submitted report read and analysed in a child process of the server (setting ``job_isolation``: process).

Why a process and not the job thread: in a thread the stage limits are only checked at the stages' loop heads,
and the memory checked is the whole server's. In the child, the analysis runs in the main thread, so the stage
alarm stops a stage whatever it is doing (a regular-expression search included), and the child's address space
is capped (``RLIMIT_AS``: what it holds after loading the models, plus ``stage_max_memory``, plus some slack), so
that one huge allocation fails there with a ``MemoryError`` instead of taking the server's memory. A child that
crashes (a C parser's bug, the kernel's out-of-memory killer) or stops answering fails its job alone, with the
reason; the next job gets a fresh child.

The child is started on the first job (``spawn``: nothing of the server's threads or locks is inherited), loads
the knowledge base and the models once, and serves jobs one at a time over a pipe; it never opens the store: the
documents and analyses come back to the server's job thread, which stores them in one transaction as before.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from threadline import settings
from threadline.errors import LimitError, ThreadlineError

if TYPE_CHECKING:
    from threadline.attribute.known import Known
    from threadline.ingest.source import Raw
    from threadline.model import Document

SLACK = 512 * 1024 * 1024        # address space above the stage limit: stacks, arenas, the pipe's buffers
START_SECONDS = 300.0            # for the child to start and load the models before the first job
WARM_TEXT = ("The actor sent spearphishing emails with a malicious attachment to government staff in Germany. "
             "A PowerShell script downloaded PlugX from 203.0.113.7; the report attributes it to Mustang Panda.")
STAGES = 7                       # reading, sentences, entities, techniques, indicators, attribution, and margin


@dataclass(frozen=True, slots=True)
class Job:
    """What the child needs of a submission: its bytes (upload, paste) or its URL, its marking and title."""

    raw: Raw | None
    url: str | None
    tlp: str
    title: str | None
    known: Known | None = None       # the store's group links, read by the server (the child never opens the store)
    allow_private: bool = False      # setting web_allow_private: a URL on a private address may be fetched


def _address_space() -> int:
    import os

    with open("/proc/self/statm", "rb") as handle:
        return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _cap_memory() -> None:
    """Cap the child's address space at what it uses now plus ``stage_max_memory`` and the slack (Linux only)."""
    try:
        import resource

        cap = _address_space() + settings.get_int("stage_max_memory") + SLACK
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ImportError, OSError, ValueError):
        return           # no /proc or no RLIMIT_AS: the stage limits still hold, without the hard cap


def _analyse(job: Job, send: Callable[[tuple[str, Any]], None]
             ) -> tuple[list[Document], list[dict[str, Any]], list[str]]:
    from threadline.analysis import analyze_each
    from threadline.ingest.pipeline import documents_from, mark_tlp
    from threadline.ingest.source import read_source
    from threadline.knowledge import load_kb

    # SSRF-safe: private addresses refused unless the server's setting web_allow_private allows them
    raw = job.raw if job.raw is not None else read_source(str(job.url), allow_private=job.allow_private)
    docs = documents_from(raw)
    mark_tlp(docs, job.tlp)
    if job.title and len(docs) == 1:
        docs[0].title = job.title
    return analyze_each(docs, load_kb(progress=False), known=job.known,
                        progress=lambda n, total: send(("progress", (n, total))))


def _die_with_the_server() -> None:
    """Linux: the kernel kills this child when the thread that started it ends (the server's job thread, so the
    server), ``kill -9`` included: no analysis runs on for a server that is gone."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)        # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return           # elsewhere: the child ends at its next message, when it finds the pipe closed


def child(conn: Connection) -> None:
    """The child's loop: warm up, cap the memory, then one job at a time until the pipe closes."""
    _die_with_the_server()
    from threadline.analysis import analyze_document
    from threadline.knowledge import load_kb
    from threadline.limits import unbounded
    from threadline.model import Document

    with unbounded():        # loading the models and lexicons is no document's work
        analyze_document(Document(text=WARM_TEXT, source="warm-up"), load_kb(progress=False))
    _cap_memory()
    conn.send(("ready", None))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        reply: tuple[str, Any]
        try:
            reply = ("done", _analyse(job, conn.send))
        except ThreadlineError as exc:
            reply = ("failed", exc.one_line())
        except MemoryError:
            # outside any stage (a stage turns it into its own LimitError); a fresh process for the next job
            reply = ("fatal", f"{job.url or (job.raw.source if job.raw else '?')}: ran out of memory "
                              "(setting stage_max_memory)")
        except Exception as exc:    # a bug (or the server gone mid-job): the job fails with the error's class
            reply = ("failed", f"internal error in the analysis ({exc.__class__.__name__})")
        try:
            conn.send(reply)
        except OSError:
            return                  # the server is gone (killed): nobody to answer, and no orphan left behind
        if reply[0] == "fatal":
            return


def _how(code: int | None) -> str:
    if code is not None and code < 0:
        import signal

        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class Isolated:
    """The server's analysis child: started on demand, replaced after it crashes or stops answering."""

    def __init__(self) -> None:
        self._process: Any = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()           # one job at a time (the runner has one thread; tests call it too)

    def _start(self) -> Connection:
        context = multiprocessing.get_context("spawn")
        mine, theirs = context.Pipe()
        self._process = context.Process(target=child, args=(theirs,), name="threadline-analysis", daemon=True)
        self._process.start()
        theirs.close()
        self._conn = mine
        return mine

    def stop(self) -> None:
        """End the child (the server is stopping, or the child must be replaced)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join(10)
            self._process = None

    def _receive(self, conn: Connection, seconds: float, where: str) -> tuple[str, Any]:
        if not conn.poll(seconds):
            self.stop()
            raise LimitError(f"the analysis did not answer for {seconds:g} s and was stopped (setting "
                             "stage_timeout)", where=where)
        try:
            message: tuple[str, Any] = conn.recv()
        except (EOFError, OSError):
            process = self._process
            if process is not None:
                process.join(10)
            code = process.exitcode if process is not None else None
            self.stop()
            raise ThreadlineError(f"the analysis process died ({_how(code)}; out of memory?); submit the report "
                                  "again or split it", where=where) from None
        return message

    def analyse(self, job: Job, where: str, on_progress: Callable[[int, int], None] | None = None
                ) -> tuple[list[Document], list[dict[str, Any]], list[str]]:
        """The documents analysed in the child, their analyses and the documents left out (a feed's entry that
        failed, one line each); a failure of the whole job is one ThreadlineError line."""
        per_document = STAGES * settings.get_number("stage_timeout")
        with self._lock:
            conn = self._conn
            if conn is None or self._process is None or not self._process.is_alive():
                self.stop()
                conn = self._start()
                self._receive(conn, START_SECONDS, where)      # "ready": warmed up and capped
            conn.send(job)
            while True:
                kind, value = self._receive(conn, per_document, where)
                if kind == "progress" and on_progress is not None:
                    on_progress(*value)
                elif kind == "done":
                    docs, analyses, skipped = value
                    return docs, analyses, skipped
                elif kind in ("failed", "fatal"):
                    if kind == "fatal":         # the child ends after this answer: replaced on the next job
                        self.stop()
                    raise ThreadlineError(str(value))
