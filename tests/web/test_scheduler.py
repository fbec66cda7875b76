"""`threadline serve --scheduler`: submitted reports are analysed on a Dask cluster by the batch code
(threadline.scale) and stored once by the server, the single writer, under the marking they were submitted at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.web.conftest import PASSWORD, REPO, csrf_of, login
from threadline.store import Store, open_store
from threadline.store.models import AnalysisRow, BatchInputRow, DocumentRow

NEWS = (REPO / "tests" / "data" / "e2e" / "news-brief.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A real local Dask cluster: one worker process (it loads the knowledge base and models once)."""
    import importlib
    import logging

    local_cluster: Any = importlib.import_module("distributed").LocalCluster       # untyped: kept behind Any
    with local_cluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=logging.CRITICAL) as cluster:
        yield str(cluster.scheduler_address)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    from threadline.web.auth import add_user

    with open_store(tmp_path / "cluster.db") as opened:
        add_user(opened, "analyst", "analyst", PASSWORD)
        add_user(opened, "viewer", "viewer", PASSWORD)
        yield opened


def _count(store: Store, model: type[Any]) -> int:
    with Session(store.engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _submit(client: TestClient, **fields: Any) -> dict[str, Any]:
    data = {"csrf": csrf_of(client, "/submit"), "tlp": "clear", **fields}
    response = client.post("/submit", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    job: dict[str, Any] = client.get(response.headers["location"] + ".json").json()
    return job


def test_submitted_report_is_analysed_on_the_cluster_and_stored_once(
        scheduler: str, store: Store, kb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from threadline import analysis
    from threadline.web import create_app

    expected = analysis.analyze_document(_news_document(), kb)

    def not_here(*_: Any, **__: Any) -> Any:
        raise AssertionError("the server analysed the report itself instead of the Dask worker")

    monkeypatch.setattr(analysis, "analyze_document", not_here)     # this process only: the worker is another one
    app = create_app(store, kb=kb, secret="test-secret", background=False, scheduler=scheduler)
    with TestClient(app) as client:
        login(client, "analyst")
        job = _submit(client, text=NEWS, title="News brief on the cluster", tlp="amber")
        assert job["state"] == "done" and job["progress"] == 100, job
        report = client.get(job["report"] + ".json").json()
        assert report["tlp"] == "amber"
        assert report["analysis"]["document"]["title"] == "News brief on the cluster"
        got = report["analysis"]
        assert sorted(t["id"] for t in got["techniques"]) == sorted(t["id"] for t in expected["techniques"])
        assert [i["value"] for i in got["iocs"]] == [i["value"] for i in expected["iocs"]]
        again = _submit(client, text=NEWS, title="News brief on the cluster", tlp="amber")     # the same report
        assert again["state"] == "done" and again["report"] == job["report"]
        assert (_count(store, DocumentRow), _count(store, AnalysisRow), _count(store, BatchInputRow)) == (1, 1, 1)
        with Session(store.engine) as session:                 # filed under its marking, not as TLP:CLEAR
            assert session.scalar(select(DocumentRow.tlp)) == "amber"
            assert session.scalar(select(AnalysisRow.tlp)) == "amber"
        viewer = TestClient(app)
        login(viewer, "viewer")
        assert viewer.get(job["report"] + ".json").status_code == 404
        assert viewer.get("/.json").json()["rows"] == []


def test_a_report_the_worker_cannot_read_fails_with_its_reason(scheduler: str, store: Store, kb: Any) -> None:
    from threadline.web import create_app

    app = create_app(store, kb=kb, secret="test-secret", background=False, scheduler=scheduler)
    with TestClient(app) as client:
        login(client, "analyst")
        job = _submit(client, url="http://127.0.0.1:9/report.html")     # loopback: refused by the worker too
        assert job["state"] == "failed" and "127.0.0.1" in job["error"] and job["report"] is None
    assert _count(store, AnalysisRow) == 0


def test_serve_refuses_a_scheduler_that_is_not_an_address(run_cli: Any, tmp_path: Path) -> None:
    code, _, err = run_cli("serve", "--db", str(tmp_path / "x.db"), "--scheduler", "localhost-8786")
    assert code == 2 and "tcp://HOST:PORT" in err and "Traceback" not in err


def _news_document() -> Any:
    from threadline.ingest.pipeline import documents_from
    from threadline.ingest.source import Raw

    return documents_from(Raw(data=NEWS.encode("utf-8"), source="paste"))[0]


def test_a_batch_files_each_analysis_under_its_marking(store: Store, kb: Any) -> None:
    """The batch writer (`analyze --workers/--scheduler`, serve's cluster jobs) keeps a report's TLP: before, a
    TLP:RED front matter was filed as TLP:CLEAR, visible to anonymous readers. A marking only goes up."""
    from threadline.analysis import analyze_document
    from threadline.ingest.pipeline import documents_from
    from threadline.ingest.source import read_source
    from threadline.store.batches import Entry, save_batch

    red = documents_from(read_source(str(REPO / "tests" / "data" / "web" / "red-report.md")))[0]
    save_batch(store, [Entry("k1", "red-report.md", [red], [analyze_document(red, kb)])])
    with Session(store.engine) as session:
        assert session.scalar(select(AnalysisRow.tlp)) == "red" and session.scalar(select(DocumentRow.tlp)) == "red"
    red.metadata.pop("tlp", None)                        # the same text again, without its marking
    save_batch(store, [Entry("k2", "pasted", [red], [analyze_document(red, kb)])])
    with Session(store.engine) as session:
        row = session.scalars(select(AnalysisRow)).one()
        assert row.tlp == "red" and row.data["document"]["tlp"] == "red"
