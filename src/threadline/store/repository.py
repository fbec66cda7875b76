"""Repository functions over the store: every write is one transaction, so bad input leaves the store as it was."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from threadline.errors import InputError, NotFoundError, StoreError
from threadline.model import Document, Page
from threadline.store.models import DocumentRow, KnowledgeObjectRow
from threadline.store.records import ImportResult, KnowledgeItem, SaveResult

T = TypeVar("T")
_HEX = re.compile(r"[0-9a-f]+")


class _Conflict(Exception):
    """A row was inserted by someone else between our existence check and our insert."""


def _now() -> datetime:
    return datetime.now(UTC)


def _row_to_document(row: DocumentRow) -> Document:
    pages = [Page(number=int(p["number"]), start=int(p["start"]), end=int(p["end"])) for p in row.pages]
    return Document(text=row.text, source=row.source, media_type=row.media_type, title=row.title,
                    published=row.published, author=row.author, site=row.site, pages=pages,
                    metadata=dict(row.meta), sha256=row.id)


def _newer(candidate: str | None, current: str | None) -> bool:
    """STIX versioning: a later ``modified`` timestamp replaces the stored object (ISO strings sort by time)."""
    if candidate is None:
        return False
    return current is None or candidate > current


MIN_PREFIX = 7          # as git abbreviates; `analyze` and `ingest` show 12
_SHOWN_CANDIDATES = 5


def _distinct_prefixes(ids: Sequence[str]) -> list[str]:
    """The ids cut to the shortest length (at least 12) that still tells them apart."""
    length = 12
    while length < 64 and len({i[:length] for i in ids}) < len(ids):
        length += 4
    return [i[:length] for i in ids]


def by_id_or_prefix(session: Session, model: type[T], column: Any, ref: str) -> T | None:
    """A row by its SHA-256 key, or by a unique prefix of at least 7 hex digits (as git abbreviates).

    A prefix several rows share is a one-line :class:`InputError` that lists them, so the user can pick one.
    """
    key = ref.strip().lower()
    row = session.get(model, key)
    if row is None and MIN_PREFIX <= len(key) < 64 and _HEX.fullmatch(key):   # hex only: no LIKE wildcards
        ids = list(session.scalars(select(column).where(column.startswith(key)).order_by(column)
                                   .limit(_SHOWN_CANDIDATES + 1)))
        if len(ids) > 1:
            total = len(ids) if len(ids) <= _SHOWN_CANDIDATES else int(
                session.scalar(select(func.count()).select_from(model).where(column.startswith(key))) or 0)
            shown = ", ".join(_distinct_prefixes(ids[:_SHOWN_CANDIDATES]))
            more = f" and {total - _SHOWN_CANDIDATES} more" if total > _SHOWN_CANDIDATES else ""
            raise InputError(f"ambiguous id prefix: {total} stored ids start with it ({shown}{more}); "
                             "give more digits", where=ref)
        row = session.get(model, ids[0]) if ids else None
    return row


class Store:
    """The Threadline database: documents and imported knowledge (analyses and the rest come with later migrations)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self, *, conflicts: bool = False) -> Iterator[Session]:
        """One session, one transaction: committed on success, rolled back on any error.

        With ``conflicts``, a duplicate key (another process stored the same row meanwhile) is re-raised as
        :class:`_Conflict` so that the caller can look again.
        """
        try:
            with Session(self.engine, expire_on_commit=False) as session, session.begin():
                yield session
        except IntegrityError as exc:
            reason = str(exc.orig).splitlines()[0] if str(exc.orig) else exc.__class__.__name__
            if conflicts and any(word in reason.lower() for word in ("unique", "duplicate")):
                raise _Conflict from None
            raise StoreError(f"database error: {reason}", where=self.url) from None
        except SQLAlchemyError as exc:
            raise StoreError(f"database error: {exc.__class__.__name__}: {exc}".splitlines()[0],
                             where=self.url) from None

    # ---- documents ------------------------------------------------------------------------------------
    def save_document(self, document: Document) -> SaveResult:
        """Store one document; the same content (same SHA-256) a second time is a no-op that says so."""
        return self.save_documents([document])[0]

    def save_documents(self, documents: Sequence[Document]) -> list[SaveResult]:
        """Store several documents (e.g. the entries of one feed) all together or not at all."""
        try:
            return self._save_documents(documents)
        except _Conflict:   # another process stored one of them between our look and our write: look again
            try:
                return self._save_documents(documents)
            except _Conflict:
                raise StoreError("documents keep conflicting with concurrent writes", where=self.url) from None

    def _save_documents(self, documents: Sequence[Document]) -> list[SaveResult]:
        results: list[SaveResult] = []
        with self._transaction(conflicts=True) as session:
            seen: set[str] = set()
            for doc in documents:
                exists = doc.sha256 in seen or session.get(DocumentRow, doc.sha256) is not None
                results.append(SaveResult(doc.sha256, not exists, doc.source, doc.title))
                if exists:
                    continue
                seen.add(doc.sha256)
                session.add(DocumentRow(
                    id=doc.sha256, source=doc.source, media_type=doc.media_type, title=doc.title,
                    published=doc.published, author=doc.author, site=doc.site, text=doc.text,
                    pages=[{"number": p.number, "start": p.start, "end": p.end} for p in doc.pages],
                    meta=dict(doc.metadata), ingested_at=_now(), tlp=str(doc.metadata.get("tlp") or "clear")))
        return results

    def get_document(self, sha256: str) -> Document:
        """A stored document by its SHA-256 or a unique prefix of at least 7 hex digits."""
        with self._transaction() as session:
            row = by_id_or_prefix(session, DocumentRow, DocumentRow.id, sha256)
            if row is None:
                raise NotFoundError("no such document in the store", where=sha256)
            return _row_to_document(row)

    def list_documents(self, limit: int | None = None) -> list[Document]:
        """Stored documents, most recently ingested first."""
        with self._transaction() as session:
            query = select(DocumentRow).order_by(DocumentRow.ingested_at.desc(), DocumentRow.id)
            if limit is not None:
                query = query.limit(limit)
            return [_row_to_document(row) for row in session.scalars(query)]

    def count_documents(self) -> int:
        with self._transaction() as session:
            return int(session.scalar(select(func.count()).select_from(DocumentRow)) or 0)

    # ---- knowledge ------------------------------------------------------------------------------------
    def save_knowledge(self, items: Iterable[KnowledgeItem], *, origin: str, source: str,
                       source_document: str) -> ImportResult:
        """Import objects by id: new ones are added, newer versions replace older ones, the rest are unchanged."""
        result = ImportResult(source=source, source_document=source_document, origin=origin)
        counts: Counter[str] = Counter()
        with self._transaction() as session:
            for item in items:
                counts[item.type] += 1
                row = session.get(KnowledgeObjectRow, item.id)
                if row is None:
                    session.add(KnowledgeObjectRow(
                        id=item.id, type=item.type, name=item.name, origin=origin, modified=item.modified,
                        source=source, source_document=source_document, data=item.data, imported_at=_now()))
                    session.flush()   # a repeated id later in the same input then finds this row
                    result.added.append(item.id)
                elif _newer(item.modified, row.modified) or (item.modified is None and row.data != item.data):
                    row.type, row.name, row.modified, row.data = item.type, item.name, item.modified, item.data
                    row.origin, row.source, row.source_document = origin, source, source_document
                    row.imported_at = _now()
                    result.updated.append(item.id)
                else:
                    result.unchanged.append(item.id)
        result.by_type = dict(sorted(counts.items()))
        return result

    def get_knowledge(self, object_id: str) -> dict[str, Any]:
        """The JSON of one imported object."""
        with self._transaction() as session:
            row = session.get(KnowledgeObjectRow, object_id)
            if row is None:
                raise NotFoundError("no such knowledge object in the store", where=object_id)
            return dict(row.data)

    def knowledge_of_type(self, type_: str) -> list[dict[str, Any]]:
        """Every imported object of one type (``intrusion-set``, ``indicator``, ``misp-attribute``...)."""
        with self._transaction() as session:
            rows = session.scalars(select(KnowledgeObjectRow).where(KnowledgeObjectRow.type == type_)
                                   .order_by(KnowledgeObjectRow.id))
            return [dict(row.data) for row in rows]

    def knowledge_from(self, source_document: str) -> list[dict[str, Any]]:
        """Every object imported from one file (by the SHA-256 of its bytes), e.g. to rebuild a bundle."""
        with self._transaction() as session:
            rows = session.scalars(select(KnowledgeObjectRow)
                                   .where(KnowledgeObjectRow.source_document == source_document)
                                   .order_by(KnowledgeObjectRow.id))
            return [dict(row.data) for row in rows]

    def count_knowledge(self) -> int:
        with self._transaction() as session:
            return int(session.scalar(select(func.count()).select_from(KnowledgeObjectRow)) or 0)
