"""A web job whose server died is failed, with the reason, as soon as a server starts (or shows it): its owner, a
process on this host that is gone, at once; an owner on another host once it has missed its beats; a job of a
server that is alive is left alone, and a live server beats for its jobs."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.web.conftest import PASSWORD
from threadline.store import Store, open_store
from threadline.store.models import JobRow
from threadline.web.heartbeat import OWNER, STALE, STALLED, Heartbeat

HOST = socket.gethostname()[:60]


def _dead_pid() -> int:
    """The pid of a process that has just ended (nothing else takes it within the test, pids are not reused at once)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(30)
    return process.pid


def _job(store: Store, job_id: str, *, owner: str | None, beat_ago: timedelta, state: str = "running") -> None:
    when = datetime.now(UTC) - beat_ago
    with Session(store.engine) as session, session.begin():
        session.add(JobRow(id=job_id, state=state, step="analysing document 1 of 1", progress=20, source="paste",
                           tlp="clear", submitted_by="analyst", created_at=when, updated_at=when, owner=owner,
                           heartbeat_at=when if owner else None))


def _states(store: Store) -> dict[str, tuple[str, str | None]]:
    with Session(store.engine) as session:
        return {row.id: (row.state, row.error) for row in session.execute(select(JobRow)).scalars()}


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with open_store(tmp_path / "jobs.db") as opened:
        yield opened


def test_a_server_starting_fails_the_jobs_of_dead_servers_and_only_those(store: Store, kb: Any) -> None:
    from threadline.web import create_app

    dead = _dead_pid()
    _job(store, "died-here", owner=f"{HOST}:{dead}:0123456789ab", beat_ago=timedelta(seconds=1))
    _job(store, "queued-here", owner=f"{HOST}:{dead}:0123456789ab", beat_ago=timedelta(0), state="queued")
    _job(store, "alive-elsewhere", owner="other-host:4242:aaaaaaaaaaaa", beat_ago=timedelta(seconds=5))
    _job(store, "silent-elsewhere", owner="other-host:4242:aaaaaaaaaaaa", beat_ago=STALE + timedelta(seconds=5))
    _job(store, "finished", owner=f"{HOST}:{dead}:0123456789ab", beat_ago=timedelta(seconds=1), state="done")
    _job(store, "old-and-recent", owner=None, beat_ago=timedelta(minutes=1))          # written before 0007
    _job(store, "old-and-stalled", owner=None, beat_ago=STALLED + timedelta(minutes=1))

    create_app(store, kb=kb, secret="test-secret", background=False)        # a server starting on this store

    states = _states(store)
    for job in ("died-here", "queued-here"):
        assert states[job] == ("failed", f"the server running it (process {dead}) stopped before the analysis "
                                         "finished; submit the report again")
    state, error = states["silent-elsewhere"]
    assert state == "failed" and error is not None
    assert error.startswith("the server running it (other-host:4242) has not been heard from since ")
    assert states["alive-elsewhere"] == ("running", None)          # another live server's job: left alone
    assert states["finished"] == ("done", None)
    assert states["old-and-recent"] == ("running", None)
    assert states["old-and-stalled"] == ("failed", "the server stopped before the analysis finished; submit the "
                                                   "report again")


def test_the_job_page_says_failed_before_any_server_has_written_it(store: Store, kb: Any) -> None:
    from threadline.web import create_app
    from threadline.web.auth import add_user, create_token

    add_user(store, "analyst", "analyst", PASSWORD)
    token = create_token(store, "analyst")
    app = create_app(store, kb=kb, secret="test-secret", background=False)
    _job(store, "died-later", owner=f"{HOST}:{_dead_pid()}:0123456789ab", beat_ago=timedelta(0))  # after start
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        shown = client.get("/jobs/died-later.json").json()
    assert shown["state"] == "failed" and "stopped before the analysis finished" in shown["error"]


def test_this_process_under_an_earlier_id_is_a_dead_owner(store: Store) -> None:
    # A container's server restarts as the same pid on the same host name: its earlier jobs are dead all the same.
    import os

    from threadline.web.heartbeat import reap

    _job(store, "earlier-me", owner=f"{HOST}:{os.getpid()}:ffffffffffff", beat_ago=timedelta(0))
    _job(store, "me", owner=OWNER, beat_ago=STALE * 10)
    assert reap(store.engine) == 1
    assert _states(store)["earlier-me"][0] == "failed" and _states(store)["me"] == ("running", None)


def test_a_live_server_beats_for_its_jobs(store: Store) -> None:
    _job(store, "mine", owner=OWNER, beat_ago=STALE * 2)
    _job(store, "not-live", owner=OWNER, beat_ago=STALE * 2)
    heart = Heartbeat(store.engine, lambda: ["mine"], beat=0.05)
    heart.start()
    try:
        time.sleep(0.5)
    finally:
        heart.stop()
    with Session(store.engine) as session:
        beats = {row.id: row.heartbeat_at for row in session.execute(select(JobRow)).scalars()}
    recent = datetime.now(UTC) - timedelta(seconds=5)
    mine, other = beats["mine"], beats["not-live"]
    assert mine is not None and other is not None
    assert mine.replace(tzinfo=mine.tzinfo or UTC) > recent
    assert other.replace(tzinfo=other.tzinfo or UTC) < recent


def test_migration_0007_keeps_old_jobs_under_the_old_rule_and_goes_back_down(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, inspect, text

    from threadline.store.database import MIGRATIONS
    from threadline.web.heartbeat import reap

    db = tmp_path / "old.db"
    engine = create_engine(f"sqlite:///{db}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0005_batch_inputs")
        for job, age in (("recent", timedelta(minutes=1)), ("stalled", STALLED + timedelta(minutes=1))):
            when = (datetime.now(UTC) - age).strftime("%Y-%m-%d %H:%M:%S.%f")
            connection.execute(text(
                "INSERT INTO jobs (id, state, step, progress, source, tlp, submitted_by, created_at, updated_at) "
                "VALUES (:id, 'running', 'analysing', 20, 'paste', 'clear', 'analyst', :at, :at)"),
                {"id": job, "at": when})
    engine.dispose()
    with open_store(db) as store:                # upgraded to head on opening
        assert reap(store.engine) == 1
        assert {k: v[0] for k, v in _states(store).items()} == {"recent": "running", "stalled": "failed"}
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005_batch_inputs")
        assert {"owner", "heartbeat_at"}.isdisjoint(c["name"] for c in inspect(connection).get_columns("jobs"))
    engine.dispose()
