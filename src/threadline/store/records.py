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
    (``key``, ``source``), its documents and their analyses (a Dask worker's ``scale.work.Result`` is one)."""

    key: str
    source: str
    documents: list[Document] = field(default_factory=list)
    analyses: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] | None = None     # finding_values of the analyses, when a worker made them
    links: list[dict[str, Any]] | None = None        # link_rows of the analyses (group_links), when a worker made them
