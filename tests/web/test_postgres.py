"""The web app on PostgreSQL (runs when THREADLINE_TEST_POSTGRES names a throwaway database URL): migration 0004's
full-text index answers the listing's search, and TLP filters the rows, counts and searches as on SQLite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from tests.web.conftest import DATA, REPO

URL = os.environ.get("THREADLINE_TEST_POSTGRES", "")
pytestmark = pytest.mark.skipif(not URL, reason="set THREADLINE_TEST_POSTGRES to a throwaway PostgreSQL URL")


@pytest.fixture(scope="module")
def pg_client(kb: Any) -> Iterator[tuple[TestClient, dict[str, str]]]:
    pytest.importorskip("psycopg", reason="the psycopg driver is needed for PostgreSQL")
    from threadline.analysis import analyze_document
    from threadline.ingest import ingest_into
    from threadline.store import open_store
    from threadline.store.analyses import save_analysis
    from threadline.store.models import Base
    from threadline.web import create_app

    engine = create_engine(URL)
    with engine.begin() as conn:              # the database's Threadline tables are dropped: a throwaway one only
        conn.execute(text(f"DROP TABLE IF EXISTS {', '.join([*Base.metadata.tables, 'alembic_version'])} CASCADE"))
    engine.dispose()
    ids = {}
    with open_store(URL) as store:
        for path in (REPO / "examples" / "operation-dianxun.md", DATA / "red-report.md"):
            doc = ingest_into(store, str(path)).documents[0]
            save_analysis(store, analyze_document(doc, kb))
            ids[str(doc.metadata.get("tlp") or "clear")] = doc.sha256
        with TestClient(create_app(store, kb=kb, secret="pg")) as client:
            yield client, ids


def test_search_uses_postgres_full_text_and_tlp(pg_client: tuple[TestClient, dict[str, str]]) -> None:
    client, ids = pg_client
    assert [r["id"] for r in client.get("/.json?q=Huawei careers").json()["rows"]] == [ids["clear"]]
    assert client.get("/.json?q=Crimson Lantern").json()["total"] == 0          # TLP:RED, anonymous
    assert client.get("/.json").json()["total"] == 1
    assert client.get(f"/reports/{ids['red']}.json").status_code == 404
    with create_engine(URL).connect() as conn:
        index = conn.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_documents_fts'")).scalar()
    assert index is not None and "gin" in index.lower() and "to_tsvector" in index
    assert client.get("/actors/G0129.json").json()["reports"][0]["id"] == ids["clear"]
