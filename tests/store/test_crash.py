"""`kill -9` in the middle of analyze, ingest and publish: the store stays consistent (SQLite's integrity check,
the migrations at head, every row whole) and running the same command again completes the work: every document
stored has its analysis, nothing is stored twice, and a site is either the old one or the new one, whole."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from threadline.store import open_store

THREADLINE = Path(sys.executable).with_name("threadline")
DATA = Path(__file__).resolve().parents[1] / "data"
REPORTS = [*sorted((DATA / "reports").iterdir()), *sorted((DATA / "e2e").glob("*.txt")),
           DATA / "e2e" / "front-matter.md", DATA / "e2e" / "advisory-table.html", DATA / "ingest" / "lanternfish.md"]

pytestmark = pytest.mark.skipif(not THREADLINE.is_file(), reason=f"the threadline command is not installed next to "
                                                                 f"{sys.executable}")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    for path in REPORTS:
        shutil.copy(path, folder / path.name)
    return folder


def _env(db: Path, tmp: Path) -> dict[str, str]:
    return {**os.environ, "THREADLINE_DB": str(db), "THREADLINE_CACHE": str(tmp / "cache"),
            "THREADLINE_DATA": str(tmp / "data")}


def _count(db: Path, table: str) -> int:
    """Rows of a table, read the way another process would (0 while the schema does not exist yet)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    except sqlite3.Error:
        return 0


def _kill_when(command: list[str], env: dict[str, str], ready: Callable[[], bool], limit: float = 120) -> bool:
    """Start the command, SIGKILL it as soon as ``ready()``; False when it finished first."""
    process = subprocess.Popen([str(THREADLINE), *command], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + limit
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if ready():
                os.kill(process.pid, signal.SIGKILL)
                process.wait(30)
                return True
            time.sleep(0.02)
        return False
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)


def _consistent(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    with open_store(str(db)) as store:          # opens, and the migrations are at head
        store.count_documents()


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(THREADLINE), *command], env=env, capture_output=True, text=True, timeout=600)


def _unanalysed(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM documents d LEFT JOIN analyses a ON a.document_id = d.id "
                                "WHERE a.document_id IS NULL").fetchone()[0])


@pytest.mark.parametrize("after", [1, 4])
def test_kill_during_analyze_then_the_rerun_completes_it(corpus: Path, tmp_path: Path, after: int) -> None:
    db = tmp_path / "store.db"
    env = _env(db, tmp_path)
    killed = _kill_when(["analyze", str(corpus), "--json"], env, lambda: _count(db, "documents") >= after)
    assert killed, "analyze finished before it could be killed"
    _consistent(db)
    assert _count(db, "analyses") < len(REPORTS)        # it was stopped half-way
    done = _run(["analyze", str(corpus), "--json"], env)
    assert done.returncode == 0, done.stderr
    _consistent(db)
    assert _count(db, "documents") == _count(db, "analyses") == len(REPORTS)
    assert _unanalysed(db) == 0


def test_kill_during_ingest_then_the_rerun_stores_each_document_once(corpus: Path, tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    env = _env(db, tmp_path)
    if not _kill_when(["ingest", str(corpus)], env, lambda: _count(db, "documents") >= 1):
        pytest.skip("ingest finished before it could be killed (a very fast machine)")
    _consistent(db)
    done = _run(["ingest", str(corpus)], env)
    assert done.returncode == 0, done.stderr
    _consistent(db)
    assert _count(db, "documents") == len(REPORTS)


def test_kill_during_publish_leaves_the_old_site_or_the_new_one_whole(corpus: Path, tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    env = _env(db, tmp_path)
    assert _run(["analyze", str(corpus), "--json"], env).returncode == 0
    reference, site = tmp_path / "reference", tmp_path / "site"
    assert _run(["publish", "--out", str(reference)], env).returncode == 0
    expected = sorted(str(p.relative_to(reference)) for p in reference.rglob("*"))
    assert _run(["publish", "--out", str(site)], env).returncode == 0     # an old site to replace

    def writing() -> bool:       # the new site is being written next to the old one
        return any(p.name.startswith(".site.") for p in tmp_path.iterdir())

    killed = _kill_when(["publish", "--out", str(site)], env, writing)
    if site.exists():
        assert sorted(str(p.relative_to(site)) for p in site.rglob("*")) == expected, "a half-written site"
    done = _run(["publish", "--out", str(site)], env)
    assert done.returncode == 0, done.stderr
    assert sorted(str(p.relative_to(site)) for p in site.rglob("*")) == expected
    assert killed or site.exists()
