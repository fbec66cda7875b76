"""The store: migrations on open, documents stored once, knowledge imported by id, transactional writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from threadline import settings
from threadline.errors import NotFoundError, StoreError
from threadline.model import Document, Page
from threadline.store import HEAD_REVISION, KnowledgeItem, open_store
from threadline.store.database import MIGRATIONS


def _report(text_: str = "APT-C-99 used ShadowPad against a telecom operator in 2025.") -> Document:
    return Document(text=text_, source="reports/apt-c-99.pdf", media_type="application/pdf",
                    title="APT-C-99 targets telecoms", published="2025-06-01", author="Analyst",
                    site="example.org", pages=[Page(1, 0, len(text_))], metadata={"page_count": 1})


def test_open_creates_schema_at_head_revision(tmp_path: Path) -> None:
    with open_store(tmp_path / "sub" / "t.db") as store:
        tables = set(inspect(store.engine).get_table_names())
        with store.engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert {"documents", "knowledge_objects", "alembic_version"} <= tables
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert version == HEAD_REVISION == ScriptDirectory.from_config(config).get_current_head()
    revisions = [r.revision for r in ScriptDirectory.from_config(config).walk_revisions()]
    assert revisions == sorted(revisions, reverse=True)   # named, ordered: 0002_... after 0001_...


def test_document_round_trip_and_second_store_is_a_no_op(tmp_path: Path) -> None:
    doc = _report()
    with open_store(tmp_path / "t.db") as store:
        first = store.save_document(doc)
        second = store.save_document(_report())
        assert first.stored and not second.stored and first.sha256 == second.sha256 == doc.sha256
        assert store.count_documents() == 1
    with open_store(f"sqlite:///{tmp_path / 't.db'}") as store:   # reopening keeps the data, URL form too
        back = store.get_document(doc.sha256[:12])
    assert back.text == doc.text and back.pages == doc.pages and back.metadata == {"page_count": 1}
    assert (back.title, back.published, back.site, back.media_type) == (
        "APT-C-99 targets telecoms", "2025-06-01", "example.org", "application/pdf")


def test_unknown_document_id(tmp_path: Path) -> None:
    with open_store(tmp_path / "t.db") as store, pytest.raises(NotFoundError, match="no such document"):
        store.get_document("0" * 64)


def test_failed_batch_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    good = _report("First report text.")
    broken = _report("Second report text.")
    broken.source = None  # type: ignore[assignment]   # NOT NULL violation in the middle of the batch
    with open_store(tmp_path / "t.db") as store:
        with pytest.raises(StoreError) as info:
            store.save_documents([good, broken])
        assert "\n" not in str(info.value)
        assert store.count_documents() == 0


def test_same_text_twice_in_one_batch_is_stored_once(tmp_path: Path) -> None:
    with open_store(tmp_path / "t.db") as store:
        results = store.save_documents([_report(), _report()])
        assert [r.stored for r in results] == [True, False]
        assert store.count_documents() == 1


def test_knowledge_added_unchanged_and_updated_by_modified(tmp_path: Path) -> None:
    obj = {"type": "malware", "id": "malware--0b7e4c1a-1111-4a2b-9c3d-222233334444", "name": "ReedLoader",
           "modified": "2025-07-01T00:00:00.000Z"}
    item = KnowledgeItem(id=obj["id"], type="malware", data=obj, name="ReedLoader", modified=obj["modified"])
    newer = KnowledgeItem(id=obj["id"], type="malware", data={**obj, "modified": "2025-08-01T00:00:00.000Z",
                                                                "description": "now with XOR"},
                          name="ReedLoader", modified="2025-08-01T00:00:00.000Z")
    with open_store(tmp_path / "t.db") as store:
        r1 = store.save_knowledge([item], origin="stix", source="a.json", source_document="a" * 64)
        r2 = store.save_knowledge([item], origin="stix", source="a.json", source_document="a" * 64)
        r3 = store.save_knowledge([newer], origin="stix", source="b.json", source_document="b" * 64)
        r4 = store.save_knowledge([item], origin="stix", source="a.json", source_document="a" * 64)  # older
        assert (r1.added, r2.unchanged, r3.updated, r4.unchanged) == ([obj["id"]],) * 4
        assert store.get_knowledge(obj["id"])["description"] == "now with XOR"
        assert [o["name"] for o in store.knowledge_of_type("malware")] == ["ReedLoader"]
        assert store.count_knowledge() == 1


def test_not_a_database_is_a_one_line_error(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.db"
    bogus.write_bytes(b"these are my notes, not a SQLite database\n" * 100)
    with pytest.raises(StoreError) as info:
        open_store(bogus)
    assert str(bogus) in str(info.value) and "\n" not in str(info.value)


def test_default_location_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_DB", str(tmp_path / "env" / "from-env.db"))
    with open_store() as store:
        store.save_document(_report())
    assert (tmp_path / "env" / "from-env.db").is_file()


def test_a_concurrent_insert_of_the_same_content_reads_as_already_stored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.orm import Session

    with open_store(tmp_path / "t.db") as store:
        store.save_document(_report())
        real_get = Session.get
        lies = iter([True])   # the first existence check misses the row, as if another process wrote it just now

        def racing_get(self: Session, entity: Any, ident: Any, **kw: Any) -> Any:
            if next(lies, False):
                return None
            return real_get(self, entity, ident, **kw)

        monkeypatch.setattr(Session, "get", racing_get)
        [result] = store.save_documents([_report()])
        assert not result.stored and store.count_documents() == 1


def test_database_from_a_newer_threadline_is_a_one_line_error(tmp_path: Path) -> None:
    with open_store(tmp_path / "t.db") as store, store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
    with pytest.raises(StoreError) as info:
        open_store(tmp_path / "t.db")
    message = str(info.value)
    assert "\n" not in message and "t.db" in message and "0099_from_the_future" in message


def test_errors_never_print_the_database_password() -> None:
    url = "postgresql+psycopg://analyst:hunter2@127.0.0.1:1/threadline"    # loopback, nothing listens on port 1
    with pytest.raises(StoreError) as caught:
        open_store(url)
    assert "hunter2" not in str(caught.value) and "analyst:***@127.0.0.1" in str(caught.value)
    assert settings.shown_db(url) == "postgresql+psycopg://analyst:***@127.0.0.1:1/threadline"
    assert settings.shown_db("/data/threadline.db") == "/data/threadline.db"
