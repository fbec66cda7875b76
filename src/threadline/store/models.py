"""SQLAlchemy 2 typed models of the store; the schema itself is created by the Alembic migrations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# PostgreSQL's full-text index of documents (migration 0004) and the searches that must use the same expression
# for the planner to pick the index. A tsvector holds at most 1 MB: the title and the first 200,000 characters.
PG_TSVECTOR = "to_tsvector('simple', left(coalesce(title, '') || ' ' || text, 200000))"


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
    tlp: Mapped[str] = mapped_column(String(20), default="clear")      # TLP 2.0 level, lower case

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
    # The marking every view, search, count, export and feed filters on (the analysis's document.tlp, else clear).
    tlp: Mapped[str] = mapped_column(String(20), default="clear")


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


class GroupLinkRow(Base):
    """One piece of evidence a stored analysis ties to the one ATT&CK group its claims name (attribute/known.py):
    written with the analysis, replaced with it, gone with it; `analyze` reads these rows, not the analyses."""

    __tablename__ = "group_links"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)     # uuid5 over document, group, kind, key
    document_id: Mapped[str] = mapped_column(String(64), ForeignKey("analyses.document_id", ondelete="CASCADE"))
    group_id: Mapped[str] = mapped_column(String(20))                 # ATT&CK G-id
    kind: Mapped[str] = mapped_column(String(20))                     # software | technique | country | sector
    key: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)                         # provenance shown to the analyst

    __table_args__ = (Index("ix_group_links_document_id", "document_id"),)


class BatchInputRow(Base):
    """One input of a distributed batch whose documents and analyses are committed (see threadline.scale)."""

    __tablename__ = "batch_inputs"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    documents: Mapped[list[str]] = mapped_column(JSON)
    committed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class UserRow(Base):
    """A web account: name, role (viewer, analyst, admin) and an argon2 hash of its password."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TokenRow(Base):
    """An API token of a user, stored as the SHA-256 of its (random, 256-bit) secret."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class JobRow(Base):
    """A report submitted on the web, analysed in the background: its state, progress and failure reason."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))          # queued, running, done, failed
    step: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    tlp: Mapped[str] = mapped_column(String(20))
    document_id: Mapped[str | None] = mapped_column(String(64))
    submitted_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    owner: Mapped[str | None] = mapped_column(String(100))      # the server process that queued it (migration 0007)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))   # its owner's last beat


class ReviewRow(Base):
    """An analyst's verdict on one extracted item: accept, reject or correct (``value`` is the correction)."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(String(64), ForeignKey("documents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(400))
    action: Mapped[str] = mapped_column(String(20))
    value: Mapped[str | None] = mapped_column(Text)
    reviewer: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_reviews_document_id", "document_id"),)
