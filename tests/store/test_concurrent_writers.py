"""Many writers at once on one store lose nothing: `analyze --jsonl` batches and `ingest` runs in parallel
processes, on SQLite (WAL, busy timeout, migrations under a lock) and on PostgreSQL when THREADLINE_TEST_POSTGRES
names a throwaway database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from threadline.store import open_store

THREADLINE = Path(sys.executable).with_name("threadline")
DATA = Path(__file__).resolve().parents[1] / "data"
POSTGRES = os.environ.get("THREADLINE_TEST_POSTGRES", "")
ANALYZERS, RECORDS, INGESTERS = 3, 4, 2

pytestmark = pytest.mark.skipif(not THREADLINE.is_file(), reason=f"the threadline command is not installed next to "
                                                                 f"{sys.executable}")


def _texts() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted((DATA / "reports").glob("*.md"))
            + sorted((DATA / "reports").glob("*.txt"))]


def _fresh_postgres() -> str:
    pytest.importorskip("psycopg", reason="the psycopg driver is needed for PostgreSQL")
    from sqlalchemy import create_engine, text

    from threadline.store.models import Base

    engine = create_engine(POSTGRES)
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {', '.join([*Base.metadata.tables, 'alembic_version'])} CASCADE"))
    engine.dispose()
    return POSTGRES


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not POSTGRES, reason="set THREADLINE_TEST_POSTGRES to a throwaway PostgreSQL URL"))])
def test_parallel_batches_and_ingests_lose_nothing(tmp_path: Path, backend: str) -> None:
    db = str(tmp_path / "fresh" / "shared.db") if backend == "sqlite" else _fresh_postgres()
    env = {**os.environ, "THREADLINE_DB": db, "THREADLINE_CACHE": str(tmp_path / "cache"),
           "THREADLINE_DATA": str(tmp_path / "data")}
    texts = _texts()
    commands: list[list[str]] = []
    for writer in range(ANALYZERS):        # each batch: reports of its own (a line added makes each distinct)
        batch = tmp_path / f"batch-{writer}.jsonl"
        batch.write_text("".join(json.dumps({"id": f"w{writer}-r{n}", "text": texts[(writer + n) % len(texts)]
                                             + f"\n\nDistributed to partner {writer}-{n}."}) + "\n"
                                 for n in range(RECORDS)), encoding="utf-8")
        commands.append(["analyze", "--jsonl", str(batch)])
    for writer in range(INGESTERS):
        folder = tmp_path / f"ingest-{writer}"
        folder.mkdir()
        for n, text in enumerate(texts):
            (folder / f"report-{n}.md").write_text(f"{text}\n\nArchived copy {writer}-{n}.", encoding="utf-8")
        commands.append(["ingest", str(folder)])
    processes = [subprocess.Popen([str(THREADLINE), *command], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for command in commands]
    outcomes = [(command, *process.communicate(timeout=900), process.returncode)
                for command, process in zip(commands, processes, strict=True)]
    for command, _, err, code in outcomes:
        assert code == 0, f"{command}: {err}"
    analysed = [json.loads(line)["id"] for _, out, _, _ in outcomes[:ANALYZERS] for line in out.splitlines()]
    assert sorted(analysed) == sorted(f"w{w}-r{n}" for w in range(ANALYZERS) for n in range(RECORDS))
    with open_store(db) as store:
        from threadline.store.analyses import list_analyses

        assert store.count_documents() == ANALYZERS * RECORDS + INGESTERS * len(texts)
        assert len(list_analyses(store)) == ANALYZERS * RECORDS
