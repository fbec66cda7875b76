"""`--tlp` on analyze and ingest: the marking is stored with the document, a stricter front-matter marking is kept,
and analysing again without --tlp never lowers it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.web.conftest import DATA, REPO


def _stored(db: str) -> dict[str, str]:
    from sqlalchemy import text

    from threadline.store import open_store

    with open_store(db) as store, store.engine.connect() as conn:
        return {str(doc): str(tlp) for doc, tlp in conn.execute(text(
            "SELECT d.title, a.tlp FROM analyses a JOIN documents d ON d.id = a.document_id"))}


def test_tlp_option(run_cli: Any, tmp_path: Path) -> None:
    db = str(tmp_path / "tlp.db")
    example = str(REPO / "examples" / "operation-dianxun.md")
    code, out, err = run_cli("analyze", "--db", db, "--tlp", "TLP:AMBER+STRICT", "--json", example)
    assert code == 0, err
    assert json.loads(out)[0]["document"]["tlp"] == "amber+strict"
    assert run_cli("analyze", "--db", db, example)[0] == 0                        # again, without --tlp
    assert set(_stored(db).values()) == {"amber+strict"}
    code, _, err = run_cli("analyze", "--db", db, "--tlp", "green", str(DATA / "red-report.md"))
    assert code == 0 and "red" in _stored(db).values()                            # front matter's RED is kept
    code, _, err = run_cli("ingest", "--db", db, "--tlp", "purple", example)
    assert code == 2 and "unknown TLP level" in err and "Traceback" not in err
    code, _, err = run_cli("ingest", "--db", db, "--tlp", "green", str(DATA / "amber-report.md"))
    assert code == 0, err


def test_tlp_option_on_workers(run_cli: Any, tmp_path: Path) -> None:
    """`analyze --workers` marks the documents as one process does: before, --tlp was ignored there and every
    analysis was filed as TLP:CLEAR, the front matter's RED included."""
    db = str(tmp_path / "workers.db")
    code, _, err = run_cli("analyze", "--db", db, "--workers", "1", "--tlp", "amber",
                           str(REPO / "examples" / "operation-dianxun.md"), str(DATA / "red-report.md"))
    assert code == 0, err
    assert sorted(_stored(db).values()) == ["amber", "red"]
