"""The one entry point: read a source, recognise its format from its content, hand it to the right reader."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from threadline.errors import InputError
from threadline.ingest.dating import date_document
from threadline.ingest.misp import misp_items
from threadline.ingest.source import BAD_JSON, BINARY, FEED, HTML, JSON, MISP, PDF, STIX, Raw, read_source, sniff
from threadline.ingest.stix import load_json, stix_items
from threadline.ingest.text import text_document
from threadline.limits import stage
from threadline.model import Document
from threadline.store.records import ImportResult, SaveResult
from threadline.tlp import normalise, parse_option, stricter

if TYPE_CHECKING:
    from threadline.store import Store  # the store module loads SQLAlchemy: only where a store is used


@dataclass(slots=True)
class Outcome:
    """What ingesting one source into the store did: documents saved, or knowledge imported."""

    source: str
    kind: str                                   # pdf, html, feed, text, stix, misp
    saved: list[SaveResult] = field(default_factory=list)
    imported: ImportResult | None = None
    documents: list[Document] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "kind": self.kind}
        if self.imported is not None:
            out["imported"] = self.imported.to_dict()
        else:
            by_sha = {d.sha256: d for d in self.documents}
            out["documents"] = [_summary(saved, by_sha[saved.sha256]) for saved in self.saved]
        return out


def _summary(saved: SaveResult, doc: Document) -> dict[str, Any]:
    out: dict[str, Any] = {
        "sha256": saved.sha256, "status": "stored" if saved.stored else "already stored", "source": saved.source,
        "title": doc.title, "media_type": doc.media_type, "chars": len(doc.text), "pages": len(doc.pages),
        "published": doc.published, "date_basis": doc.date_basis}
    if "warning" in doc.metadata:
        out["warning"] = doc.metadata["warning"]
    return out


def _charset(content_type: str) -> str | None:
    """The ``charset=`` parameter of an HTTP Content-Type, if any."""
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


def _knowledge_refusal(kind: str, where: str) -> InputError:
    name = "a STIX bundle" if kind == STIX else "a MISP event"
    return InputError(f"{name} is imported as knowledge, not read as a document "
                      f"(use import_{kind}() or `threadline ingest`)", where=where)


def documents_from(raw: Raw, kind: str | None = None, *, now: datetime | None = None) -> list[Document]:
    """Documents from bytes already read; ``kind`` as returned by :func:`sniff`. Each gets its date and its basis
    (see :mod:`threadline.ingest.dating`); ``now``, the ingest time, defaults to the clock (tests pass one).
    Reading is a stage of its own, bounded in time and memory (see :mod:`threadline.limits`)."""
    kind = kind or sniff(raw)
    with stage(f"read {kind}", raw.source):
        docs = _read(raw, kind)
    if raw.url is not None:
        for doc in docs:
            if kind != FEED:
                doc.source = raw.source
            doc.metadata.setdefault("url", raw.url)
            if raw.content_type:
                doc.metadata.setdefault("content_type", raw.content_type)
    when = now or datetime.now(UTC)
    for doc in docs:
        date_document(doc, when)
    return docs


def _read(raw: Raw, kind: str) -> list[Document]:
    """The reader of one kind of input over the raw bytes."""
    # The PDF, HTML and feed readers (pypdf, trafilatura, feedparser) are imported in their branches: together
    # they are half a second of start-up that a command reading a text file should not pay.
    where = raw.source
    charset = _charset(raw.content_type)
    if kind == PDF:
        from threadline.ingest.pdf import pdf_document
        return [pdf_document(raw.data, where)]
    if kind == HTML:
        from threadline.ingest.html import html_document
        return [html_document(raw.data, raw.url or where, charset=charset)]
    if kind == FEED:
        from threadline.ingest.feed import feed_documents
        return feed_documents(raw.data, where, content_type=raw.content_type)
    if kind in (STIX, MISP):
        raise _knowledge_refusal(kind, where)
    if kind == BAD_JSON:
        load_json(raw.data, where)   # raises the parser's one-line reason
        raise InputError("not valid JSON", where=where)
    if kind == JSON:
        raise InputError("JSON that is neither a STIX bundle nor a MISP event", where=where)
    if kind == BINARY:
        raise InputError("binary data, not a report (not text, PDF, HTML, a feed, STIX or MISP)", where=where)
    media_type = "text/markdown" if "markdown" in raw.content_type.lower() else None
    return [text_document(raw.data, where, media_type=media_type, charset=charset)]


def ingest(source: str, *, allow_private: bool = False, now: datetime | None = None) -> list[Document]:
    """Documents from a path, ``-`` or URL: text/Markdown, HTML, PDF or an RSS/Atom feed (one per entry).

    STIX bundles and MISP events are knowledge, not documents: they raise an InputError that says so;
    use :func:`import_stix` / :func:`import_misp` or :func:`ingest_into`.
    """
    return documents_from(read_source(source, allow_private=allow_private), now=now)


def mark_tlp(docs: list[Document], tlp: str | None) -> None:
    """Give documents the TLP level asked for (``--tlp``, a web submission); a stricter marking the report's own
    front matter carries is kept, so that a default of clear never lowers a report that says TLP:AMBER."""
    if tlp is None:
        return
    asked = parse_option(tlp)
    for doc in docs:
        own = doc.metadata.get("tlp")
        level = asked if own is None or own == "" else stricter(asked, normalise(own))
        if level != own:
            doc.metadata["tlp"] = level


def ingest_into(store: Store, source: str, *, allow_private: bool = False, now: datetime | None = None,
                tlp: str | None = None) -> Outcome:
    """Ingest one source into the store: documents are saved, STIX/MISP imported; nothing is written on error.

    ``tlp`` (a normalised TLP 2.0 level) marks the documents; see :func:`mark_tlp`."""
    from threadline.ingest.taxii import collection_bundle, is_taxii

    if is_taxii(source):
        bundle, data = collection_bundle(source, allow_private=allow_private)
        result = store.save_knowledge(stix_items(bundle, source), origin=STIX, source=source,
                                      source_document=hashlib.sha256(data).hexdigest())
        return Outcome(source=source, kind=STIX, imported=result)
    raw = read_source(source, allow_private=allow_private)
    kind = sniff(raw)
    if kind in (STIX, MISP):
        with stage(f"read {kind}", raw.source):
            obj = load_json(raw.data, raw.source)
            items = stix_items(obj, raw.source) if kind == STIX else misp_items(obj, raw.source)
        result = store.save_knowledge(items, origin=kind, source=raw.source,
                                      source_document=hashlib.sha256(raw.data).hexdigest())
        return Outcome(source=source, kind=kind, imported=result)
    docs = documents_from(raw, kind, now=now)
    mark_tlp(docs, tlp)
    return Outcome(source=source, kind=kind, saved=store.save_documents(docs),
                   documents=docs)
