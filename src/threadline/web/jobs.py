"""Submitting a report on the web: upload, paste or URL, with its TLP; analysed by a background worker while the
job page shows its progress (it refreshes itself, no script needed), and a failed job says why in one line.

The request only stores the job and returns: reading a URL, extracting and attributing happen in the worker, so
no page waits on an analysis. One worker thread keeps the store to one writer at a time. With a Dask scheduler
configured (``threadline serve --scheduler``, setting ``scheduler``), that thread hands each report to the cluster
through :mod:`threadline.scale` (the code of ``analyze --scheduler``): a Dask worker reads and analyses it, and the
result comes back to this thread, the server's one writer, which stores it as a batch of one.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import update
from sqlalchemy.orm import Session

from threadline import settings
from threadline.errors import InputError, NotFoundError, ThreadlineError
from threadline.store.models import JobRow
from threadline.tlp import label, parse_option
from threadline.web.auth import Who, require_csrf
from threadline.web.heartbeat import OWNER, Heartbeat, dead_reason, reap
from threadline.web.isolate import Isolated, Job
from threadline.web.render import html, page
from threadline.web.tlp import Principal

if TYPE_CHECKING:
    from threadline.attribute.known import Known
    from threadline.ingest.source import Raw
    from threadline.model import Document

router = APIRouter()


def _now() -> datetime:
    return datetime.now(UTC)


def _isolation() -> str:
    value = settings.get("job_isolation").strip().lower()
    if value not in ("process", "thread"):
        raise InputError(f"expected process or thread, got {value!r}", where="setting job_isolation")
    return value


class Runner:
    """Runs submitted analyses one at a time on a worker thread (inline when ``background`` is False)."""

    def __init__(self, state: Any, *, background: bool = True, scheduler: str | None = None) -> None:
        self.state = state
        self.background = background
        self.scheduler = scheduler or None
        # Submitted URLs on private addresses are refused (SSRF) unless the server is set to fetch them.
        self.allow_private = settings.get_flag("web_allow_private")
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="threadline-job") if background else None
        self._live: set[str] = set()          # this server's queued and running jobs, beaten for
        self._lock = threading.Lock()         # _live is changed by request threads and the worker, read by the beat
        # Jobs a dead server left queued or running are failed now, with why, not half an hour later.
        reap(state.store.engine)
        self.heartbeat: Heartbeat | None = None
        # Each report read and analysed in a child process under a memory cap (web/isolate.py), or in this thread.
        self.isolated = Isolated() if self.scheduler is None and _isolation() == "process" else None
        if background:
            self.heartbeat = Heartbeat(state.store.engine, self.live)
            self.heartbeat.start()

    def _set(self, job_id: str, **values: Any) -> None:
        with Session(self.state.store.engine) as session, session.begin():
            session.execute(update(JobRow).where(JobRow.id == job_id).values(updated_at=_now(), heartbeat_at=_now(),
                                                                              **values))
        if values.get("state") in ("done", "failed"):
            with self._lock:
                self._live.discard(job_id)

    def close(self) -> None:
        """The server is stopping: no more beats (its unfinished jobs are then failed by the next server), and the
        analysis child ends."""
        if self.heartbeat is not None:
            self.heartbeat.stop()
        if self.isolated is not None:
            self.isolated.stop()

    def live(self) -> list[str]:
        """This server's jobs that are queued or running."""
        with self._lock:
            return sorted(self._live)

    def submit(self, who: Principal, source: str, tlp: str, raw: Raw | None, url: str | None,
               title: str | None = None) -> str:
        job_id = uuid.uuid4().hex
        with Session(self.state.store.engine) as session, session.begin():
            session.add(JobRow(id=job_id, state="queued", step="waiting for the worker", progress=0, source=source,
                               tlp=tlp, submitted_by=who.name or "?", created_at=_now(), updated_at=_now(),
                               owner=OWNER, heartbeat_at=_now()))
        with self._lock:
            self._live.add(job_id)
        if self._pool is None:
            self.run(job_id, tlp, raw, url, title)
        else:
            self._pool.submit(self.run, job_id, tlp, raw, url, title)
        return job_id

    def run(self, job_id: str, tlp: str, raw: Raw | None, url: str | None, title: str | None = None) -> None:
        from threadline.attribute.known import stored_known
        from threadline.store.batches import Entry, save_batch

        try:
            if self.scheduler is not None:
                self._run_on_cluster(job_id, tlp, raw, url, title)
                return
            self._set(job_id, state="running", step="reading the report", progress=5)
            # as `threadline analyze` does: the store's earlier analyses link evidence to the actors they claim
            known = stored_known(self.state.store)

            def progress(n: int, total: int) -> None:
                self._set(job_id, step=f"analysing document {n} of {total}", progress=20 + int(75 * (n - 1) / total))

            if self.isolated is not None:
                docs, analyses, skipped = self.isolated.analyse(Job(raw, url, tlp, title, known, self.allow_private),
                                                                raw.source if raw else str(url), progress)
            else:
                docs, analyses, skipped = self._analyse_here(job_id, tlp, raw, url, title, progress, known)
            # Documents and analyses in one transaction (the batch writer's): a server killed mid-job never leaves
            # a document stored without its analysis (it used to store the documents first, then analyse).
            self._set(job_id, step="storing the report and its analysis", progress=95)
            save_batch(self.state.store, [Entry(f"web:{job_id}", raw.source if raw is not None else str(url),
                                                docs, analyses)])
            self._set(job_id, state="done", step=_finished(len(docs), skipped), progress=100,
                      document_id=docs[0].sha256)
        except ThreadlineError as exc:
            self._set(job_id, state="failed", step="failed", error=exc.one_line())
        except Exception as exc:   # a bug must still end the job with a reason, never leave it "running"
            self._set(job_id, state="failed", step="failed",
                      error=f"internal error ({exc.__class__.__name__}); the server log has the details")
            raise

    def _analyse_here(self, job_id: str, tlp: str, raw: Raw | None, url: str | None, title: str | None,
                      progress: Callable[[int, int], None], known: Known | None = None
                      ) -> tuple[list[Document], list[dict[str, Any]], list[str]]:
        """The report read and analysed in this thread (setting job_isolation: thread)."""
        from threadline.analysis import analyze_each
        from threadline.ingest.pipeline import documents_from, mark_tlp
        from threadline.ingest.source import read_source

        if raw is None:
            raw = read_source(str(url), allow_private=self.allow_private)     # SSRF-safe (setting web_allow_private)
        docs = documents_from(raw)
        mark_tlp(docs, tlp)
        if title and len(docs) == 1:
            docs[0].title = title
        self._set(job_id, step="loading the knowledge base", progress=15)
        return analyze_each(docs, self.state.kb, known=known, progress=progress)

    def _run_on_cluster(self, job_id: str, tlp: str, raw: Raw | None, url: str | None, title: str | None) -> None:
        """The report analysed on the Dask cluster and stored here, by the batch code's single writer (a whole
        input per transaction, the TLP filed with it); a worker's failure is the job's one-line reason."""
        from threadline.attribute.known import stored_known
        from threadline.scale.items import submitted_item
        from threadline.scale.runner import connect, run
        from threadline.scale.work import Result

        item = submitted_item(raw.source if raw is not None else str(url), raw.data if raw is not None else None,
                              tlp, title)
        self._set(job_id, state="running", step="sending the report to the Dask cluster", progress=5)
        outcome: list[Result] = []
        with connect(None, self.scheduler) as client:
            self._set(job_id, step="analysing on the Dask cluster", progress=20)
            # redo: a report submitted again is analysed again (its key names the same input, stored once)
            # with the store's group links, as a report analysed here is (the worker never opens the store)
            run([item], store=self.state.store, client=client, redo=True, known=stored_known(self.state.store),
                allow_private=self.allow_private,
                on_result=lambda _, result: outcome.append(result))
        result = outcome[0] if outcome else Result(item.key, item.source, error=f"{item.label}: no result")
        if result.error is not None:
            self._set(job_id, state="failed", step="failed", error=result.error)
        elif not result.documents:
            self._set(job_id, state="failed", step="failed",
                      error=f"{item.label}: no report text to analyse (a STIX bundle or MISP event is imported as "
                            "knowledge, not analysed)")
        else:
            self._set(job_id, state="done", step=_finished(len(result.documents), result.left_out), progress=100,
                      document_id=result.documents[0].sha256)


