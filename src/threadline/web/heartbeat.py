"""Who runs a web job, and whether it is still alive: every server process has an owner id
(``host:pid:random``); the jobs it queued carry it, and a thread beats for them (``heartbeat_at``) while they are
queued or running. A job whose owner is gone is marked failed, with the reason, as soon as a server starts or
shows the job:

- an owner on this host whose process is gone (or is this very process under an earlier id: a container's server
  restarted as pid 1) is dead at once, which makes a restart after ``kill -9`` report the job straight away;
- an owner on another host (several servers on one PostgreSQL database) is dead once it has missed its beats for
  ``STALE``; a live server beats every ``BEAT`` seconds, so a busy store has to hold a write back for a minute
  before a live job is taken for dead.

Jobs written before migration 0007 have no owner: they fall back to the old rule (silent for ``STALLED``).
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from threadline.store.models import JobRow

BEAT = 5.0                            # seconds between two beats of a server's jobs
STALE = timedelta(seconds=60)         # an owner on another host silent this long is dead
STALLED = timedelta(minutes=30)       # a job without an owner (written before 0007) silent this long has stalled
OWNER = f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
LIVE = ("queued", "running")


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)              # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):
        return False                 # it exists, under another user: alive as far as we can tell
    return False


def _owner_dead_here(owner: str) -> bool:
    """True when ``owner`` was a process on this host that no longer runs (or is this process, earlier)."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname()[:60] or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return owner != OWNER         # this pid, another id: a server that ran before this one
    return _process_gone(pid)


def dead_reason(row: JobRow, now: datetime | None = None) -> str | None:
    """Why a queued or running job will never finish (its owner is gone), or None while it may still."""
    if row.state not in LIVE:
        return None
    now = now or _now()
    if row.owner is None:
        updated = _aware(row.updated_at)
        if updated is not None and now - updated > STALLED:
            return "the server stopped before the analysis finished; submit the report again"
        return None
    if row.owner == OWNER:
        return None
    beat = _aware(row.heartbeat_at) or _aware(row.updated_at)
    if _owner_dead_here(row.owner):
        return (f"the server running it (process {row.owner.rsplit(':', 2)[1]}) stopped before the analysis "
                "finished; submit the report again")
    if beat is not None and now - beat > STALE:
        return (f"the server running it ({row.owner.rsplit(':', 1)[0]}) has not been heard from since "
                f"{beat.strftime('%Y-%m-%d %H:%M:%S')} UTC; submit the report again")
    return None


def reap(engine: Engine) -> int:
    """Mark every queued or running job whose owner is gone as failed, with its reason; returns how many."""
    now = _now()
    done = 0
    with Session(engine) as session, session.begin():
        rows = session.execute(select(JobRow).where(JobRow.state.in_(LIVE))).scalars().all()
        for row in rows:
            reason = dead_reason(row, now)
            if reason is None:
                continue
            # Only if still live and unchanged: a job its owner finished meanwhile keeps its result.
            changed = session.execute(update(JobRow).where(
                JobRow.id == row.id, JobRow.state == row.state, JobRow.updated_at == row.updated_at).values(
                state="failed", step="failed", error=reason, updated_at=now))
            done += int(getattr(changed, "rowcount", 0) or 0)
    return done


class Heartbeat:
    """A daemon thread that beats for this server's live jobs every ``BEAT`` seconds and reaps dead owners'."""

    def __init__(self, engine: Engine, live: Callable[[], list[str]], beat: float = BEAT) -> None:
        self.engine, self.live, self.beat = engine, live, beat
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="threadline-job-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.beat):
            try:
                self.pulse()
            except Exception:       # a store briefly unreachable: the next beat tries again
                continue

    def pulse(self) -> None:
        ids = self.live()
        if ids:
            with Session(self.engine) as session, session.begin():
                session.execute(update(JobRow).where(JobRow.id.in_(ids), JobRow.state.in_(LIVE)).values(
                    heartbeat_at=_now()))
        reap(self.engine)
