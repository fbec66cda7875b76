"""What store operations return and take: plain records, importable without SQLAlchemy (so the commands that
never open the store, such as ``threadline iocs``, start fast)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from threadline.model import Document


@dataclass(frozen=True, slots=True)
class SaveResult:
    """What happened to one document: ``stored`` is False when the same content was already in the store."""

    sha256: str
    stored: bool
    source: str
    title: str | None = None


@dataclass(frozen=True, slots=True)
class KnowledgeItem:
    """One object to import as knowledge: its id, type, display name, version stamp and JSON."""

    id: str
    type: str
    data: dict[str, Any]
    name: str | None = None
    modified: str | None = None


@dataclass(slots=True)
class ImportResult:
    """What an import of STIX or MISP knowledge did, object id by object id."""

    source: str
    source_document: str
    origin: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    by_type: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return len(self.added) + len(self.updated) + len(self.unchanged)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "source_document": self.source_document, "origin": self.origin,
                "added": len(self.added), "updated": len(self.updated), "unchanged": len(self.unchanged),
                "by_type": self.by_type}


@dataclass(slots=True)
class Entry:
    """One input of a batch, analysed, as :func:`threadline.store.batches.save_batch` stores it: what it was
    (``key``, ``source``), its documents and their analyses (as dicts, or ``prepared`` by a Dask worker: a
    ``scale.work.Result``'s ``entry()``)."""

    key: str
    source: str
    documents: list[Document] = field(default_factory=list)
    analyses: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] | None = None     # finding_values of the analyses, when a worker made them
    links: list[dict[str, Any]] | None = None        # link_rows of the analyses (group_links), when a worker made them
    # the analyses made ready for the writer (a Dask worker's results): stored instead of ``analyses``
    prepared: list[Prepared] | None = None


# The columns of a prepared finding's and group link's values, in this order (the tables' column names).
FINDING_COLUMNS = ("id", "document_id", "kind", "key", "label", "sentence", "start", "end", "page", "inferred")
LINK_COLUMNS = ("id", "document_id", "group_id", "kind", "key", "source")


@dataclass(slots=True)
class Prepared:
    """One analysis as the single writer inserts it, made by a Dask worker so that the writer only inserts: the
    analysis as the JSON text the store keeps (``json.dumps``, as the JSON column writes a dict), the values of its
    row, and its findings and group links as tuples of column values (:data:`FINDING_COLUMNS`,
    :data:`LINK_COLUMNS`). Pickled, a tuple and one string are a fraction of the dicts they stand for, and far
    quicker to load in the client; the client decodes the JSON only where it shows the analysis."""

    document_id: str
    schema_version: int
    title: str | None
    published: str | None
    source: str | None                   # the analysis's document.source (what a command line prints)
    marking: Any                         # the analysis's own document.tlp, as it is (the writer files it)
    data: str                            # the analysis, as JSON text
    findings: list[tuple[Any, ...]]
    links: list[tuple[Any, ...]]
