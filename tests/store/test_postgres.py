"""The same store code on PostgreSQL: runs when THREADLINE_TEST_POSTGRES names a throwaway database URL.

    THREADLINE_TEST_POSTGRES=postgresql+psycopg://postgres@127.0.0.1:5432/threadline_test pytest tests/store

The database's Threadline tables are dropped first: never point it at a database that matters.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from threadline.model import Document, Page
from threadline.store import HEAD_REVISION, KnowledgeItem, Store, open_store
from threadline.store.models import Base

URL = os.environ.get("THREADLINE_TEST_POSTGRES", "")
pytestmark = pytest.mark.skipif(not URL, reason="set THREADLINE_TEST_POSTGRES to a throwaway PostgreSQL URL")
SAMPLES = Path(__file__).resolve().parents[1] / "data" / "ingest"


@pytest.fixture
def pg_store() -> Iterator[Store]:
    pytest.importorskip("psycopg", reason="the psycopg driver is needed for PostgreSQL")
    engine = create_engine(URL)
    # Every table the migrations create (read from the models, so a new migration's table is not missed).
    tables = ", ".join([*Base.metadata.tables, "alembic_version"])
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {tables} CASCADE"))
    engine.dispose()
    with open_store(URL) as store:
        yield store


def test_migrations_documents_and_knowledge_on_postgres(pg_store: Store) -> None:
    with pg_store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == HEAD_REVISION
    doc = Document(text="Lanternfish reused 103.56.17[.]24 — Diànxùn.", source="r.pdf",
                   media_type="application/pdf", pages=[Page(1, 0, 46)], metadata={"page_count": 1})
    assert pg_store.save_document(doc).stored and not pg_store.save_document(doc).stored
    back = pg_store.get_document(doc.sha256[:10])
    assert back.text == doc.text and back.pages == doc.pages and back.metadata == {"page_count": 1}
    item = KnowledgeItem(id="malware--3d4e5f60-7182-4930-a4b5-c6d7e8f90112", type="malware",
                         data={"name": "ReedLoader"}, name="ReedLoader", modified="2025-07-01T10:00:00.000Z")
    first = pg_store.save_knowledge([item], origin="stix", source="b.json", source_document="b" * 64)
    again = pg_store.save_knowledge([item], origin="stix", source="b.json", source_document="b" * 64)
    assert first.added == again.unchanged == [item.id]


def test_ingest_into_postgres(pg_store: Store) -> None:
    from threadline.ingest import ingest_into

    for name in ("lanternfish.pdf", "harbour.atom", "lanternfish-stix.json", "lanternfish-misp.json"):
        ingest_into(pg_store, str(SAMPLES / name))
    assert pg_store.count_documents() == 3 and pg_store.count_knowledge() == 12
    with open_store(URL) as reopened:   # a second open finds the schema at head and does not migrate again
        assert reopened.count_documents() == 3


def test_analysis_stored_on_postgres_and_idempotent(pg_store: Store, kb) -> None:  # type: ignore[no-untyped-def]
    from threadline.analysis import analyze_document
    from threadline.store.analyses import documents_with, get_analysis, list_analyses, save_analysis

    example = Path(__file__).resolve().parents[2] / "examples" / "operation-dianxun.md"
    doc = Document(text=example.read_text(encoding="utf-8"), source=str(example))
    pg_store.save_document(doc)
    result = analyze_document(doc, kb)
    assert save_analysis(pg_store, result) is False
    assert save_analysis(pg_store, result) is True           # replaced, not duplicated
    assert len(list_analyses(pg_store)) == 1
    assert documents_with(pg_store, "actor", "G0129") == [doc.sha256]
    back = get_analysis(pg_store, doc.sha256[:12])
    assert back["document"]["sha256"] == doc.sha256 and back["campaigns"] == result["campaigns"]   # Unicode intact


def test_processes_creating_the_schema_at_once_all_store(pg_store: Store) -> None:
    from tests.store.test_concurrency import PROCESSES, ingest_at_once

    pg_store.close()
    engine = create_engine(URL)
    with engine.begin() as conn:       # an empty database again, which every process then finds at once
        conn.execute(text(f"DROP TABLE IF EXISTS {', '.join([*Base.metadata.tables, 'alembic_version'])} CASCADE"))
    engine.dispose()
    assert ingest_at_once(URL) == {n: "stored" for n in range(PROCESSES)}
    with open_store(URL) as store:
        assert store.count_documents() == PROCESSES
