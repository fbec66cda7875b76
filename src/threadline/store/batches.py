"""Storing a batch of analysed inputs in one transaction, idempotently: the single writer of a distributed run
(:mod:`threadline.scale`) calls :func:`save_batch` every few dozen results.

Each input's documents, analyses, findings and its ``batch_inputs`` row are committed together or not at all, so a
run killed at any moment leaves whole inputs behind, and :func:`committed_keys` tells a rerun which to skip.
Storing twice changes nothing: a document is inserted only if absent (same content, same SHA-256), an analysis
replaces the one of its document (one per document: the primary key), an input's row is replaced.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from threadline.errors import StoreError
from threadline.model import Document
from threadline.store.analyses import analysis_tlp, finding_values, link_rows
from threadline.store.models import AnalysisRow, BatchInputRow, DocumentRow, FindingRow, GroupLinkRow
from threadline.store.records import Entry as Entry  # defined without SQLAlchemy: a Dask worker's Result is one
from threadline.store.repository import Store
from threadline.tlp import CLEAR, Level, normalise, stricter

_CHUNK = 500          # ids per IN (...) list: well under SQLite's and PostgreSQL's parameter limits


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


def committed_keys(store: Store, keys: Iterable[str]) -> set[str]:
    """The input keys among ``keys`` whose analyses an earlier run committed."""
    wanted = sorted(set(keys))
    found: set[str] = set()
    try:
        with Session(store.engine) as session:
            for part in _chunks(wanted):
                found.update(session.scalars(select(BatchInputRow.key).where(BatchInputRow.key.in_(part))))
    except SQLAlchemyError as exc:
        raise StoreError(f"database error: {exc.__class__.__name__}", where=store.url) from None
    return found


def _insert_missing(session: Session, model: type[Any], rows: list[dict[str, Any]], key: str) -> None:
    """INSERT ... ON CONFLICT DO NOTHING where the dialect has it (SQLite, PostgreSQL), else look first."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        session.execute(sqlite.insert(model).on_conflict_do_nothing(index_elements=[key]), rows)
        return
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        session.execute(postgresql.insert(model).on_conflict_do_nothing(index_elements=[key]), rows)
        return
    column = getattr(model, key)
    present = set(session.scalars(select(column).where(column.in_([r[key] for r in rows]))))
    missing = [r for r in rows if r[key] not in present]
    if missing:
        session.execute(insert(model), missing)


def _table(model: type[Any]) -> Table:
    """A mapped class's table: Core INSERTs into it skip the ORM's bulk path (see save_batch)."""
    table: Table = model.__table__
    return table


def _document_row(doc: Document, now: datetime) -> dict[str, Any]:
    return {"id": doc.sha256, "source": doc.source, "media_type": doc.media_type, "title": doc.title,
            "published": doc.published, "author": doc.author, "site": doc.site, "text": doc.text,
            "pages": [{"number": p.number, "start": p.start, "end": p.end} for p in doc.pages],
            "meta": dict(doc.metadata), "ingested_at": now}


def _mark(session: Session, analyses: dict[str, dict[str, Any]], ids: Sequence[str]) -> None:
    """File each analysis under its TLP marking, as :func:`~threadline.store.analyses.save_analysis` does: the
    analysis's own (``--tlp``, front matter) or the stored document's, whichever is stricter (a marking only goes
    up); the document row and the analysis's ``document.tlp`` get it too. Without this every batch analysis was
    filed as TLP:CLEAR, whatever the report said."""
    stored: dict[str, Level] = {}
    for part in _chunks(list(ids)):
        stored.update((i, normalise(t)) for i, t in session.execute(
            select(DocumentRow.id, DocumentRow.tlp).where(DocumentRow.id.in_(part))))
    for i in ids:
        level = stricter(analysis_tlp(analyses[i]), stored.get(i, CLEAR))
        if stored.get(i) != level:
            session.execute(update(DocumentRow).where(DocumentRow.id == i).values(tlp=level))
        if level != "clear" and analyses[i]["document"].get("tlp") != level:
            analyses[i] = {**analyses[i], "document": {**analyses[i]["document"], "tlp": level}}


def save_batch(store: Store, entries: Sequence[Entry]) -> int:
    """Store every entry's documents, analyses and findings, and mark its input committed, in one transaction.
    Returns the number of analyses written (a document two inputs share is analysed once per batch)."""
    if not entries:
        return 0
    now = datetime.now(UTC)
    documents: dict[str, dict[str, Any]] = {}
    analyses: dict[str, dict[str, Any]] = {}
    findings: dict[str, list[dict[str, Any]]] = {}
    links: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        for doc in entry.documents:
            documents.setdefault(doc.sha256, _document_row(doc, now))
        for analysis in entry.analyses:
            analyses[analysis["document"]["sha256"]] = analysis       # the later one wins, as in a rerun
        for row in entry.findings or []:
            findings.setdefault(row["document_id"], []).append(row)
        for analysis in entry.analyses:     # the later entry's rows (or none made yet) win with its analysis
            links.pop(analysis["document"]["sha256"], None)
            if entry.links is not None:
                links[analysis["document"]["sha256"]] = []
        if entry.links is not None:
            for row in entry.links:
                links[row["document_id"]].append(row)
    inputs: dict[str, dict[str, Any]] = {
        e.key: {"key": e.key, "source": e.source, "documents": [d.sha256 for d in e.documents], "committed_at": now}
        for e in entries}
    ids = sorted(analyses)
    # made before the transaction: the knowledge base they may need must not load while the writer holds the lock
    linked = [row for i in ids for row in (links[i] if i in links else link_rows(i, analyses[i]))]
    try:
        with Session(store.engine, expire_on_commit=False) as session, session.begin():
            _insert_missing(session, DocumentRow, list(documents.values()), "id")
            _mark(session, analyses, ids)
            for part in _chunks(ids):
                session.execute(delete(FindingRow).where(FindingRow.document_id.in_(part)))
                session.execute(delete(GroupLinkRow).where(GroupLinkRow.document_id.in_(part)))
                session.execute(delete(AnalysisRow).where(AnalysisRow.document_id.in_(part)))
            for part in _chunks(sorted(inputs)):
                session.execute(delete(BatchInputRow).where(BatchInputRow.key.in_(part)))
            # Core INSERTs with many rows each (executemany): the ORM's unit of work, one object per finding,
            # made the single writer the bottleneck (18 long reports/s on SQLite). Into the tables, not the mapped
            # classes: an ORM-enabled insert() goes through the ORM's bulk path, which sorted every row's keys
            # again (a third of the writer's CPU; the column names are the attribute names in these four tables)
            if ids:
                session.execute(insert(_table(AnalysisRow)), [
                    {"document_id": i, "schema_version": int(analyses[i].get("schema_version", 1)),
                     "title": analyses[i]["document"].get("title"),
                     "published": analyses[i]["document"].get("published"), "data": analyses[i],
                     "analysed_at": now, "tlp": analysis_tlp(analyses[i])} for i in ids])
                rows = [row for i in ids for row in (findings[i] if i in findings
                                                      else finding_values(i, analyses[i]))]
                if rows:
                    session.execute(insert(_table(FindingRow)), rows)
                if linked:
                    session.execute(insert(_table(GroupLinkRow)), linked)
            session.execute(insert(_table(BatchInputRow)), list(inputs.values()))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0] or exc.__class__.__name__
        raise StoreError(f"database error: {reason}", where=store.url) from None
    return len(ids)
