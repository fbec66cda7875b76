"""The store's group links as rows (issue 15): written with each analysis by every writer, replaced with it, gone
with its document, backfilled by the migration; `analyze` reads them instead of re-parsing every stored analysis,
and gets exactly the links the analyses' JSON gives. On SQLite, and on PostgreSQL when THREADLINE_TEST_POSTGRES
names a throwaway database."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, delete, func, select, text
from sqlalchemy.orm import Session

from threadline.attribute.known import Known, claimed_group, known_links, store_known, stored_known
from threadline.ingest import ingest
from threadline.knowledge.base import KnowledgeBase
from threadline.store import Store, open_store
from threadline.store.analyses import link_rows, list_analyses, save_analysis
from threadline.store.batches import Entry, save_batch
from threadline.store.models import Base, DocumentRow, GroupLinkRow

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
# every report of the test data (none from AnnoCTR or TRAM), a few of which claim exactly one group
REPORTS = [*sorted((DATA / "reports").iterdir()), DATA / "ingest" / "lanternfish.md",
           ROOT / "examples" / "operation-dianxun.md"]
HERON = DATA / "reports" / "silent-heron.html"
PG_URL = os.environ.get("THREADLINE_TEST_POSTGRES", "")
Analyse = Callable[[str | Path], dict[str, Any]]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.skipif(
    not PG_URL, reason="set THREADLINE_TEST_POSTGRES to a throwaway PostgreSQL URL"))])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = str(tmp_path / "links.db")
    if request.param == "postgres":
        pytest.importorskip("psycopg", reason="the psycopg driver is needed for PostgreSQL")
        engine = create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS {', '.join([*Base.metadata.tables, 'alembic_version'])} "
                              "CASCADE"))
        engine.dispose()
        url = PG_URL
    with open_store(url) as opened:
        yield opened


def _store_all(store: Store, analyse: Analyse, *, amber: str = "") -> list[dict[str, Any]]:
    """Every report stored and analysed, half through save_analysis (`analyze`), half through save_batch (the
    cluster's and the web's writer); the report named ``amber`` marked TLP:AMBER."""
    saved = []
    for n, path in enumerate(REPORTS):
        doc = ingest(str(path))[0]
        analysis = analyse(path)
        if path.name == amber:
            analysis["document"]["tlp"] = "amber"
        if n % 2:
            store.save_document(doc)
            save_analysis(store, analysis)
        else:
            save_batch(store, [Entry(f"k{n}", str(path), [doc], [analysis])])
        saved.append(analysis)
    return saved


def _rows(store: Store) -> list[tuple[str, str, str, str]]:
    with Session(store.engine) as session:
        return sorted((str(a), str(b), str(c), str(d)) for a, b, c, d in session.execute(
            select(GroupLinkRow.document_id, GroupLinkRow.group_id, GroupLinkRow.kind, GroupLinkRow.key)))


def test_the_table_gives_exactly_the_links_of_the_stored_analyses(store: Store, kb: KnowledgeBase,
                                                                   analyse: Analyse) -> None:
    saved = _store_all(store, analyse, amber=HERON.name)
    from_json = store_known(list_analyses(store), kb)
    from_rows = known_links(kb, store)
    claiming = {a["document"]["sha256"] for a in saved if claimed_group(a) in kb.by_attack_id}
    assert len(claiming) >= 2, "the test data has several reports claiming one group"
    assert {link.document for link in from_rows.links} == claiming
    assert from_rows == from_json and len(from_rows.links) > len(claiming)
    # as each stored report, and a new one, at every marking sees them: its own and stricter ones dropped
    for sha in [*(a["document"]["sha256"] for a in saved), "a new report"]:
        for level in ("clear", "amber", "red"):
            assert from_rows.for_document(sha, level) == from_json.for_document(sha, level)
    heron = analyse(HERON)["document"]["sha256"]
    assert {link.tlp for link in from_rows.links if link.document == heron} == {"amber"}
    assert not [link for link in from_rows.for_document("a new report", "clear").links if link.document == heron]


def test_a_resave_replaces_the_links_and_a_deleted_document_leaves_none(store: Store, kb: KnowledgeBase,
                                                                        analyse: Analyse) -> None:
    heron = analyse(HERON)
    sha = heron["document"]["sha256"]
    store.save_document(ingest(str(HERON))[0])
    save_analysis(store, heron)
    first = _rows(store)
    assert first and {r[0] for r in first} == {sha}
    save_analysis(store, heron)
    assert _rows(store) == first                                 # saved again: the same rows, not twice
    unclaimed = {**heron, "claims": []}                          # re-analysed, its claim gone: its links go
    save_analysis(store, unclaimed)
    assert _rows(store) == [] and stored_known(store) == Known()
    save_batch(store, [Entry("again", str(HERON), [], [heron])])
    assert _rows(store) == first
    save_batch(store, [Entry("again", str(HERON), [], [unclaimed])])
    assert _rows(store) == []
    save_analysis(store, heron)
    with Session(store.engine) as session, session.begin():      # the document deleted: its analysis and links go
        session.execute(delete(DocumentRow).where(DocumentRow.id == sha))
    assert _rows(store) == [] and not known_links(kb, store)


def test_rows_a_worker_made_are_those_the_writer_makes(store: Store, kb: KnowledgeBase, analyse: Analyse) -> None:
    heron = analyse(HERON)
    doc = ingest(str(HERON))[0]
    save_batch(store, [Entry("w", str(HERON), [doc], [heron])])
    made_here = _rows(store)
    save_batch(store, [Entry("w", str(HERON), [doc], [heron], links=link_rows(doc.sha256, heron, kb))])
    assert _rows(store) == made_here and made_here


def test_the_migration_backfills_the_links_of_analyses_stored_before_it(tmp_path: Path, kb: KnowledgeBase,
                                                                         analyse: Analyse) -> None:
    path = tmp_path / "old.db"
    with open_store(path) as opened:
        _store_all(opened, analyse)
        expected = _rows(opened)
        with opened.engine.begin() as conn:     # the store as 0006 left it: no table, analyses already there
            conn.execute(text("DROP TABLE group_links"))
            conn.execute(text("UPDATE alembic_version SET version_num = '0006_job_heartbeat'"))
    with open_store(path) as reopened:
        assert expected and _rows(reopened) == expected
        with Session(reopened.engine) as session:
            assert session.scalar(select(func.count()).select_from(GroupLinkRow)) == len(expected)


def test_kb_relink_makes_every_stored_analysis_s_links_again(store: Store, kb: KnowledgeBase, analyse: Analyse,
                                                             run_cli: Any) -> None:
    """After `kb update` the rows may be stale (made with another knowledge base), or missing (a backfill without
    a bundle); `kb relink` makes them again from the analyses, the same rows as each save makes, and again is a
    no-op."""
    _store_all(store, analyse)
    expected = _rows(store)
    with Session(store.engine) as session, session.begin():
        session.execute(delete(GroupLinkRow))
        session.add(GroupLinkRow(id="stale", document_id=expected[0][0], group_id="G0000", kind="software",
                                 key="S0000", source="an older knowledge base"))
    for _ in range(2):
        code, out, err = run_cli("kb", "relink", "--db", store.engine.url.render_as_string(hide_password=False))
        assert code == 0, err
        assert out.strip() == f"{len(expected)} group links from {len(REPORTS)} stored analyses"
        assert _rows(store) == expected