def _finished(analysed: int, skipped: list[str]) -> str:
    """The last step's words: a feed whose entries partly failed says which were left out, and why."""
    if not skipped:
        return "finished"
    return (f"finished: {analysed} of {analysed + len(skipped)} documents analysed; left out: "
            + "; ".join(skipped))


def _can_submit(who: Principal) -> None:
    if not who.can_submit:
        raise HTTPException(status_code=403, detail="submitting reports needs an analyst or admin account")


@router.get("/submit.json", summary="What a submission takes: its fields and the markings you may submit at (JSON)")
def submit_json(who: Who) -> JSONResponse:
    if who.name is None:
        raise HTTPException(status_code=401, detail="log in (or send an API token) to submit reports")
    _can_submit(who)
    return JSONResponse({"levels": list(who.levels), "paste_max_bytes": PASTE_MAX_BYTES,
                         "file_max_bytes": settings.get_int("max_input_bytes"),
                         "fields": {"text": "the report, pasted", "url": "an http(s) URL to fetch",
                                    "file": "the report as a file (multipart)", "title": "optional title",
                                    "tlp": "its TLP 2.0 marking (default clear)",
                                    "csrf": "the session's token (not with an API token)"}})


@router.get("/submit", response_class=HTMLResponse, summary="The form to submit a report")
def submit_form(request: Request, who: Who) -> HTMLResponse:
    if who.name is None:
        return RedirectResponse("/login?next=/submit", status_code=303)   # type: ignore[return-value]
    _can_submit(who)
    return html(request, "submit.html.j2", {"levels": list(who.levels), "error": None})


