"""The single writer's batches (store/batches.py): whole inputs per transaction, idempotent, on SQLite and
PostgreSQL; no cluster needed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from threadline.errors import StoreError
from threadline.ingest import ingest
from threadline.store import Store
from threadline.store.analyses import get_analysis
from threadline.store.batches import Entry, committed_keys, save_batch
from threadline.store.models import AnalysisRow, BatchInputRow, DocumentRow, FindingRow

DATA = Path(__file__).resolve().parents[1] / "data" / "reports"


def _entries(analyse: Callable[[Path], dict[str, Any]]) -> list[Entry]:
    out = []
    for n, path in enumerate(sorted(DATA.iterdir())[:3]):
        doc = ingest(str(path))[0]
        out.append(Entry(f"{n:064x}", str(path), [doc], [analyse(path)]))
    return out


def _counts(store: Store) -> tuple[int, int, int, int]:
    with Session(store.engine) as session:
        return tuple(int(session.scalar(select(func.count()).select_from(m)) or 0)     # type: ignore[return-value]
                     for m in (DocumentRow, AnalysisRow, FindingRow, BatchInputRow))


def test_a_batch_stored_twice_is_stored_once(store: Store, analyse: Callable[[Path], dict[str, Any]]) -> None:
    entries = _entries(analyse)
    assert save_batch(store, entries) == 3
    first = _counts(store)
    assert first[0] == first[1] == first[3] == 3 and first[2] > 30
    assert save_batch(store, entries) == 3            # a rerun that redoes a committed batch: same rows
    assert save_batch(store, entries[1:]) == 2
    assert _counts(store) == first
    for entry in entries:
        assert get_analysis(store, entry.documents[0].sha256) == entry.analyses[0]
    assert committed_keys(store, [e.key for e in entries] + ["f" * 64]) == {e.key for e in entries}


def test_one_document_in_two_inputs_is_one_analysis(store: Store,
                                                    analyse: Callable[[Path], dict[str, Any]]) -> None:
    entry = _entries(analyse)[0]
    twin = Entry("e" * 64, "copy of " + entry.source, entry.documents, entry.analyses)
    save_batch(store, [entry, twin])
    documents, analyses, _, inputs = _counts(store)
    assert (documents, analyses, inputs) == (1, 1, 2)


def test_a_failing_batch_leaves_nothing(store: Store, analyse: Callable[[Path], dict[str, Any]]) -> None:
    entries = _entries(analyse)
    broken = Entry("d" * 64, "broken", entries[0].documents, [{**entries[0].analyses[0], "document": {
        **entries[0].analyses[0]["document"], "sha256": "0" * 64}}])     # an analysis of no stored document
    with pytest.raises(StoreError):
        save_batch(store, [*entries[1:], broken])
    assert _counts(store) == (0, 0, 0, 0)
    assert committed_keys(store, [e.key for e in entries]) == set()


def test_findings_made_by_a_worker_are_those_the_writer_makes(store: Store,
                                                               analyse: Callable[[Path], dict[str, Any]]) -> None:
    from threadline.store.analyses import finding_values

    entries = _entries(analyse)
    save_batch(store, entries[:1])
    with Session(store.engine) as session:
        made_here = sorted(session.execute(select(FindingRow.id, FindingRow.kind, FindingRow.key, FindingRow.start)))
        session.execute(delete(FindingRow))
        session.commit()
    entry = entries[0]
    entry.findings = [row for a in entry.analyses for row in finding_values(a["document"]["sha256"], a)]
    save_batch(store, [entry])
    with Session(store.engine) as session:
        assert sorted(session.execute(select(FindingRow.id, FindingRow.kind, FindingRow.key,
                                             FindingRow.start))) == made_here


def test_a_workers_result_is_the_entry_the_writer_stores(store: Store) -> None:
    """scale.work.Result carries its analyses made ready for the writer (JSON text, finding and link rows): the
    writer stores it as it comes, and what it stores is what the writer makes of the plain analysis (the same JSON,
    findings and links as an Entry of dicts gives)."""
    from threadline.scale.items import record_item
    from threadline.scale.work import Result
    from threadline.scale.work import analyse as work
    from threadline.store.models import GroupLinkRow

    text = (DATA / sorted(p.name for p in DATA.iterdir())[0]).read_text(encoding="utf-8")
    fields_ = {"id": "r1", "text": text, "title": "one", "source": "jsonl:r1", "published": None}
    result = work(record_item(fields_, fields_, "test:1", ()))
    assert isinstance(result, Result) and result.error is None and result.prepared[0].findings
    assert save_batch(store, [result.entry()]) == 1
    assert committed_keys(store, [result.key]) == {result.key}
    (analysis,) = result.analyses
    assert get_analysis(store, result.documents[0].sha256) == analysis

    def stored() -> list[Any]:
        with Session(store.engine) as session:
            return [sorted(tuple(r) for r in session.execute(select(*m.__table__.columns).order_by(m.id)))
                    for m in (FindingRow, GroupLinkRow)] + [
                session.execute(select(AnalysisRow.data, AnalysisRow.tlp, AnalysisRow.title)).all()]

    by_worker = stored()
    save_batch(store, [Entry(result.key, result.source, result.documents, [analysis])])     # made by the writer
    assert stored() == by_worker and by_worker[0]
