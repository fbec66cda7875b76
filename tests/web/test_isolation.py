"""Submitted reports analysed in a child process (setting job_isolation: process, the default): one huge
allocation fails in the child's memory cap with one line naming the document and the stage, a child that dies
(the kernel's out-of-memory killer, a C parser's crash) fails its job alone with the reason, and the next job gets
a fresh child."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import analyst_api
from threadline.store import open_store

SENTENCE = "APT28 sent spearphishing attachments; the implant beaconed to 45.137.21.9 and used Mimikatz."

# One allocation of 3 GB in a single C call, inside a stage: the resident-memory check cannot see it coming.
_ONE_HUGE_ALLOCATION = """
from threadline.errors import LimitError
from threadline.limits import stage
from threadline.web.isolate import _cap_memory

_cap_memory()
try:
    with stage("entities", "big.txt", seconds=30):
        block = b"x" * (3 * 1024 ** 3)
    print("allocated", len(block))
except LimitError as exc:
    print(exc.one_line())
with stage("entities", "next.txt", seconds=30):
    print("next", len(b"y" * (16 * 1024 ** 2)))
"""


def test_one_huge_allocation_fails_in_the_cap_with_the_document_and_the_stage() -> None:
    env = {**os.environ, "THREADLINE_STAGE_MAX_MEMORY": str(100 * 1024 * 1024)}
    def backstop() -> None:      # should the cap not hold, the test must still not take 3 GB of a shared machine
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (5 * 1024 ** 3, resource.RLIM_INFINITY))

    done = subprocess.run([sys.executable, "-c", _ONE_HUGE_ALLOCATION], env=env, capture_output=True, text=True,
                          timeout=120, preexec_fn=backstop)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "big.txt: stage entities stopped: it ran out of memory (the process's memory limit; setting "
        "stage_max_memory)", f"next {16 * 1024 ** 2}"]


def _wait_for(client: TestClient, job: str, until: tuple[str, ...] = ("done", "failed"),
              limit: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        shown: dict[str, Any] = client.get(f"/jobs/{job}.json").json()
        if shown["state"] in until or (shown["step"] or "").startswith(until):
            return shown
        time.sleep(0.05)
    raise AssertionError(f"job {job} did not reach {until} within {limit} s")


def test_a_dead_analysis_process_fails_its_job_alone_and_is_replaced(kb: Any, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:

    monkeypatch.setenv("THREADLINE_JOB_ISOLATION", "process")
    with open_store(tmp_path / "web.db") as store:
        with analyst_api(store, kb) as (app, client):
            def submit(name: str, text: str) -> str:
                response = client.post("/submit", data={"tlp": "clear"},
                                       files={"file": (name, text.encode(), "text/plain")})
                assert response.status_code == 202, response.text
                return str(response.json()["job"])

            long_job = submit("long.txt", " ".join([SENTENCE] * 22_000))
            _wait_for(client, long_job, until=("analysing document",))
            child = app.state.threadline.jobs.isolated._process
            os.kill(child.pid, signal.SIGKILL)                  # as the out-of-memory killer would
            failed = _wait_for(client, long_job)
            after = _wait_for(client, submit("after.txt", SENTENCE + " Then it moved laterally."))
            replaced = app.state.threadline.jobs.isolated._process
        assert failed["state"] == "failed", failed
        assert failed["error"] == ("upload:long.txt: the analysis process died (killed by SIGKILL; out of memory?); "
                                   "submit the report again or split it")
        assert after["state"] == "done", after
        assert replaced.pid != child.pid
        with store.engine.connect() as connection:
            from sqlalchemy import text

            assert connection.execute(text("SELECT count(*) FROM analyses")).scalar_one() == 1
