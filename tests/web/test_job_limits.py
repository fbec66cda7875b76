"""Bounded work per document in the web app: a pathological report submitted on the web is analysed by the
background job thread, where no alarm signal reaches; its stage still stops at ``stage_timeout`` with the one-line
error naming the document and the stage, nothing of it is stored, and the worker goes on with the next job."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import analyst_api
from threadline.store import open_store

SENTENCE = "APT28 sent spearphishing attachments; the implant beaconed to 45.137.21.9 and used Mimikatz."
LIMIT = 1.0


def _wait_for(client: TestClient, job: str, limit: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        shown: dict[str, Any] = client.get(f"/jobs/{job}.json").json()
        if shown["state"] in ("done", "failed"):
            return shown
        time.sleep(0.05)
    raise AssertionError(f"job {job} did not finish within {limit} s")


@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_a_pathological_submission_stops_in_its_stage_and_the_next_job_runs(
        kb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolation: str) -> None:
    """In a child process (the default: the stage alarm works there, under a memory cap) and in the server's job
    thread (setting job_isolation: thread; the cooperative checks stop it)."""
    # 2 MB of dense report text: entities and techniques take several seconds each without the limit.
    hostile = " ".join([SENTENCE] * 22_000)
    monkeypatch.setenv("THREADLINE_STAGE_TIMEOUT", str(LIMIT))
    monkeypatch.setenv("THREADLINE_JOB_ISOLATION", isolation)
    with open_store(tmp_path / "web.db") as store:
        with analyst_api(store, kb) as (_, client):
            def submit(**fields: Any) -> str:
                response = client.post("/submit", data={"tlp": "clear"}, **fields)
                assert response.status_code == 202, response.text
                return str(response.json()["job"])

            # a first report: the analysis process starts, models and lexicons load (not any document's work)
            assert _wait_for(client, submit(files={"file": ("first.txt", SENTENCE.encode(), "text/plain")}))[
                "state"] == "done"
            started = time.monotonic()
            first = submit(files={"file": ("hostile.txt", hostile.encode(), "text/plain")})
            second = submit(files={"file": ("next.txt", (SENTENCE + " Then it moved laterally.").encode(),
                                            "text/plain")})
            failed = _wait_for(client, first)
            seconds = time.monotonic() - started
            done = _wait_for(client, second)
        assert failed["state"] == "failed" and failed["report"] is None
        assert re.fullmatch(r"upload:hostile\.txt: stage (sentences|entities|techniques|iocs|attribution) stopped: "
                            r"it took more than 1 s \(setting stage_timeout\)", failed["error"]), failed["error"]
        # reading, then at most the stopped stage's second and those before it (each well under it here), with
        # room for a loaded machine; unbounded, the analysis takes 8 s and more
        assert seconds < 6 * LIMIT, seconds
        assert done["state"] == "done", done
        with store.engine.connect() as connection:
            from sqlalchemy import text

            stored = connection.execute(text("SELECT count(*) FROM documents")).scalar_one()
            analysed = connection.execute(text("SELECT count(*) FROM analyses")).scalar_one()
        assert stored == analysed == 2          # the two short reports: nothing of the stopped one
