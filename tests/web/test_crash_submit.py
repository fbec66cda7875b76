"""`kill -9` of `threadline serve` while a submitted report is being analysed (and right after the submit returns,
and after the job finished): the store stays consistent, the interrupted job never claims to be done and is
reported as failed with a reason as soon as the server is started again, and the analyst's resubmission stores
the report exactly once, with its analysis."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.store.test_crash import THREADLINE, _consistent, _env, _unanalysed
from threadline.store import open_store

REPORT = Path(__file__).resolve().parents[1] / "data" / "reports" / "gov-advisory.md"

pytestmark = pytest.mark.skipif(not THREADLINE.is_file(), reason=f"the threadline command is not installed next to "
                                                                 f"{THREADLINE.parent}")


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    token: str

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}",
                                                        "Accept": "application/json"}, timeout=30)

    def kill(self) -> None:
        children = _children(self.process.pid)        # the analysis process, once a job has started it
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        assert _wait(lambda: not any(_running(pid) for pid in children), 30), \
            "an analysis process outlived the killed server"


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (ended, waiting for its new parent to collect its status)."""
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split() or ["Z"])[0] != "Z"
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(env: dict[str, str], token: str) -> Server:
    port = _port()
    process = subprocess.Popen([str(THREADLINE), "serve", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "threadline serve exited on start"
        try:
            if httpx.get(url + "/.json", timeout=2).status_code == 200:
                return Server(process, url, token)
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError("threadline serve did not answer within 30 s")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return _env(tmp_path / "store.db", tmp_path)


def _analyst(db: Path) -> str:
    from threadline.web.auth import add_user, create_token

    with open_store(str(db)) as store:
        add_user(store, "analyst", "analyst", "correct horse battery staple")
        return create_token(store, "analyst")


def _submit(server: Server) -> str:
    """The report uploaded as a browser's form does (multipart), asking for JSON as an API client."""
    with server.client() as client:
        response = client.post("/submit", data={"tlp": "green", "title": "Crash-test advisory"},
                               files={"file": (REPORT.name, REPORT.read_bytes(), "text/markdown")})
    assert response.status_code == 202, response.text
    return str(response.json()["job"])


def _job_row(db: Path, job: str) -> tuple[str, str | None]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        row = conn.execute("SELECT state, step FROM jobs WHERE id = ?", (job,)).fetchone()
    return (str(row[0]), row[1]) if row else ("missing", None)


def _wait(until: Callable[[], bool], limit: float = 60) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if until():
            return True
        time.sleep(0.02)
    return False


def _stored(db: Path) -> tuple[int, int]:
    with sqlite3.connect(db) as conn:
        return (int(conn.execute("SELECT count(*) FROM documents").fetchone()[0]),
                int(conn.execute("SELECT count(*) FROM analyses").fetchone()[0]))


# when: the moment of the kill, read from the job row the worker writes at every step
KILL_POINTS: dict[str, Callable[[str, str | None], bool]] = {
    "after-submit": lambda state, step: True,                                    # the request has just returned
    "analysing": lambda state, step: (step or "").startswith(("loading the knowledge base", "analysing")),
    "finished": lambda state, step: state == "done",
}


@pytest.mark.parametrize("when", list(KILL_POINTS))
def test_kill_during_a_web_submission_then_the_resubmission_completes_it(env: dict[str, str], tmp_path: Path,
                                                                         when: str) -> None:
    db = Path(env["THREADLINE_DB"])
    token = _analyst(db)
    server = _start(env, token)
    try:
        job = _submit(server)
        caught = _wait(lambda: KILL_POINTS[when](*_job_row(db, job)))
        server.kill()
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait(30)
    assert caught, f"the job never reached the kill point {when}: {_job_row(db, job)}"
    state, _ = _job_row(db, job)
    _consistent(db)
    documents, analyses = _stored(db)
    assert documents == analyses <= 1 and _unanalysed(db) == 0, "a document stored without its analysis"
    if when == "finished":
        assert state == "done" and documents == analyses == 1 and _unanalysed(db) == 0
    else:
        assert state in ("queued", "running"), f"killed mid-job, the job says {state}"

    server = _start(env, token)
    try:
        with server.client() as client:
            shown = client.get(f"/jobs/{job}.json").json()
            if when == "finished":
                assert shown["state"] == "done" and shown["report"]
            else:
                # Its owner, the killed server, is gone: the new server failed it on start, with why (it used to
                # stay "running" for half an hour), and it never claims to be done nor links a report.
                assert shown["state"] == "failed" and shown["report"] is None, shown
                assert "stopped before the analysis finished; submit the report again" in shown["error"]
                assert _job_row(db, job)[0] == "failed"          # written, not only shown
            again = _submit(server)
            assert _wait(lambda: _job_row(db, again)[0] in ("done", "failed"))
            finished = client.get(f"/jobs/{again}.json").json()
            assert finished["state"] == "done", finished
            report = client.get(finished["report"] + ".json").json()
            assert report["analysis"]["document"]["title"] == "Crash-test advisory"
    finally:
        server.kill()
    _consistent(db)
    assert _stored(db) == (1, 1), "the report is stored exactly once, with its analysis"
    assert _unanalysed(db) == 0
