"""Storing a batch of analysed inputs in one transaction, idempotently: the single writer of a distributed run
(:mod:`threadline.scale`) calls :func:`save_batch` every few dozen results.

Each input's documents, analyses, findings and its ``batch_inputs`` row are committed together or not at all, so a
run killed at any moment leaves whole inputs behind, and :func:`committed_keys` tells a rerun which to skip.
Storing twice changes nothing: a document is inserted only if absent (same content, same SHA-256), an analysis
replaces the one of its document (one per document: the primary key), an input's row is replaced.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Connection, Table, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from threadline.errors import StoreError
from threadline.model import Document
from threadline.store.analyses import analysis_tlp, finding_values, link_rows
from threadline.store.models import AnalysisRow, BatchInputRow, DocumentRow, FindingRow, GroupLinkRow
from threadline.store.records import FINDING_COLUMNS, LINK_COLUMNS, Prepared
from threadline.store.records import Entry as Entry  # defined without SQLAlchemy (Dask workers import it)
from threadline.store.repository import Store
from threadline.tlp import CLEAR, Level, normalise, stricter

if TYPE_CHECKING:
    from threadline.knowledge import KnowledgeBase

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


def _insert_missing(connection: Connection, table: Table, rows: list[dict[str, Any]], key: str) -> None:
    """Rows whose ``key`` is not in the table yet (a database without ON CONFLICT: look first)."""
    column = table.c[key]
    present = set(connection.scalars(select(column).where(column.in_([r[key] for r in rows]))))
    missing = [r for r in rows if r[key] not in present]
    if missing:
        connection.execute(insert(table), missing)


def _table(model: type[Any]) -> Table:
    """A mapped class's table: Core INSERTs into it skip the ORM's bulk path (see save_batch)."""
    table: Table = model.__table__
    return table


def prepare(analysis: dict[str, Any], findings: Iterable[dict[str, Any]] | None = None,
            links: Iterable[dict[str, Any]] | None = None, kb: KnowledgeBase | None = None) -> Prepared:
    """An analysis made ready for :func:`save_batch` (a Dask worker does this, away from the single writer):
    its JSON text and its rows' values. ``findings``/``links``: rows a caller made already (dicts), else made
    here (the links with ``kb``, default the active knowledge base, loaded only if the analysis claims a group)."""
    doc = analysis["document"]
    i = doc["sha256"]
    finding_row, link_row = itemgetter(*FINDING_COLUMNS), itemgetter(*LINK_COLUMNS)
    return Prepared(i, int(analysis.get("schema_version", 1)), doc.get("title"), doc.get("published"),
                    doc.get("source"), doc.get("tlp"), json.dumps(analysis),
                    [finding_row(r) for r in (finding_values(i, analysis) if findings is None else findings)],
                    [link_row(r) for r in (link_rows(i, analysis, kb) if links is None else links)])


def _mark(connection: Connection, prepared: dict[str, Prepared]) -> dict[str, Level]:
    """File each analysis under its TLP marking, as :func:`~threadline.store.analyses.save_analysis` does: the
    analysis's own (``--tlp``, front matter) or the stored document's, whichever is stricter (a marking only goes
    up); the document row and the analysis's ``document.tlp`` get it too. Without this every batch analysis was
    filed as TLP:CLEAR, whatever the report said. Returns each analysis's level."""
    stored: dict[str, Level] = {}
    for part in _chunks(sorted(prepared)):
        stored.update((i, normalise(t)) for i, t in connection.execute(
            select(DocumentRow.id, DocumentRow.tlp).where(DocumentRow.id.in_(part))))
    levels: dict[str, Level] = {}
    for i, p in prepared.items():
        level = levels[i] = stricter(analysis_tlp({"document": {"tlp": p.marking}}), stored.get(i, CLEAR))
        if stored.get(i) != level:
            connection.execute(update(DocumentRow).where(DocumentRow.id == i).values(tlp=level))
        if level != "clear" and p.marking != level:       # rare: the JSON text gets the stricter marking too
            analysis = json.loads(p.data)
            analysis["document"]["tlp"] = level
            prepared[i] = dataclasses.replace(p, marking=level, data=json.dumps(analysis))
    return levels


def _insert(connection: Connection, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]],
            conflict: str | None = None) -> None:
    """Many rows in one statement executed by the database driver itself (executemany), the values as they come:
    SQLAlchemy's Core insert compiles every row's parameters in Python (construct_params, type processors: a
    third of the single writer's CPU), and nothing here needs it (JSON columns arrive as the JSON text, booleans
    and strings bind as they are). ``conflict``: a key column whose existing rows are kept (ON CONFLICT ... DO
    NOTHING). SQLite and PostgreSQL; another database gets a Core insert of the same values."""
    if not rows:
        return
    dialect = connection.dialect
    json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
    if dialect.name not in ("sqlite", "postgresql"):
        decoded = [{c: json.loads(v) if c in json_columns and isinstance(v, str) else v
                    for c, v in zip(columns, row, strict=True)} for row in rows]
        if conflict is None:
            connection.execute(insert(table), decoded)
        else:
            _insert_missing(connection, table, decoded, conflict)
        return
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    quote = dialect.identifier_preparer.quote
    values = ", ".join(f"{mark}::JSON" if dialect.name == "postgresql" and c in json_columns else mark
                       for c in columns)
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) VALUES ({values})"
           + (f" ON CONFLICT ({quote(conflict)}) DO NOTHING" if conflict else ""))
    connection.exec_driver_sql(sql, rows)


