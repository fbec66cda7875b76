"""Migration 0004 on a store written before it: analyses keep the TLP their report's front matter gave them, the
full-text index covers them, and a marking never goes down when a report is analysed again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from tests.web.conftest import DATA, REPO
from threadline.store.database import MIGRATIONS


def test_upgrade_from_0003_keeps_markings_and_indexes_old_reports(tmp_path: Path, analyse: Any) -> None:
    from threadline.store import open_store

    db = tmp_path / "old.db"
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, "0003_analyses")
        for path in (REPO / "examples" / "operation-dianxun.md", DATA / "red-report.md"):
            analysis = analyse(path)
            doc = analysis["document"]
            connection.execute(text(
                "INSERT INTO documents (id, source, media_type, title, published, author, site, text, pages, "
                "metadata, ingested_at) VALUES (:id, :source, 'text/markdown', :title, :published, NULL, NULL, "
                ":text, '[]', '{}', '2024-01-01 00:00:00')"),
                {"id": doc["sha256"], "source": doc["source"], "title": doc["title"], "published": doc["published"],
                 "text": path.read_text(encoding="utf-8")})
            connection.execute(text(
                "INSERT INTO analyses (document_id, schema_version, title, published, data, analysed_at) "
                "VALUES (:id, 1, :title, :published, :data, '2024-01-01 00:00:00')"),
                {"id": doc["sha256"], "title": doc["title"], "published": doc["published"],
                 "data": json.dumps(analysis)})
    engine.dispose()
    with open_store(db) as store, store.engine.connect() as connection:
        levels: dict[str, str] = {str(title): str(tlp) for title, tlp in
                                  connection.execute(text("SELECT title, tlp FROM analyses"))}
        assert sorted(levels.values()) == ["clear", "red"]
        assert next(v for k, v in levels.items() if "Crimson" in k) == "red"
        hits = connection.execute(text(
            "SELECT a.title FROM report_search JOIN search_keys k ON k.id = report_search.rowid "
            "JOIN analyses a ON a.document_id = k.document_id WHERE report_search MATCH '\"lantern\"'")).scalars()
        assert [h for h in hits if "Crimson" in h]
