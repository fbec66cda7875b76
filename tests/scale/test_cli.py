"""`threadline analyze --workers 2` from the command line: the same JSONL lines as one process, bad lines
reported as FILE:LINE, and a client killed mid-batch (with its local cluster) loses nothing that was committed
and, run again, redoes only the rest and stores no report twice; on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.scale.conftest import BACKENDS, fresh_url
from tests.scale.test_cluster import tram_records
from threadline.store import open_store
from threadline.store.models import AnalysisRow, BatchInputRow, DocumentRow

pytestmark = pytest.mark.slow


def threadline(*args: str) -> list[str]:
    return [sys.executable, "-c", "from threadline.cli import main; main()", *args]


def counts(url: str) -> tuple[int, int, int]:
    with open_store(url) as store, Session(store.engine) as session:
        return tuple(int(session.scalar(select(func.count()).select_from(m)) or 0)    # type: ignore[return-value]
                     for m in (DocumentRow, AnalysisRow, BatchInputRow))


def write_batch(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def test_jsonl_on_workers_is_jsonl_in_one_process(tmp_path: Path) -> None:
    batch = tmp_path / "batch.jsonl"
    records = tram_records(3, 800)
    batch.write_text(json.dumps(records[0]) + "\nnot json\n" + "".join(json.dumps(r) + "\n" for r in records[1:]),
                     encoding="utf-8")
    env = {**os.environ, "THREADLINE_DB": str(tmp_path / "one.db")}
    one = subprocess.run(threadline("analyze", "--jsonl", str(batch)), env=env, capture_output=True,
                         text=True, timeout=600)
    env["THREADLINE_DB"] = str(tmp_path / "dask.db")
    dask = subprocess.run(threadline("analyze", "--workers", "2", "--jsonl", str(batch)), env=env,
                          capture_output=True, text=True, timeout=600)
    assert one.returncode == dask.returncode == 2          # the bad line, reported, the others done
    assert f"{batch}:2: " in dask.stderr and "Traceback" not in dask.stderr

    def by_id(out: str) -> dict[str, Any]:
        lines = [json.loads(line) for line in out.splitlines()]
        return {line["id"]: line for line in lines}

    assert by_id(dask.stdout) == by_id(one.stdout) and len(by_id(one.stdout)) == 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_killed_client_loses_nothing_committed_and_stores_nothing_twice(backend: str, tmp_path: Path) -> None:
    url = fresh_url(backend, tmp_path)
    records = tram_records(30, 1200)
    batch = tmp_path / "batch.jsonl"
    write_batch(batch, records)
    env = {**os.environ, "THREADLINE_DB": url, "THREADLINE_BATCH_COMMIT": "1"}
    argv = threadline("analyze", "--workers", "2", "--jsonl", str(batch))
    # its own session, so that the kill takes the client and the cluster it started, as a killed terminal would
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            if counts(url)[2] >= 3:
                break
        assert proc.poll() is None, "the batch ended before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    documents, analyses, committed = counts(url)
    assert 3 <= committed < len(records) and documents == analyses == committed   # whole inputs only
    again = subprocess.run(argv, env={**env, "THREADLINE_BATCH_COMMIT": "32"}, capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stderr
    assert f"{committed} already committed by an earlier run, skipped" in again.stderr
    redone = [json.loads(line)["id"] for line in again.stdout.splitlines()]
    assert len(redone) == len(records) - committed == len(set(redone))        # only what was not committed
    assert counts(url) == (len(records), len(records), len(records))          # every report once


def test_scheduler_joins_an_existing_cluster_and_ships_files(client: Any, tmp_path: Path) -> None:
    """`--scheduler` on a running cluster (the session's, as a team's would be): local files are read by the
    command and shipped as bytes, so workers need not see this file system."""
    report = tmp_path / "report.md"
    report.write_text(tram_records(1, 1500)[0]["text"], encoding="utf-8")
    env = {**os.environ, "THREADLINE_DB": str(tmp_path / "scheduler.db")}
    done = subprocess.run([*threadline("analyze", "--scheduler", client.scheduler.address, str(report), "--json")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    (analysis,) = json.loads(done.stdout)
    assert analysis["document"]["source"] == str(report) and analysis["techniques"]
    assert "analysed 1 of 1 inputs (1 documents) on 2 workers" in done.stderr
    assert counts(str(tmp_path / "scheduler.db")) == (1, 1, 1)
    unreachable = subprocess.run(threadline("analyze", "--scheduler", "tcp://127.0.0.1:9", str(report)), env=env,
                                 capture_output=True, text=True, timeout=600)
    assert unreachable.returncode == 2 and "Traceback" not in unreachable.stderr
    assert unreachable.stderr.startswith("threadline: tcp://127.0.0.1:9: cannot reach the Dask scheduler")


def _dask_cluster(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes], str]:
    """A scheduler and one worker started with Dask's own command line, as a team deploys them."""
    dask = str(Path(sys.executable).with_name("dask"))
    spec = tmp_path / "scheduler.json"
    spec.unlink(missing_ok=True)
    scheduler = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                  "--scheduler-file", str(spec)], env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    address = ""
    while not address and time.monotonic() < deadline:
        try:          # the file is there before Dask has written it (seen empty on a loaded machine)
            address = str(json.loads(spec.read_text(encoding="utf-8"))["address"])
        except (OSError, ValueError, KeyError):
            time.sleep(0.2)
    assert address, "the Dask scheduler did not write its file in 120 s"
    worker = subprocess.Popen([dask, "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return scheduler, worker, address


def test_a_killed_scheduler_loses_nothing_committed(tmp_path: Path) -> None:
    records = tram_records(24, 1200)
    batch = tmp_path / "batch.jsonl"
    write_batch(batch, records)
    url = str(tmp_path / "batch.db")
    env = {**os.environ, "THREADLINE_DB": url, "THREADLINE_BATCH_COMMIT": "1"}
    scheduler, worker, address = _dask_cluster(tmp_path, env)
    try:
        proc = subprocess.Popen(threadline("analyze", "--scheduler", address, "--jsonl", str(batch)), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None and counts(url)[2] < 2:
            time.sleep(0.2)
        assert proc.poll() is None, "the batch ended before its scheduler could be killed"
        scheduler.kill()
        _, err = proc.communicate(timeout=300)
    finally:
        for process in (scheduler, worker):
            process.kill()
            process.wait(timeout=60)
    assert proc.returncode == 2 and "Traceback" not in err
    assert "lost the Dask scheduler" in err and "run the same command again" in err
    documents, analyses, committed = counts(url)
    assert 2 <= committed < len(records) and documents == analyses == committed
    scheduler, worker, address = _dask_cluster(tmp_path, env)
    try:
        again = subprocess.run(threadline("analyze", "--scheduler", address, "--jsonl", str(batch)), env=env,
                               capture_output=True, text=True, timeout=600)
    finally:
        for process in (scheduler, worker):
            process.kill()
            process.wait(timeout=60)
    assert again.returncode == 0, again.stderr
    assert f"{committed} already committed by an earlier run, skipped" in again.stderr
    assert counts(url) == (len(records), len(records), len(records))