def _bound(table: Table, column: str, value: Any, dialect: Any) -> Any:
    """``value`` as the column's type binds it (a time stamp on SQLite is a string of SQLAlchemy's format)."""
    processor = table.columns[column].type.dialect_impl(dialect).bind_processor(dialect)
    return processor(value) if processor is not None else value


def save_batch(store: Store, entries: Sequence[Entry]) -> int:
    """Store every entry's documents, analyses and findings, and mark its input committed, in one transaction.
    Returns the number of analyses written (a document two inputs share is analysed once per batch)."""
    if not entries:
        return 0
    now = datetime.now(UTC)
    documents: dict[str, Document] = {}
    prepared: dict[str, Prepared] = {}
    for entry in entries:
        for doc in entry.documents:
            documents.setdefault(doc.sha256, doc)
        if entry.prepared is not None:
            for p in entry.prepared:
                prepared[p.document_id] = p        # the later one wins, as in a rerun
            continue
        # made before the transaction: the knowledge base they may need must not load while the writer holds the
        # lock; an entry's rows (or none made yet) go with its analyses
        findings: dict[str, list[dict[str, Any]]] = {}
        links: dict[str, list[dict[str, Any]]] = {}
        for row in entry.findings or []:
            findings.setdefault(row["document_id"], []).append(row)
        for row in entry.links or []:
            links.setdefault(row["document_id"], []).append(row)
        for analysis in entry.analyses:
            i = analysis["document"]["sha256"]
            prepared[i] = prepare(analysis, findings.get(i, []) if entry.findings is not None else None,
                                  links.get(i, []) if entry.links is not None else None)
    inputs = {e.key: (e.key, e.source, json.dumps([d.sha256 for d in e.documents])) for e in entries}
    try:
        # a Core connection, not an ORM session: nothing here is an ORM object, and the session's own steps cost
        # ~1 ms of CPU per statement, ten statements per commit
        with store.engine.begin() as connection:
            dialect = connection.dialect
            documents_table, analyses_table = _table(DocumentRow), _table(AnalysisRow)
            ingested = _bound(documents_table, "ingested_at", now, dialect)
            _insert(connection, documents_table, _DOCUMENT_COLUMNS, [
                (d.sha256, d.source, d.media_type, d.title, d.published, d.author, d.site, d.text,
                 json.dumps([{"number": p.number, "start": p.start, "end": p.end} for p in d.pages]),
                 json.dumps(dict(d.metadata)), ingested, "clear") for d in documents.values()], conflict="id")
            levels = _mark(connection, prepared)
            ids = sorted(prepared)
            for part in _chunks(ids):
                connection.execute(delete(FindingRow).where(FindingRow.document_id.in_(part)))
                connection.execute(delete(GroupLinkRow).where(GroupLinkRow.document_id.in_(part)))
                connection.execute(delete(AnalysisRow).where(AnalysisRow.document_id.in_(part)))
            for part in _chunks(sorted(inputs)):
                connection.execute(delete(BatchInputRow).where(BatchInputRow.key.in_(part)))
            analysed = _bound(analyses_table, "analysed_at", now, dialect)
            rows = [prepared[i] for i in ids]
            _insert(connection, analyses_table, _ANALYSIS_COLUMNS, [
                (p.document_id, p.schema_version, p.title, p.published, p.data, analysed, levels[p.document_id])
                for p in rows])
            _insert(connection, _table(FindingRow), FINDING_COLUMNS, [f for p in rows for f in p.findings])
            _insert(connection, _table(GroupLinkRow), LINK_COLUMNS, [link for p in rows for link in p.links])
            inputs_table = _table(BatchInputRow)
            committed = _bound(inputs_table, "committed_at", now, dialect)
            _insert(connection, inputs_table, ("key", "source", "documents", "committed_at"),
                    [(*row, committed) for row in inputs.values()])
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0] or exc.__class__.__name__
        raise StoreError(f"database error: {reason}", where=store.url) from None
    return len(ids)


_DOCUMENT_COLUMNS = ("id", "source", "media_type", "title", "published", "author", "site", "text", "pages",
                     "metadata", "ingested_at", "tlp")
_ANALYSIS_COLUMNS = ("document_id", "schema_version", "title", "published", "data", "analysed_at", "tlp")
