"""Several processes creating one new database at once: every document is stored, none fails."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

PROCESSES = 12


def _ingest(url: str, number: int, file_lock: bool, start: Any, results: Any) -> None:
    """One process: open (creating and migrating) the store as soon as every process is ready, save a document."""
    from threadline.errors import ThreadlineError
    from threadline.model import Document
    from threadline.store import database, open_store

    if not file_lock:
        setattr(database, "fcntl", None)  # noqa: B010   as on Windows: SQLite's own write lock must serialise the migrations alone
    doc = Document(text=f"Report {number}: APT-C-{number} used ShadowPad against a telecom operator.",
                   source=f"reports/{number}.txt")
    start.wait()
    try:
        with open_store(url) as store:
            saved = store.save_document(doc)
        results.put((number, "stored" if saved.stored else "already stored"))
    except ThreadlineError as exc:
        results.put((number, str(exc)))


def ingest_at_once(url: str, processes: int = PROCESSES, *, file_lock: bool = True) -> dict[int, str]:
    """Start ``processes`` fresh interpreters (spawn) that open ``url`` and store one document each, together."""
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(processes), context.Queue()
    workers = [context.Process(target=_ingest, args=(url, n, file_lock, start, results)) for n in range(processes)]
    for worker in workers:
        worker.start()
    try:
        return dict(results.get(timeout=180) for _ in workers)
    finally:
        for worker in workers:
            worker.join(timeout=60)


@pytest.mark.parametrize("file_lock", [True, False], ids=["file-lock", "sqlite-lock-only"])
def test_processes_creating_one_new_sqlite_database_at_once_all_store(tmp_path: Path, file_lock: bool) -> None:
    # 9 of 48 such processes failed with "table documents already exists" and their documents were lost.
    path = str(tmp_path / "fresh" / "shared.db")
    assert ingest_at_once(path, file_lock=file_lock) == {n: "stored" for n in range(PROCESSES)}
    from threadline.store import open_store

    with open_store(path) as store, store.engine.connect() as connection:
        assert store.count_documents() == PROCESSES
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