# Starlette refuses a form field over 1 MB by default: a long report pasted whole is a normal thing to submit.
# Pasted text is held in memory (a file is spooled), hence a bound of its own below max_input_bytes' default.
PASTE_MAX_BYTES = 64 * 1024 * 1024


@router.post("/submit", summary="Submit a report (form: text, url or file; tlp; csrf): analysed in the background",
             form_limits={"max_part_size": PASTE_MAX_BYTES})
def submit(request: Request, who: Who, text: str = Form(""), url: str = Form(""),
           title: str = Form("", max_length=300), tlp: str = Form("clear"), csrf: str = Form(""),
           file: Annotated[UploadFile | None, File()] = None) -> Response:
    require_csrf(request, csrf)
    _can_submit(who)
    from threadline.ingest.source import Raw

    level = parse_option(tlp, where="tlp")
    if not who.may_read(level):
        raise InputError("you may not submit a report at a marking you cannot read", where=label(level))
    limit = settings.get_int("max_input_bytes")
    upload = file if file is not None and file.filename else None
    given = [bool(text.strip()), bool(url.strip()), upload is not None]
    if sum(given) != 1:
        raise InputError("give exactly one of: pasted text, a URL or a file", where="submit")
    raw: Raw | None = None
    if upload is not None:
        data = upload.file.read(limit + 1)
        if len(data) > limit:
            raise InputError(f"the file is larger than max_input_bytes ({limit} bytes)", where=upload.filename)
        raw, source = Raw(data=data, source=f"upload:{upload.filename}"), f"upload:{upload.filename}"
    elif text.strip():
        if len(text.encode("utf-8")) > limit:
            raise InputError(f"the text is larger than max_input_bytes ({limit} bytes)", where="paste")
        raw, source = Raw(data=text.encode("utf-8"), source=f"paste by {who.name}"), f"paste by {who.name}"
    else:
        source = url.strip()
        if not source.lower().startswith(("http://", "https://")):
            raise InputError("only http(s) URLs can be submitted", where=source)
    job_id = request.app.state.threadline.jobs.submit(who, source, level, raw, None if raw else source,
                                                      " ".join(title.split()) or None)
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"job": job_id, "url": f"/jobs/{job_id}.json"}, status_code=202)
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)


@page(router, "/jobs/{job_id}", "job.html.j2", summary="A submitted report's analysis: state, progress, failure")
def job(request: Request, who: Who, job_id: str) -> dict[str, Any]:
    with Session(request.app.state.threadline.store.engine) as session:
        row = session.get(JobRow, job_id[:32])
        # Someone else's job is "not found" (its source may name a TLP:RED report); an admin sees every job.
        if row is None or (row.submitted_by != who.name and who.role != "admin"):
            raise NotFoundError("no such job", where=job_id)
        state, error = row.state, row.error
        reason = dead_reason(row)
        if reason is not None:
            # Its server is gone (see web/heartbeat.py): failed, with why, even before a reaper has written it.
            state, error = "failed", reason
        return {"id": row.id, "state": state, "step": row.step, "progress": row.progress, "error": error,
                "source": row.source, "tlp": row.tlp, "submitted_by": row.submitted_by,
                "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat(),
                "report": f"/reports/{row.document_id}" if row.state == "done" and row.document_id else None}
