"""SQLAlchemy 2 typed models of the store; the schema itself is created by the Alembic migrations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base shared by every table (later migrations add analyses, indicators, techniques...)."""


class DocumentRow(Base):
    """One ingested document; its id is the SHA-256 of its normalised text, so the same content is stored once."""

    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    media_type: Mapped[str] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(Text)
    published: Mapped[str | None] = mapped_column(String(40))   # ISO 8601 as the source gave it
    author: Mapped[str | None] = mapped_column(Text)
    site: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    pages: Mapped[list[dict[str, int]]] = mapped_column(JSON)
    # ``metadata`` is reserved by SQLAlchemy's declarative API, so the attribute has another name.
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_documents_ingested_at", "ingested_at"),)


class KnowledgeObjectRow(Base):
    """A STIX object (or MISP item) imported as knowledge, keyed by its id, with the JSON it came with."""

    __tablename__ = "knowledge_objects"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(20))              # "stix" or "misp"
    modified: Mapped[str | None] = mapped_column(String(40))     # version stamp; a newer one replaces an older one
    source: Mapped[str] = mapped_column(Text)                    # path or URL it was imported from
    source_document: Mapped[str] = mapped_column(String(64))     # SHA-256 of the imported file's bytes
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_knowledge_objects_type", "type"),
        Index("ix_knowledge_objects_source_document", "source_document"),
    )


class AnalysisRow(Base):
    """The analysis of one document, as `threadline analyze --json` gives it; re-analysing replaces it."""

    __tablename__ = "analyses"

    document_id: Mapped[str] = mapped_column(String(64), ForeignKey("documents.id", ondelete="CASCADE"),
                                             primary_key=True)
    schema_version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(Text)
    published: Mapped[str | None] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    analysed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FindingRow(Base):
    """One thing an analysis found (actor, technique, indicator...), citing its document and sentence."""

    __tablename__ = "findings"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)     # uuid5 over document, kind, key, offset
    document_id: Mapped[str] = mapped_column(String(64), ForeignKey("analyses.document_id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(400))
    label: Mapped[str | None] = mapped_column(Text)
    sentence: Mapped[str | None] = mapped_column(Text)
    start: Mapped[int | None] = mapped_column(Integer)
    end: Mapped[int | None] = mapped_column(Integer)
    page: Mapped[int | None] = mapped_column(Integer)
    inferred: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (Index("ix_findings_kind_key", "kind", "key"), Index("ix_findings_document_id", "document_id"))


class BatchInputRow(Base):
    """One input of a distributed batch whose documents and analyses are committed (see threadline.scale)."""

    __tablename__ = "batch_inputs"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    documents: Mapped[list[str]] = mapped_column(JSON)
    committed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
